"""Recurrent layers' return_state and initial_state in functional graphs (the seq2seq pattern):
translation, refusals, and the sequence losses such models train with, checked against Keras.
Parity of these models: tests/parity_layers/recurrent_states.py and fixtures/seq2seq_lstm."""

from __future__ import annotations

import numpy as np
import pytest

from translator import translate_source

HEAD = "import keras\nfrom keras import layers\n"


def _forward(code: str, cls: str = "Model") -> str:
    body = code[code.index(f"class {cls}(nn.Module)"):]
    body = body[body.index("    def forward"):]
    end = body.find("\n\n\n")
    return body if end < 0 else body[:end]


def test_states_are_unpacked_and_passed_on() -> None:
    src = HEAD + (
        "inp = keras.Input((5, 3))\n"
        "seq, h, c = layers.LSTM(4, return_sequences=True, return_state=True)(inp)\n"
        "states = [h, c]\n"
        "out = layers.LSTM(4)(seq, initial_state=states)\n"
        "out = layers.Dense(2)(out)\n"
        "model = keras.Model(inp, out)\n")
    result = translate_source(src)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    forward = _forward(result.code)
    assert "seq, h, c = self.lstm(inp)" in forward
    assert "self.lstm_1(seq, h, c)" in forward
    assert "KerasLSTM(3, 4, return_state=True, return_sequences=True)" in result.code
    assert "states = [h, c]" not in result.code  # the list of graph tensors lives in forward now


def test_unused_outputs_become_underscores_and_sub_models_share_the_layer() -> None:
    src = HEAD + (
        "enc_in = keras.Input((None, 3))\n"
        "_, state_h, state_c = layers.GRU(4, return_state=True, activation='relu')(enc_in)\n"
        "encoder_states = [state_h]\n"
        "dec_in = keras.Input((None, 2))\n"
        "dec_seq, _ = layers.GRU(4, return_sequences=True, return_state=True)(dec_in, initial_state=encoder_states)\n"
        "model = keras.Model([enc_in, dec_in], layers.Dense(1)(dec_seq))\n"
        "encoder = keras.Model(enc_in, encoder_states)\n")
    result = translate_source(src)
    # a GRU returns [output, h]: unpacking three names is refused, with its position
    assert result.todos >= 1
    assert any("returns 2 tensors here; the script unpacks 3" in d.message for d in result.diagnostics)
    fixed = src.replace("_, state_h, state_c = ", "_, state_h = ")
    result = translate_source(fixed)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "_, state_h = self.gru(enc_in)" in _forward(result.code)
    assert "dec_seq, _ = self.gru_1(dec_in, state_h)" in _forward(result.code)
    encoder = _forward(result.code, "EncoderModel")
    assert "return state_h" in encoder
    assert "self.gru = model.gru" in result.code  # the encoder holds the trained model's module


@pytest.mark.parametrize("layer", ["layers.LSTM(4, return_state=True)",
                                   "layers.Bidirectional(layers.GRU(4, return_state=True))"])
def test_return_state_in_a_sequential_model_is_marked(layer: str) -> None:
    src = HEAD + f"model = keras.Sequential([keras.Input((5, 3)), {layer}, layers.Dense(1)])\n"
    result = translate_source(src)
    assert result.todos >= 1
    assert any("return_state=True" in d.message for d in result.diagnostics)


def test_bidirectional_states_follow_keras_order() -> None:
    src = HEAD + (
        "inp = keras.Input((6, 3))\n"
        "out, fh, fc, bh, bc = layers.Bidirectional(layers.LSTM(4, return_state=True))(inp)\n"
        "h = layers.concatenate([fh, bh])\n"
        "model = keras.Model(inp, layers.Dense(1)(layers.concatenate([out, h])))\n")
    result = translate_source(src)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "out, fh, _, bh, _ = self.bidirectional(inp)" in _forward(result.code)


def test_states_run_through_the_support_modules() -> None:
    """The emitted modules take initial states and hand back Keras' list: fused and step by step,
    one direction and two, against the step-by-step reference computed here."""
    import torch

    from translator.templates.torch_support import KerasLSTM
    from translator.templates.torch_support_recurrent import (
        KerasBidirectionalSteps,
        KerasGRUSteps,
        KerasLSTMSteps,
    )

    torch.manual_seed(0)
    x = torch.randn(2, 5, 3)
    h0, c0 = torch.randn(2, 4), torch.randn(2, 4)
    fused = KerasLSTM(3, 4, return_state=True)
    steps = KerasLSTMSteps(3, 4, return_state=True)
    with torch.no_grad():  # the same weights in the two layouts (torch gates i, f, g, o = Keras')
        steps.kernel.copy_(fused.weight_ih_l0.T)
        steps.recurrent_kernel.copy_(fused.weight_hh_l0.T)
        steps.bias.copy_(fused.bias_ih_l0)
    y1, h1, c1 = fused(x, h0, c0)
    y2, h2, c2 = steps(x, h0, c0)
    for a, b in ((y1, y2), (h1, h2), (c1, c2)):
        assert torch.allclose(a, b, atol=1e-6)
    assert torch.equal(y1, h1)  # the last output is the final state
    assert not torch.allclose(fused(x)[0], y1)  # the initial state changed the result
    both = KerasLSTM(3, 4, return_state=True, bidirectional=True)
    out, fh, _, bh, _ = both(x, h0, c0, c0, h0)
    assert out.shape == (2, 8) and fh.shape == bh.shape == (2, 4)
    assert torch.allclose(out, torch.cat([fh, bh], -1))
    gru = KerasBidirectionalSteps(KerasGRUSteps(3, 4, return_state=True))
    out, fh, bh = gru(x, h0, c0)
    assert torch.allclose(out, torch.cat([fh, bh], -1))


@pytest.mark.parametrize("sparse", [False, True])
def test_sequence_losses_match_keras(sparse: bool) -> None:
    """(batch, time, classes) outputs: classes on the last axis, the mean over batch and time."""
    import keras
    import torch

    from translator.templates import torch_support

    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 6, 5)).astype("float32")
    labels = rng.integers(0, 5, (4, 6))
    y = labels if sparse else np.eye(5, dtype="float32")[labels]
    fn = torch_support.sparse_categorical_crossentropy if sparse else torch_support.categorical_crossentropy
    ours = float(fn(torch.from_numpy(logits), torch.from_numpy(y)))
    loss = (keras.losses.SparseCategoricalCrossentropy if sparse else keras.losses.CategoricalCrossentropy)(
        from_logits=True)
    assert ours == pytest.approx(float(loss(y, logits)), rel=1e-5)
