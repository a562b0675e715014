"""Recurrent, wrapper and extra layers: diagnostics, refusals, initializers and support modules
checked against the installed Keras and torch."""

from __future__ import annotations

import numpy as np
import pytest

from translator import translate_source


def _model(*layers: str, input_shape: str = "(10, 8)") -> str:
    body = ",\n    ".join(layers)
    return ("from tensorflow import keras\nfrom tensorflow.keras import layers\n"
            f"model = keras.Sequential([\n    keras.Input(shape={input_shape}),\n    {body},\n])\n")


def _rules(result) -> list[tuple[str, str]]:
    return [(d.severity, d.rule) for d in result.diagnostics]


def test_mask_zero_is_reported_where_a_later_layer_reads_the_mask() -> None:
    warned = translate_source(_model("layers.Embedding(50, 8, mask_zero=True)", "layers.LSTM(4)",
                                     input_shape="(12,)"))
    assert ("warning", "mask-zero") in _rules(warned) and warned.todos == 0
    quiet = translate_source(_model("layers.Embedding(50, 8, mask_zero=True)", "layers.Flatten()",
                                    input_shape="(12,)"))
    assert ("warning", "mask-zero") not in _rules(quiet)


def test_recurrent_dropout_is_a_warning_and_dropout_a_shared_mask() -> None:
    result = translate_source(_model("layers.GRU(4, dropout=0.25, recurrent_dropout=0.5)"))
    assert ("warning", "recurrent-dropout") in _rules(result) and result.todos == 0
    assert "nn.Sequential(TimeSharedDropout(0.25), KerasGRU(8, 4))" in result.code


@pytest.mark.parametrize(("layer", "reason"), [
    ("layers.LSTM(4, return_state=True)", "return_state"),
    ("layers.LSTM(4, activation=lambda x: x)", "only a Keras activation"),
    ("layers.Bidirectional(layers.LSTM(4), merge_mode=None)", "merge_mode"),
    ("layers.Normalization()", "adapt"),
    ("layers.Conv2DTranspose(4, 3, output_padding=1)", "output_padding"),
])
def test_untranslatable_uses_leave_the_model_in_keras(layer: str, reason: str) -> None:
    shape = "(6, 6, 3)" if "Conv2D" in layer else "(10, 8)"
    result = translate_source(_model(layer, input_shape=shape))
    assert result.todos == 1 and not result.models
    assert reason in result.diagnostics[0].message


def test_embedding_without_an_input_shape_still_feeds_an_rnn() -> None:
    src = ("import keras\nmodel = keras.Sequential([keras.layers.Embedding(100, 16, input_length=20), "
           "keras.layers.LSTM(8), keras.layers.Dense(1)])\n")
    for code in (src, src.replace(", input_length=20", "")):
        result = translate_source(code)
        assert result.todos == 0, [d.render() for d in result.diagnostics]
        assert "KerasLSTM(16, 8)" in result.code and "nn.Linear(8, 1)" in result.code


def test_explicit_initializers_become_keras_initializer_calls() -> None:
    result = translate_source(_model(
        "layers.Dense(16, kernel_initializer='he_normal', bias_initializer=keras.initializers.Constant(0.1))",
        "layers.GRU(3, recurrent_initializer=keras.initializers.Orthogonal(gain=2.0, seed=3))",
        input_shape="(5, 8)"))
    code = result.code
    assert "keras_initializer(self.dense.weight, 'he_normal')" in code
    assert "keras_initializer(self.dense.bias, 'constant', value=0.1)" in code
    assert "keras_initializer(self.gru.weight_hh_l0, 'orthogonal', gain=2.0)" in code
    assert "def keras_initializer(" in code and result.todos == 0
    # a depthwise kernel is reshaped for torch: its fans differ, so the note stays
    depthwise = translate_source(_model("layers.DepthwiseConv2D(3, depthwise_initializer='he_uniform')",
                                        input_shape="(6, 6, 3)"))
    assert _rules(depthwise) == [("note", "initializer")] and depthwise.todos == 0


def test_a_layer_on_the_wrong_rank_is_refused_not_crashed() -> None:
    result = translate_source(_model("layers.LSTM(3)", "layers.DepthwiseConv2D(3)"))
    assert result.todos == 1 and "DepthwiseConv2D" in result.diagnostics[0].message


