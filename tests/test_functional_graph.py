"""The Functional API as a graph: branches, merges, shared layers, several inputs and outputs;
and the parity regressions the fuzz found (each script runs through real Keras and real torch)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from translator import translate_source
from translator.parity.check import ParityOptions, run_parity
from translator.parity.report import render_text

CASES = sorted((Path(__file__).resolve().parent / "parity_regressions").glob("*.py"))


@pytest.mark.parametrize("script", CASES, ids=lambda p: p.stem)
def test_regression_passes_parity(script: Path) -> None:
    result = translate_source(script.read_text(), filename=str(script))
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    outcome = run_parity(script, result.code, result.models, ParityOptions())
    assert outcome.verdict.status == "pass", render_text(outcome, str(script))


def test_branches_and_shared_layer_read_like_the_graph() -> None:
    code = translate_source((CASES[0].parent / "functional_branches.py").read_text()).code
    assert "a_cl = a.permute(0, 2, 3, 1)" in code  # merged in Keras' channel order
    assert "left = self.dense(flatten)" in code and "right = self.dense(dense_1)" in code  # shared
    assert "concatenate = self.concatenate(left, right, multiply)" in code
    assert code.count("self.dense = ") == 1


MULTI = textwrap.dedent("""\
    import numpy as np
    from keras import Input, layers, models

    np.random.seed(0)
    text = Input(shape=(5,), name="text")
    meta = Input(shape=(3,), name="meta")
    t = layers.Dense(6, activation="relu")(text)
    m = layers.Dense(6, activation="relu")(meta)
    h = layers.concatenate([t, m])
    age = layers.Dense(1, name="age")(h)
    kind = layers.Dense(3, activation="softmax", name="kind")(h)
    model = models.Model([text, meta], [age, kind])
    model.compile(optimizer="sgd", loss={"age": "mse", "kind": "categorical_crossentropy"},
                  loss_weights={"age": 0.5, "kind": 1.0})
    xa, xb = np.random.rand(40, 5), np.random.rand(40, 3)
    ya, yk = np.random.rand(40, 1), np.eye(3)[np.random.randint(0, 3, 40)]
    history = model.fit({"text": xa, "meta": xb}, [ya, yk], epochs=2, batch_size=8, verbose=0,
                        validation_split=0.25)
    print("KEYS", sorted(history.history))
    print("EVAL", len(model.evaluate([xa, xb], {"age": ya, "kind": yk}, verbose=0)))
    p = model.predict([xa, xb], verbose=0)
    print("PRED", [a.shape for a in p])
""")


def _run(source: str, tmp_path: Path, name: str) -> list[str]:
    path = tmp_path / name
    path.write_text(source)
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return [line for line in done.stdout.splitlines() if line.startswith(("KEYS", "EVAL", "PRED"))]


def test_several_inputs_and_outputs_train_and_log_as_keras(tmp_path: Path) -> None:
    result = translate_source(MULTI)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "def forward(self, text, meta):" in result.code
    assert "output_names = ('age', 'kind')" in result.code
    assert "OutputLosses({'age': mean_squared_error, 'kind': categorical_crossentropy_probs}" in result.code
    ours = _run(result.code, tmp_path, "torch_side.py")
    theirs = _run(MULTI, tmp_path, "keras_side.py")
    assert ours == theirs and len(ours) == 3


def test_graph_failures_stay_marked() -> None:
    src = textwrap.dedent("""\
        import keras
        from keras import layers
        a = keras.Input(shape=(4,))
        b = keras.Input(shape=(4,))
        out = layers.Dense(2)(layers.add([a, b]))
        model = keras.Model(a, out)  # b is used but not listed
        """)
    result = translate_source(src)
    assert result.todos >= 1
    assert any("does not list" in d.message for d in result.diagnostics)


def test_dot_layers_keep_keras_axes_and_shapes() -> None:
    src = textwrap.dedent("""\
        import keras
        from keras import layers
        seq = keras.Input(shape=(6, 4))
        scores = layers.Dot(axes=2)([seq, seq])
        vec = layers.Flatten()(scores)
        cos = layers.dot([vec, vec], axes=-1, normalize=True)
        model = keras.Model(seq, layers.Dense(1)(layers.concatenate([cos, vec])))
        model.summary()
        """)
    result = translate_source(src)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "self.dot = KerasDot(2)" in result.code
    assert "self.dot_1 = KerasDot(-1, normalize=True)" in result.code
    assert "nn.Linear(37, 1)" in result.code  # (6, 6) scores flattened to 36, the cosine adds 1
    bad = translate_source(src.replace("layers.Dot(axes=2)", "layers.Dot(axes=2, unknown=1)"))
    assert any("Dot(unknown=...) is not supported" in d.message for d in bad.diagnostics)


def test_dot_module_matches_keras_batch_dot() -> None:
    import keras
    import numpy as np
    import torch

    from translator.templates.torch_support_graph import KerasDot

    rng = np.random.default_rng(0)
    cases = [((4, 5), (4, 5), 1), ((4, 3, 5), (4, 7, 5), 2), ((4, 3, 5), (4, 5, 2), (2, 1)),
             ((4, 3, 5), (4, 3, 2), (1, 1)), ((4, 5), (4, 7, 5), (1, 2)), ((4, 3, 5), (4, 3, 5), -1)]
    for shape_x, shape_y, axes in cases:
        x = rng.standard_normal(shape_x).astype("float32")
        y = rng.standard_normal(shape_y).astype("float32")
        for normalize in (False, True):
            expected = np.asarray(keras.layers.Dot(axes=axes, normalize=normalize)([x, y]))
            ours = KerasDot(axes, normalize)(torch.from_numpy(x), torch.from_numpy(y)).numpy()
            assert ours.shape == expected.shape, (shape_x, shape_y, axes)
            np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)


def test_branches_are_named_and_read_in_the_order_the_script_makes_them() -> None:
    """Keras names layers as they are made (embedding, then embedding_1); the forward pass lists
    independent branches in that order too, not in the order a walk back from the output finds."""
    src = textwrap.dedent("""\
        import keras
        from keras import layers
        enc_in = keras.Input(shape=(None,))
        enc = layers.Embedding(50, 8, mask_zero=True)(enc_in)
        _, h, c = layers.LSTM(8, return_state=True)(enc)
        dec_in = keras.Input(shape=(None,))
        dec_layer = layers.Embedding(60, 8)
        dec = dec_layer(dec_in)
        seq = layers.LSTM(8, return_sequences=True)(dec, initial_state=[h, c])
        model = keras.Model([enc_in, dec_in], layers.Dense(60)(seq))
        """)
    result = translate_source(src)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "self.embedding = KerasEmbedding(50, 8)" in result.code
    assert "self.embedding_1 = KerasEmbedding(60, 8)" in result.code
    forward = result.code[result.code.index("    def forward"):]
    assert forward.index("self.embedding(enc_in)") < forward.index("self.embedding_1(dec_in)")
    # the mask reaches the LSTM in a graph too: reported once, at the LSTM it changes
    masks = [d for d in result.diagnostics if d.rule == "mask-zero"]
    assert len(masks) == 1 and masks[0].line == 5 and "embedding(mask_zero=True)" in masks[0].message
