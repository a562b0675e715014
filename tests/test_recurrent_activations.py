"""LSTM, GRU and SimpleRNN with any Keras activation: the step-by-step modules
(templates/torch_support_recurrent.py) they translate to, checked against the installed Keras,
and parity of translated models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from translator import translate_source
from translator.hooks import STEP_ACTIVATIONS

RUNNER = Path(__file__).with_name("run_script.py")


def _model(*layers: str, input_shape: str = "(10, 8)") -> str:
    body = ",\n    ".join(layers)
    return ("import keras\nfrom keras import layers\nimport tensorflow as tf\n"
            f"model = keras.Sequential([\n    keras.Input(shape={input_shape}),\n    {body},\n])\n")


def _modules(code: str) -> list[str]:
    model = code[code.index("class Model(nn.Module)"):]
    return [line.strip().split(" = ", 1)[1] for line in model.splitlines()
            if line.startswith("        self.") and " = " in line]


# --- translation -------------------------------------------------------------------------------

@pytest.mark.parametrize(("layer", "module"), [
    ("layers.LSTM(16, activation='relu')", "KerasLSTMSteps(8, 16, activation='relu')"),
    ("layers.LSTM(4, activation='relu', recurrent_activation='hard_sigmoid', return_sequences=True)",
     "KerasLSTMSteps(8, 4, activation='relu', recurrent_activation='hard_sigmoid', return_sequences=True)"),
    ("layers.GRU(4, recurrent_activation='hard_sigmoid')",
     "KerasGRUSteps(8, 4, recurrent_activation='hard_sigmoid')"),
    ("layers.GRU(4, activation='relu', reset_after=False)", "KerasGRUSteps(8, 4, activation='relu', reset_after=False)"),
    ("layers.GRU(4, activation='selu', use_bias=False)", "KerasGRUSteps(8, 4, activation='selu', bias=False)"),
    ("layers.SimpleRNN(4, activation='sigmoid')", "KerasSimpleRNNSteps(8, 4, activation='sigmoid')"),
    ("layers.SimpleRNN(4, activation=None)", "KerasSimpleRNNSteps(8, 4, activation='linear')"),
    ("layers.SimpleRNN(4, activation='linear', return_sequences=True)",
     "KerasSimpleRNNSteps(8, 4, activation='linear', return_sequences=True)"),
    # an activation given as a function, from Keras or from TensorFlow
    ("layers.LSTM(4, activation=keras.activations.relu)", "KerasLSTMSteps(8, 4, activation='relu')"),
    ("layers.LSTM(4, activation=tf.nn.relu, recurrent_activation=tf.keras.activations.hard_sigmoid)",
     "KerasLSTMSteps(8, 4, activation='relu', recurrent_activation='hard_sigmoid')"),
    ("layers.SimpleRNN(4, activation=tf.math.exp)", "KerasSimpleRNNSteps(8, 4, activation='exponential')"),
    # what the fused RNNs lack even with the default activations
    ("layers.LSTM(4, go_backwards=True)", "KerasLSTMSteps(8, 4, go_backwards=True)"),
    ("layers.LSTM(4, unit_forget_bias=False)", "KerasLSTMSteps(8, 4, unit_forget_bias=False)"),
    ("layers.GRU(4, reset_after=False, use_bias=False)", "KerasGRUSteps(8, 4, bias=False, reset_after=False)"),
    # Keras' input and recurrent dropout live inside the module
    ("layers.GRU(4, activation='relu', dropout=0.25, recurrent_dropout=0.5)",
     "KerasGRUSteps(8, 4, activation='relu', dropout=0.25, recurrent_dropout=0.5)"),
    ("layers.Bidirectional(layers.LSTM(4, activation='relu'))",
     "KerasBidirectionalSteps(KerasLSTMSteps(8, 4, activation='relu'))"),
    ("layers.Bidirectional(layers.GRU(4, activation='relu', return_sequences=True), merge_mode='mul')",
     "KerasBidirectionalSteps(KerasGRUSteps(8, 4, activation='relu', return_sequences=True), merge_mode='mul')"),
    ("layers.Bidirectional(layers.GRU(4, reset_after=False))",
     "KerasBidirectionalSteps(KerasGRUSteps(8, 4, reset_after=False))"),
])
def test_activations_fused_rnns_lack_become_step_modules(layer: str, module: str) -> None:
    result = translate_source(_model(layer))
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert _modules(result.code) == [module]
    assert "class KerasRecurrentSteps(nn.Module):" in result.code
    assert "recurrent-dropout" not in {d.rule for d in result.diagnostics}


@pytest.mark.parametrize(("layer", "module"), [
    ("layers.LSTM(4)", "KerasLSTM(8, 4)"),
    ("layers.LSTM(4, activation='tanh', recurrent_activation='sigmoid')", "KerasLSTM(8, 4)"),
    ("layers.LSTM(4, activation=keras.activations.tanh)", "KerasLSTM(8, 4)"),
    ("layers.GRU(4, return_sequences=True)", "KerasGRU(8, 4, return_sequences=True)"),
    ("layers.GRU(4, reset_after=False)", "KerasGRUResetBefore(8, 4)"),
    ("layers.SimpleRNN(4, activation='relu')", "KerasSimpleRNN(8, 4, nonlinearity='relu')"),
    ("layers.Bidirectional(layers.LSTM(4))", "KerasLSTM(8, 4, bidirectional=True)"),
])
def test_default_activations_keep_the_fused_torch_rnns(layer: str, module: str) -> None:
    result = translate_source(_model(layer))
    assert result.todos == 0 and _modules(result.code) == [module]
    assert "KerasRecurrentSteps" not in result.code


@pytest.mark.parametrize(("layer", "reason"), [
    ("layers.LSTM(4, activation=lambda x: x)", "only a Keras activation"),
    ("layers.LSTM(4, activation=my_activation)", "only a Keras activation"),
    ("layers.GRU(4, recurrent_activation='no_such')", "recurrent_activation='no_such') is not an activation"),
    ("layers.SimpleRNN(4, activation=3)", "activation=3) is not an activation"),
    ("layers.LSTM(4, activation='relu', return_state=True)", "return_state"),
    ("layers.GRU(4, activation='relu', stateful=True)", "stateful"),
    ("layers.LSTM(4, activation='relu', kernel_constraint='max_norm')", "kernel_constraint"),
])
def test_what_still_cannot_be_translated_is_refused(layer: str, reason: str) -> None:
    result = translate_source(_model(layer))
    assert result.todos == 1 and not result.models
    assert reason in result.diagnostics[0].message, result.diagnostics[0].message


def test_weight_recipes_keep_keras_layout_and_names() -> None:
    result = translate_source(_model("layers.LSTM(4, activation='relu', return_sequences=True)",
                                     "layers.GRU(3, activation='relu', use_bias=False, return_sequences=True)",
                                     "layers.Bidirectional(layers.SimpleRNN(2, activation='sigmoid'))"))
    lstm, gru, bidi = result.models[0].layers
    assert [w[:3] for w in lstm.weights] == [("kernel", "kernel", None), ("recurrent_kernel", "recurrent_kernel", None),
                                             ("bias", "bias", None)]
    assert [w[1] for w in gru.weights] == ["kernel", "recurrent_kernel"]
    assert [w[1] for w in bidi.weights] == [
        "forward_layer.kernel", "forward_layer.recurrent_kernel", "forward_layer.bias",
        "backward_layer.kernel", "backward_layer.recurrent_kernel", "backward_layer.bias"]
    assert all(w[2] is None and not w[3] for layer in (lstm, gru, bidi) for w in layer.weights)


def test_a_fan_dependent_initializer_is_noted() -> None:
    result = translate_source(_model("layers.LSTM(4, activation='relu', kernel_initializer='he_normal')"))
    assert result.todos == 0
    assert [d.rule for d in result.diagnostics] == ["initializer"]


def test_every_activation_the_hook_accepts_the_module_computes() -> None:
    pytest.importorskip("torch")
    from translator.templates.torch_support_recurrent import KERAS_STEP_ACTIVATIONS

    assert set(KERAS_STEP_ACTIVATIONS) == STEP_ACTIVATIONS


# --- the support modules -----------------------------------------------------------------------

def test_step_modules_start_from_keras_initial_weights() -> None:
    torch = pytest.importorskip("torch")
    from translator.templates.torch_support_recurrent import (
        KerasBidirectionalSteps,
        KerasGRUSteps,
        KerasLSTMSteps,
        KerasSimpleRNNSteps,
    )

    lstm = KerasLSTMSteps(3, 4, activation="relu")
    assert lstm.kernel.shape == (3, 16) and lstm.recurrent_kernel.shape == (4, 16) and lstm.bias.shape == (16,)
    assert lstm.bias.tolist() == [0.0] * 4 + [1.0] * 4 + [0.0] * 8  # unit_forget_bias
    assert not KerasLSTMSteps(3, 4, unit_forget_bias=False).bias.any()
    eye = lstm.recurrent_kernel @ lstm.recurrent_kernel.T  # orthogonal rows, as Keras' Orthogonal
    assert torch.allclose(eye, torch.eye(4), atol=1e-5)
    limit = (6 / (3 + 16)) ** 0.5  # glorot_uniform
    assert lstm.kernel.abs().max() <= limit
    assert KerasGRUSteps(3, 4).bias.shape == (2, 12)
    assert KerasGRUSteps(3, 4, reset_after=False).bias.shape == (12,)
    assert KerasGRUSteps(3, 4, bias=False).bias is None
    assert KerasSimpleRNNSteps(3, 4).kernel.shape == (3, 4)
    assert sorted(dict(KerasGRUSteps(3, 4, bias=False).named_parameters())) == ["kernel", "recurrent_kernel"]
    bidi = KerasBidirectionalSteps(KerasLSTMSteps(3, 4, activation="relu", return_sequences=True), "ave")
    assert bidi.backward_layer.go_backwards and not bidi.forward_layer.go_backwards
    assert not torch.equal(bidi.forward_layer.kernel, bidi.backward_layer.kernel)  # drawn afresh
    assert bidi(torch.zeros(2, 5, 3)).shape == (2, 5, 4)
    with pytest.raises(ValueError, match="unknown Keras activation"):
        KerasSimpleRNNSteps(3, 4, activation="nope")


def test_dropout_masks_are_drawn_once_per_batch_and_shared_by_every_step() -> None:
    torch = pytest.importorskip("torch")
    from translator.templates.torch_support_recurrent import KerasSimpleRNNSteps

    torch.manual_seed(0)
    rnn = KerasSimpleRNNSteps(6, 6, activation="linear", return_sequences=True, dropout=0.5)
    with torch.no_grad():
        rnn.kernel.copy_(torch.eye(6))
        rnn.recurrent_kernel.zero_()
    x = torch.rand(4, 5, 6) + 1
    out = rnn(x)
    kept = out != 0
    assert kept.any() and not kept.all()
    assert (kept == kept[:, :1]).all()  # the same features dropped at every step
    assert torch.allclose(out[kept], 2 * x[kept])  # scaled by 1 / (1 - rate)
    rnn.eval()
    assert torch.equal(rnn(x), x)


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def _compare(keras_layer, torch_layer, x: np.ndarray, rng) -> float:
    import torch

    keras_layer.build((None, *x.shape[1:]))
    keras_layer.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.3
                             for w in keras_layer.get_weights()])
    pairs = ([(torch_layer, keras_layer)] if not hasattr(torch_layer, "forward_layer") else
             [(torch_layer.forward_layer, keras_layer.forward_layer),
              (torch_layer.backward_layer, keras_layer.backward_layer)])
    with torch.no_grad():
        for module, layer in pairs:
            for weight in layer.weights:  # Keras' names and layout, copied unchanged
                getattr(module, weight.name).copy_(torch.from_numpy(np.asarray(weight)))
    want = np.asarray(keras_layer(x))
    got = torch_layer(torch.from_numpy(x)).detach().numpy()
    assert got.shape == want.shape
    return float(np.max(np.abs(got - want) / (1 + np.abs(want))))  # relative where values are large


BOUNDED = sorted(STEP_ACTIVATIONS - {"exponential"})  # exp overflows inside an RNN's loop


@pytest.mark.parametrize("name", BOUNDED)
def test_every_activation_matches_keras(keras, name: str) -> None:
    from translator.templates.torch_support_recurrent import (
        KerasGRUSteps,
        KerasLSTMSteps,
        KerasSimpleRNNSteps,
    )

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 6, 4)).astype("float32")
    layers = keras.layers
    cases = [
        (layers.LSTM(5, activation=name, return_sequences=True), KerasLSTMSteps(4, 5, activation=name, return_sequences=True)),
        (layers.LSTM(5, recurrent_activation=name), KerasLSTMSteps(4, 5, recurrent_activation=name)),
        (layers.GRU(5, activation=name, recurrent_activation="hard_sigmoid", return_sequences=True),
         KerasGRUSteps(4, 5, activation=name, recurrent_activation="hard_sigmoid", return_sequences=True)),
        (layers.GRU(5, recurrent_activation=name), KerasGRUSteps(4, 5, recurrent_activation=name)),
        (layers.GRU(5, activation=name, reset_after=False), KerasGRUSteps(4, 5, activation=name, reset_after=False)),
        (layers.SimpleRNN(5, activation=name, return_sequences=True),
         KerasSimpleRNNSteps(4, 5, activation=name, return_sequences=True)),
    ]
    for keras_layer, torch_layer in cases:
        assert _compare(keras_layer, torch_layer, x, rng) < 2e-5, (name, keras_layer)


def test_every_form_matches_keras(keras) -> None:
    from translator.templates.torch_support_recurrent import (
        KerasBidirectionalSteps,
        KerasGRUSteps,
        KerasLSTMSteps,
        KerasSimpleRNNSteps,
    )

    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 4)).astype("float32")
    layers = keras.layers
    cases = [
        (layers.LSTM(5, activation="relu", go_backwards=True, return_sequences=True),
         KerasLSTMSteps(4, 5, activation="relu", go_backwards=True, return_sequences=True)),
        (layers.LSTM(5, activation="relu", use_bias=False), KerasLSTMSteps(4, 5, activation="relu", bias=False)),
        (layers.GRU(5, recurrent_activation="hard_sigmoid", use_bias=False),
         KerasGRUSteps(4, 5, recurrent_activation="hard_sigmoid", bias=False)),
        (layers.GRU(5, activation="relu", reset_after=False, use_bias=False, go_backwards=True),
         KerasGRUSteps(4, 5, activation="relu", reset_after=False, bias=False, go_backwards=True)),
        (layers.SimpleRNN(5, activation="sigmoid", use_bias=False), KerasSimpleRNNSteps(4, 5, activation="sigmoid", bias=False)),
        # recurrent dropout makes Keras compute each gate apart; at inference nothing is dropped
        (layers.LSTM(5, activation="relu", dropout=0.3, recurrent_dropout=0.3),
         KerasLSTMSteps(4, 5, activation="relu", dropout=0.3, recurrent_dropout=0.3).eval()),
    ]
    for mode in ("concat", "sum", "mul", "ave"):
        for sequences in (False, True):
            cases.append((layers.Bidirectional(layers.GRU(3, activation="relu", return_sequences=sequences),
                                               merge_mode=mode),
                          KerasBidirectionalSteps(KerasGRUSteps(4, 3, activation="relu", return_sequences=sequences),
                                                  mode)))
    cases.append((layers.Bidirectional(layers.LSTM(3, activation="elu", return_sequences=True)),
                  KerasBidirectionalSteps(KerasLSTMSteps(4, 3, activation="elu", return_sequences=True))))
    for keras_layer, torch_layer in cases:
        assert _compare(keras_layer, torch_layer, x, rng) < 2e-5, keras_layer


def test_recurrent_dropout_with_masks_all_ones_is_the_plain_step() -> None:
    torch = pytest.importorskip("torch")
    from translator.templates.torch_support_recurrent import (
        KerasGRUSteps,
        KerasLSTMSteps,
        KerasSimpleRNNSteps,
    )

    x = torch.randn(3, 6, 4)
    for rnn in (KerasLSTMSteps(4, 5, activation="relu"), KerasGRUSteps(4, 5, recurrent_activation="hard_sigmoid"),
                KerasGRUSteps(4, 5, reset_after=False), KerasSimpleRNNSteps(4, 5, activation="sigmoid")):
        ones = [torch.ones(3, 5)] * rnn.gates
        z = rnn.project(x)[:, 0]
        plain, _ = rnn.step(z, rnn.initial_state(x), None)
        masked, _ = rnn.step(z, rnn.initial_state(x), ones)
        assert torch.allclose(plain, masked, atol=1e-6)


# --- the translated script, run --------------------------------------------------------------

SCRIPT = """\
import keras
import numpy as np
from keras import layers

