"""Control flow around model building: loops unrolled, helper functions inlined, models used as
layers and sub-models that share layers; and run-time control flow reported, never translated
wrong. (The parity cases for these live in parity_regressions/.)"""

from __future__ import annotations

import runpy
import textwrap
from pathlib import Path

import numpy as np
import pytest

from translator import translate_source

HEAD = """\
import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers
"""
REGRESSIONS = Path(__file__).resolve().parent / "parity_regressions"


def translate(body: str):
    return translate_source(HEAD + textwrap.dedent(body), filename="script.py")


def run(code: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    path = folder / "translated.py"
    path.write_text(code)
    monkeypatch.chdir(folder)
    return runpy.run_path(str(path), run_name="__main__")


def rules_of(result) -> list[str]:
    return [d.rule for d in result.diagnostics]


def test_sequential_loop_over_literals_is_unrolled() -> None:
    result = translate("""
        model = keras.Sequential([layers.Input((4,))])
        for units in [16, 8]:
            model.add(layers.Dense(units, activation='relu'))
        model.add(layers.Dense(1))
    """)
    assert result.todos == 0, rules_of(result)
    assert "nn.Linear(4, 16)" in result.code and "nn.Linear(16, 8)" in result.code
    assert "nn.Linear(8, 1)" in result.code
    assert "for units" not in result.code  # the loop only built the model


def test_functional_loop_over_range_makes_one_layer_per_iteration() -> None:
    result = translate("""
        inp = keras.Input(shape=(8,))
        x = inp
        for _ in range(3):
            x = layers.Dense(8, activation='relu')(x)
        model = keras.Model(inp, layers.Dense(1)(x))
    """)
    assert result.todos == 0, rules_of(result)
    assert result.code.count("nn.Linear(8, 8)") == 3
    assert "x = inp" not in result.code and "for _ in" not in result.code


def test_loop_with_other_statements_keeps_them() -> None:
    result = translate("""
        model = keras.Sequential([layers.Input((4,))])
        for units in (6, 5):
            model.add(layers.Dense(units))
            print('added', units)
        model.compile(loss='mse', optimizer='sgd')
    """)
    assert result.todos == 0, rules_of(result)
    assert "nn.Linear(4, 6)" in result.code and "nn.Linear(6, 5)" in result.code
    assert "for units in (6, 5):\n    print('added', units)" in result.code  # the loop's own work stays


def test_loop_that_updates_a_layer_argument_is_reported() -> None:
    result = translate("""
        filters = 8
        inp = keras.Input((8, 8, 3))
        x = inp
        for _ in range(2):
            x = layers.Conv2D(filters, 3)(x)
            filters = filters * 2
        model = keras.Model(inp, x)
    """)
    assert result.todos >= 1
    assert "a loop that does more than build the model" in " ".join(d.message for d in result.diagnostics)


@pytest.mark.parametrize("body, reason", [
    ("""
        def build(n_layers):
            model = keras.Sequential([layers.Input((4,))])
            for _ in range(n_layers):
                model.add(layers.Dense(8))
            return model
        model = build(3)
     """, "loop whose iterations are known only at run time"),
    ("""
        def build(dropout):
            model = keras.Sequential([layers.Input((4,)), layers.Dense(8)])
            if dropout:
                model.add(layers.Dropout(0.5))
            return model
        model = build(True)
     """, "condition known only at run time"),
    ("""
        inp = keras.Input((4,))
        x = inp
        n = 0
        while n < 2:
            x = layers.Dense(4)(x)
            n += 1
        model = keras.Model(inp, x)
     """, "`while` loop"),
    ("""
        def build(deep):
            inp = keras.Input((4,))
            x = layers.Dense(4)(inp)
            if deep:
                x = layers.Dense(4)(x)
            return keras.Model(inp, x)
        model = build(True)
     """, "condition known only at run time"),
])
def test_run_time_control_flow_is_reported_not_guessed(body: str, reason: str) -> None:
    result = translate(body)
    assert result.todos >= 1
    messages = " ".join(d.message for d in result.diagnostics)
    assert reason in messages, messages
    assert "import keras" in result.code or "from tensorflow import keras" in result.code  # left in Keras


def test_helper_function_is_inlined_and_removed() -> None:
    source = (REGRESSIONS / "graph_helper_functions.py").read_text()
    result = translate_source(source, filename="graph_helper_functions.py")
    assert result.todos == 0, rules_of(result)
    assert "def residual_block" not in result.code  # every call was inlined
    assert result.code.count("nn.Conv2d(8, 8, kernel_size=3, padding='same')") == 4  # 2 calls x 2
    assert result.code.count("Merge('add')") == 2 and "Merge('concatenate', axis=-1)" in result.code
    assert "import keras" not in result.code and "from tensorflow" not in result.code


def test_helper_function_used_elsewhere_is_kept() -> None:
    result = translate("""
        def block(x, units):
            y = layers.Dense(units)(x)
            return layers.Activation('relu')(y)

        inp = keras.Input((4,))
        out = block(inp, 3)
        model = keras.Model(inp, out)
        other = block
    """)
    assert "def block" in result.code  # still referenced: kept (and marked, it calls Keras)
    assert result.todos >= 1


def test_keras2_tensor_functions_become_graph_nodes() -> None:
    result = translate("""
        from keras import backend as K
        inp = keras.Input((6,))
        a = layers.Dense(4)(inp)
        b = layers.Dense(4)(inp)
        c = tf.concat([tf.nn.relu(a), K.sigmoid(b)], axis=-1)
        x = a * b - K.tanh(a)
        model = keras.Model(inp, [c, x])
    """)
    assert result.todos == 0, rules_of(result)
    for part in ("nn.ReLU()", "nn.Sigmoid()", "nn.Tanh()", "Merge('concatenate', axis=-1)",
                 "Merge('multiply')", "Merge('subtract')"):
        assert part in result.code, part


def test_model_called_as_a_layer_shares_its_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = translate("""
        encoder = keras.Sequential([layers.Dense(4, activation='relu', input_shape=(8,))])
        inp = keras.Input((8,))
        out = layers.Dense(8)(encoder(inp))
        auto = keras.Model(inp, out)
        auto.compile(loss='mse', optimizer='adam')
        x = np.random.rand(16, 8).astype('float32')
        auto.fit(x, x, epochs=2, verbose=0)
    """)
    assert result.todos == 0, rules_of(result)
    ns = run(result.code, tmp_path, monkeypatch)
    assert ns["auto"].encoder is ns["encoder"]


def test_sub_models_share_the_trained_layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = (REGRESSIONS / "shared_submodels.py").read_text()
    result = translate_source(source, filename="shared_submodels.py")
    assert result.todos == 0, rules_of(result)
    ns = run(result.code, tmp_path, monkeypatch)
    auto, encoder, decoder = ns["autoencoder"], ns["encoder"], ns["decoder"]
    assert encoder.dense is auto.dense  # the same module: training the autoencoder trains both
    x = ns["x"]
    whole = ns["predict"](auto, x, verbose=0)
    halves = ns["predict"](decoder, ns["predict"](encoder, x, verbose=0), verbose=0)
    np.testing.assert_allclose(halves, whole, rtol=1e-5, atol=1e-6)
    assert whole.min() >= 0 and whole.max() <= 1  # the decoder applies the sigmoid its owner folded


# -- metrics of a model with several outputs, and layers no model uses ---------------------------
TWO_OUTPUTS = """\
import numpy as np
import keras
from keras import layers

keras.utils.set_random_seed(0)
inp = keras.Input((3,))
h = layers.Dense(4, activation='relu')(inp)
unused = layers.Dense(5)(h)
a = layers.Dense(1)(h)
b = layers.Dense(1, activation='sigmoid')(h)
model = keras.Model(inp, [a, b])
model.compile(loss=['mse', 'binary_crossentropy'], optimizer='sgd', metrics=METRICS)
rng = np.random.default_rng(0)
x = rng.random((16, 3)).astype('float32')
y1 = rng.random((16, 1)).astype('float32')
y2 = (rng.random((16, 1)) > 0.5).astype('float32')
history = model.fit(x, [y1, y2], epochs=2, batch_size=4, shuffle=False, verbose=0)
"""


@pytest.mark.parametrize("metrics", ["['mae', 'acc']", "[['mae'], ['acc', 'mse']]", "{'dense_3': 'acc'}"])
def test_output_metrics_log_as_keras_does(metrics: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = TWO_OUTPUTS.replace("METRICS", metrics)
    result = translate_source(source, filename="two_outputs.py")
    assert result.todos == 0, rules_of(result)
    assert ("note", "dead-layer") in [(d.severity, d.rule) for d in result.diagnostics]
    import keras

    keras.backend.clear_session()  # automatic layer names start again, as in a fresh script
    keras_ns = run(source, tmp_path, monkeypatch)
    torch_ns = run(result.code, tmp_path, monkeypatch)
    want, got = keras_ns["history"].history, torch_ns["history"].history
    assert sorted(got) == sorted(want)  # dense_2 (unused) still takes its name: a is dense_3
    for key in want:  # same start (weights differ: only keys and finite values are comparable here)
        assert len(got[key]) == 2 and all(np.isfinite(got[key]))
