"""fit(class_weight=..., sample_weight=...): Keras' per-sample weights and weighted loss."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest
import torch

from translator import translate_source
from translator.templates import torch_support as ts

keras = pytest.importorskip("keras")
from keras.src.trainers.data_adapters.data_adapter_utils import class_weight_to_sample_weights


@pytest.mark.parametrize("y", [
    np.array([0, 1, 1, 3, 2]),
    np.array([[0.0], [1.0], [1.0], [0.0], [1.0]]),
    np.eye(4)[[0, 3, 1, 1, 2]],
])
def test_class_weights_become_keras_sample_weights(y: np.ndarray) -> None:
    class_weight = {0: 0.5, 1: 2.0, 3: 4.0}
    want = class_weight_to_sample_weights(y, class_weight)
    got = ts.sample_weights(ts.targets(y), class_weight=class_weight)
    np.testing.assert_allclose(got.numpy(), want)


@pytest.mark.parametrize(("keras_loss", "ours", "labels"), [
    ("BinaryCrossentropy", "binary_crossentropy_probs", "binary"),
    ("CategoricalCrossentropy", "categorical_crossentropy_probs", "onehot"),
    ("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy_probs", "sparse"),
    ("MeanSquaredError", "mean_squared_error", "values"),
])
def test_weighted_loss_is_keras_loss_with_sample_weight(keras_loss: str, ours: str, labels: str) -> None:
    rng = np.random.default_rng(0)
    n = 7
    if labels == "binary":
        y_pred, y = rng.uniform(0.05, 0.95, (n, 1)), rng.integers(0, 2, (n, 1)).astype("float32")
    elif labels in ("onehot", "sparse"):
        y_pred = rng.dirichlet(np.ones(3), n)
        y = rng.integers(0, 3, n)
        y = np.eye(3)[y].astype("float32") if labels == "onehot" else y
    else:
        y_pred, y = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)).astype("float32")
    y_pred = y_pred.astype("float32")
    w = rng.uniform(0, 3, n).astype("float32")
    want = float(getattr(keras.losses, keras_loss)()(y, y_pred, sample_weight=w))
    got = ts.weighted_loss(getattr(ts, ours), torch.tensor(y_pred), ts.targets(y), torch.tensor(w))
    assert float(got) == pytest.approx(want, rel=1e-5)


def test_fit_with_class_weight_translates_and_weighs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = (Path(__file__).parent / "parity_regressions" / "class_weights.py").read_text()
    runs = {}
    for name, weights in (("weighted", "{0: 0.25, 1: 3.0}"), ("plain", "None")):
        result = translate_source(source.replace("{0: 0.25, 1: 3.0}", weights))
        assert result.todos == 0, [d.render() for d in result.diagnostics]
        path = tmp_path / f"{name}.py"
        path.write_text(result.code.replace("model.fit(", "history = model.fit(").replace(
            "\nfit(", "\nhistory = fit("))
        monkeypatch.chdir(tmp_path)
        torch.manual_seed(0)
        runs[name] = runpy.run_path(str(path), run_name="__main__")["history"].history["loss"][0]
    assert runs["weighted"] != pytest.approx(runs["plain"])


def test_weights_on_several_outputs_are_refused() -> None:
    source = """
import keras
inp = keras.Input((3,))
model = keras.Model(inp, [keras.layers.Dense(1)(inp), keras.layers.Dense(1)(inp)])
model.compile(loss=['mse', 'mse'], optimizer='sgd')
model.fit(x, [y1, y2], class_weight={0: 1.0})
"""
    result = translate_source(source)
    assert "unsupported-fit" in [d.rule for d in result.diagnostics]