@pytest.mark.parametrize(("name", "keras_class", "shape"), [
    ("glorot_uniform", "GlorotUniform", (64, 96)), ("glorot_normal", "GlorotNormal", (64, 96)),
    ("he_uniform", "HeUniform", (64, 96)), ("he_normal", "HeNormal", (64, 96)),
    ("lecun_uniform", "LecunUniform", (64, 96)), ("lecun_normal", "LecunNormal", (3, 3, 16, 32)),
    ("orthogonal", "Orthogonal", (64, 96)), ("random_normal", "RandomNormal", (64, 96)),
    ("random_uniform", "RandomUniform", (64, 96)), ("truncated_normal", "TruncatedNormal", (64, 96)),
])
def test_keras_initializer_draws_keras_distribution(name, keras_class, shape) -> None:
    keras = pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    from translator.templates.torch_support import keras_initializer

    k = np.asarray(getattr(keras.initializers, keras_class)(seed=0)(shape))
    torch.manual_seed(0)
    # the torch weight of a Keras (in, out) kernel is (out, in); of (kh, kw, in, out), (out, in, kh, kw)
    t_shape = (shape[1], shape[0]) if len(shape) == 2 else (shape[3], shape[2], shape[0], shape[1])
    t = keras_initializer(torch.empty(t_shape), name).numpy()
    assert abs(t.std() / k.std() - 1) < 0.05, (t.std(), k.std())
    assert abs(np.abs(t).max() / np.abs(k).max() - 1) < 0.1


@pytest.mark.parametrize("shape", [(16, 16), (8, 32)])
def test_identity_initializer_is_keras_eye_transposed(shape) -> None:
    keras = pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    from translator.templates.torch_support import keras_initializer

    k = np.asarray(keras.initializers.Identity(gain=0.5)(shape))
    t = keras_initializer(torch.empty(shape[::-1]), "identity", gain=0.5).numpy()
    np.testing.assert_array_equal(t, k.T)


def test_support_rnn_keeps_one_bias_and_keras_initial_weights() -> None:
    torch = pytest.importorskip("torch")
    from translator.templates.torch_support import KerasGRU, KerasLSTM

    lstm = KerasLSTM(3, 4, bidirectional=True)
    assert sorted(lstm.state_dict()) == ["bias_ih_l0", "bias_ih_l0_reverse", "weight_hh_l0",
                                         "weight_hh_l0_reverse", "weight_ih_l0", "weight_ih_l0_reverse"]
    assert lstm.bias_ih_l0[4:8].tolist() == [1.0] * 4  # Keras' unit_forget_bias
    assert lstm(torch.zeros(2, 5, 3)).shape == (2, 8)
    gru = KerasGRU(3, 4, return_sequences=True, bidirectional=True, merge_mode="ave")
    assert gru(torch.zeros(2, 5, 3)).shape == (2, 5, 4)
    assert {n for n, _ in gru.named_parameters()} >= {"bias_ih_l0", "bias_hh_l0"}  # reset_after


def test_weight_steps_reorder_gates_pick_rows_and_reshape() -> None:
    from translator.parity.recipes import WeightLink, apply_steps
    from translator.rules import RuleError, weight_ops

    bias = np.arange(12.0).reshape(2, 6)  # GRU: [input row, recurrent row], gates z, r, h
    steps = weight_ops({"gates": [1, 0, 2], "row": 1})
    assert steps == (("row", 1), ("gates", (1, 0, 2)))  # the row is taken first, whatever the order
    assert apply_steps(bias, steps).tolist() == [8.0, 9.0, 6.0, 7.0, 10.0, 11.0]
    kernel = np.arange(2 * 3 * 3 * 2.0).reshape(2, 3, 3, 2)  # depthwise (kh, kw, in, multiplier)
    link = WeightLink(0, 0, "kernel", "d/kernel", "d.weight", (3, 2, 0, 1), (("reshape", (2, 3, 1, -1)),))
    torch_weight = link.to_torch(kernel)
    assert torch_weight.shape == (6, 1, 2, 3)
    assert torch_weight[3, 0].tolist() == kernel[:, :, 1, 1].tolist()  # channel 1, multiplier 1
    with pytest.raises(RuleError):
        weight_ops({"transpose": [1, 0]})
