"""Stateful RNNs: `stateful=True` carries each batch's final states to the next batch, and Keras 2's
`model.reset_states()` starts them again; parity compares several training steps for them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from translator import translate_source
from translator.parity.check import ParityOptions, run_parity
from translator.templates.torch_support import KerasGRU, KerasLSTM, reset_states

CASE = Path(__file__).resolve().parent / "parity_layers" / "stateful_rnn.py"

KERAS2 = """\
import numpy as np
from keras.models import Sequential
from keras.layers import Dense, LSTM

X = np.random.rand(32, 5, 1)
y = np.random.rand(32, 1)
model = Sequential()
model.add(LSTM(4, batch_input_shape=(8, 5, 1), stateful=True))
model.add(Dense(1))
model.compile(loss='mean_squared_error', optimizer='adam')
for i in range(3):
    model.fit(X, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    model.reset_states()
"""


def test_keras2_stateful_script_translates() -> None:
    result = translate_source(KERAS2)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "self.lstm = KerasLSTM(1, 4, stateful=True)" in result.code
    assert "    reset_states(model)\n" in result.code


@pytest.mark.parametrize("layer", ["layers.Bidirectional(layers.LSTM(4, stateful=True))",
                                   "layers.LSTM(4, stateful=True, activation='relu')"])
def test_stateful_beyond_the_fused_layers_is_refused(layer: str) -> None:
    src = (f"import keras\nfrom keras import layers\nmodel = keras.Sequential([keras.Input(batch_shape=(2, 5, 3)), "
           f"{layer}, layers.Dense(1)])\n")
    result = translate_source(src)
    assert result.todos == 1 and "stateful=True" in result.diagnostics[0].message


def test_states_carry_over_until_reset() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(KerasLSTM(3, 4, stateful=True, return_sequences=True), KerasGRU(4, 2, stateful=True))
    x = torch.randn(2, 6, 3)
    first, second = model(x), model(x)
    assert not torch.allclose(first, second)  # the second batch starts from the first one's states
    whole = torch.nn.Sequential(KerasLSTM(3, 4, return_sequences=True), KerasGRU(4, 2))
    whole.load_state_dict(model.state_dict())
    # two batches of a stateful layer are one sequence twice as long
    assert torch.allclose(second, whole(torch.cat([x, x], dim=1)), atol=1e-6)
    reset_states(model)
    assert torch.allclose(model(x), first)


def test_parity_catches_states_not_carried() -> None:
    """The translation without stateful=True matches one step from zero states, not three."""
    result = translate_source(CASE.read_text(), filename=str(CASE))
    planted = result.code.replace(", stateful=True", "")
    assert planted != result.code
    outcome = run_parity(CASE, planted, result.models, ParityOptions())
    assert outcome.verdict.status == "fail"
    assert "training does not" in outcome.verdict.message