np.random.seed(0)
x = np.random.randn(64, 8, 3).astype("float32")
y = (x.sum(axis=(1, 2)) > 0).astype("float32")
model = keras.Sequential([
    keras.Input(shape=(8, 3)),
    layers.LSTM(8, activation="relu", return_sequences=True),
    layers.GRU(6, recurrent_activation="hard_sigmoid", return_sequences=True, recurrent_dropout=0.1),
    layers.Bidirectional(layers.GRU(4, activation="relu", reset_after=False, return_sequences=True)),
    layers.SimpleRNN(4, activation="sigmoid"),
    layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
"""


def test_translated_script_runs_and_learns(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    result = translate_source(SCRIPT)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    for framework in ("keras", "tensorflow", "translator"):
        assert f"import {framework}" not in result.code and f"from {framework}" not in result.code
    script = tmp_path / "script_torch.py"
    script.write_text(result.code)
    proc = subprocess.run([sys.executable, str(RUNNER), str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (losses,) = json.loads(proc.stdout.strip().splitlines()[-1])["histories"]
    assert len(losses) == 3 and all(np.isfinite(losses)) and losses[-1] < losses[0]


# --- parity ------------------------------------------------------------------------------------

FUNCTIONAL = """\
import keras
import numpy as np
from keras import layers

np.random.seed(0)
keras.utils.set_random_seed(0)
x = np.random.randn(32, 6, 3).astype("float32")
y = np.random.randn(32, 2).astype("float32")
inputs = keras.Input(shape=(6, 3))
h = layers.LSTM(5, activation="relu", return_sequences=True)(inputs)
h = layers.Bidirectional(layers.GRU(4, recurrent_activation="hard_sigmoid", return_sequences=True),
                         merge_mode="sum")(h)
h = layers.GRU(4, activation="relu", reset_after=False, return_sequences=True)(h)
h = layers.SimpleRNN(3, activation="sigmoid")(h)
outputs = layers.Dense(2)(h)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, epochs=1, batch_size=8, verbose=0)
"""


def test_functional_model_passes_parity(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from translator.parity.check import ParityOptions, run_parity
    from translator.parity.report import render_text

    source = tmp_path / "rnn_activations_keras.py"
    source.write_text(FUNCTIONAL)
    result = translate_source(FUNCTIONAL, filename=str(source))
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    outcome = run_parity(source, result.code, result.models, ParityOptions())
    assert outcome.verdict.status == "pass", render_text(outcome, str(source))
    assert outcome.rows and all(row.status == "ok" for row in outcome.rows)
