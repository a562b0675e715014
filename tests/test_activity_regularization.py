"""Activity regularization: the ActivityRegularization layer and any layer's activity_regularizer
become KerasActivityRegularization modules whose penalty the loss adds (parity:
tests/parity_layers/activity_regularization.py)."""

from __future__ import annotations

import pytest

from translator import translate_source

HEAD = "import keras\nfrom keras import layers, regularizers\n"


def _translate(layers_src: str, loss: str = "'mse'"):
    src = HEAD + f"model = keras.Sequential([keras.Input((4,)), {layers_src}])\n" \
        f"model.compile(loss={loss}, optimizer='sgd')\n"
    return translate_source(src)


def test_the_regularizer_follows_the_activation_and_joins_the_loss() -> None:
    result = _translate("layers.Dense(3, activation='relu', activity_regularizer=regularizers.l2(0.01)), "
                        "layers.ActivityRegularization(l1=0.1), layers.Dense(1)")
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    code = result.code
    assert "self.dense = nn.Sequential(nn.Linear(4, 3), nn.ReLU(inplace=True), KerasActivityRegularization(l2=0.01))" in code
    assert "self.activity_regularization = KerasActivityRegularization(l1=0.1)" in code
    assert "return self.dense[2].penalty + self.activity_regularization.penalty" in code
    assert "model.loss_fn = with_regularization(model, mean_squared_error)" in code


@pytest.mark.parametrize(("regularizer", "module"), [
    ("'l1'", "KerasActivityRegularization(l1=0.01)"),
    ("regularizers.L1L2(l1=0.001, l2=0.02)", "KerasActivityRegularization(l1=0.001, l2=0.02)"),
    ("regularizers.l1_l2(l2=0.5)", "KerasActivityRegularization(l2=0.5)"),
])
def test_regularizer_forms(regularizer: str, module: str) -> None:
    result = _translate(f"layers.Dense(3, activity_regularizer={regularizer}), layers.Dense(1)")
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert f"nn.Sequential(nn.Linear(4, 3), {module})" in result.code


def test_on_a_folded_output_layer_it_is_marked_not_mistranslated() -> None:
    # the softmax goes into the loss, so the module would see logits where Keras regularizes
    # probabilities: refused with its position
    result = _translate("layers.Dense(3, activation='softmax', activity_regularizer='l2')",
                        loss="'categorical_crossentropy'")
    assert result.todos >= 1
    assert any("activity_regularizer" in d.message for d in result.diagnostics)


def test_an_unknown_regularizer_is_marked() -> None:
    result = _translate("layers.Dense(3, activity_regularizer=my_penalty), layers.Dense(1)")
    assert result.todos >= 1
    assert any("regularizer `my_penalty` has no rule" in d.message for d in result.diagnostics)


def test_the_module_passes_values_and_keeps_keras_penalty() -> None:
    import torch

    from translator.templates.torch_support import KerasActivityRegularization

    x = torch.tensor([[1.0, -2.0], [3.0, 0.5]])
    module = KerasActivityRegularization(l1=0.1, l2=0.01)
    assert torch.equal(module(x), x)
    expected = (0.1 * x.abs().sum() + 0.01 * x.square().sum()) / 2  # divided by the batch size
    assert float(module.penalty) == pytest.approx(float(expected))
