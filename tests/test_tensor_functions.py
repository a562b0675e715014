"""The script's own tensor functions: custom losses and metrics, Lambda layers. (Parity against
Keras: parity_regressions/custom_functions.py.)"""

from __future__ import annotations

import runpy
import textwrap
from pathlib import Path

import pytest
import torch

from translator import translate_source

HEAD = """\
import numpy as np
from keras.models import Sequential
from keras.layers import Dense, Lambda
from keras import backend as K
"""


def translate(body: str):
    return translate_source(HEAD + textwrap.dedent(body), filename="script.py")


def test_keras2_backend_loss_metric_and_lambda_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = translate("""
        def rmse(y_true, y_pred):
            return K.sqrt(K.mean(K.square(y_pred - y_true), axis=-1))

        model = Sequential()
        model.add(Dense(8, input_dim=4, activation='relu'))
        model.add(Lambda(lambda t: K.abs(t) * 2))
        model.add(Dense(1))
        model.compile(loss=rmse, optimizer='adam', metrics=[rmse, 'mae'])
        x = np.random.rand(16, 4); y = np.random.rand(16)
        history = model.fit(x, y, epochs=2, verbose=0)
    """)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "K." not in result.code and "torch.sqrt(" in result.code
    assert "nn.Linear(8, 1)" in result.code  # an elementwise lambda keeps the size known
    path = tmp_path / "t.py"
    path.write_text(result.code)
    monkeypatch.chdir(tmp_path)
    ns = runpy.run_path(str(path), run_name="__main__")
    history = ns["history"].history
    assert set(history) == {"loss", "rmse", "mae"} and len(history["loss"]) == 2
    # y of rank 1 is matched to the (16, 1) predictions, as Keras does: the loss is the metric
    assert history["loss"][0] == pytest.approx(history["rmse"][0], rel=1e-5)
    y_pred, y = torch.tensor([[1.0], [3.0]]), torch.tensor([0, 1])
    assert ns["KerasLossFunction"](ns["rmse"])(y_pred, y).item() == pytest.approx(1.5)


def test_a_lambda_of_unknown_shape_leaves_the_next_size_to_run_time() -> None:
    result = translate("""
        model = Sequential([Dense(8, input_dim=4), Lambda(lambda t: t[:, :3]), Dense(1)])
    """)
    assert result.todos == 0
    assert "KerasLambda(lambda t: t[:, :3])" in result.code and "nn.LazyLinear(1)" in result.code


def test_untranslatable_functions_stay_marked() -> None:
    result = translate("""
        def odd(y_true, y_pred):
            return K.some_function_keras_never_had(y_pred - y_true)

        model = Sequential([Dense(1, input_dim=4), Lambda(lambda t: K.also_unknown(t))])
        model.compile(loss=odd, optimizer='sgd')
    """)
    assert result.todos >= 2
    messages = " ".join(d.message for d in result.diagnostics)
    assert "some_function_keras_never_had" in messages and "also_unknown" in messages
    assert "TODO(keras2torch)" in result.code


def test_a_function_only_used_elsewhere_is_not_rewritten() -> None:
    result = translate("""
        def summarize(a):
            return K.mean(a)

        print(summarize(np.ones(3)))
    """)
    assert "K.mean" in result.code and result.todos >= 1  # not a tensor function of a model: reported


QUICKSTART = """\
import numpy as np
import tensorflow as tf
import keras

activation_function = 'relu'
rng = np.random.default_rng(0)
x_train = rng.random((32, 4, 4)).astype("float32")
y_train = rng.integers(0, 3, 32)
model = keras.models.Sequential([
    keras.layers.Flatten(input_shape=(4, 4)),
    keras.layers.Dense(8, activation=activation_function),
    keras.layers.Dropout(0.5),
    keras.layers.Dense(3)
])
predictions = model(x_train[:1]).numpy()
again = model(x_train[:1]).numpy()
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
first = loss_fn(y_train[:1], predictions).numpy()
metrics = ['accuracy', keras.metrics.SparseTopKCategoricalAccuracy(k=2, name='top2')]
model.compile(optimizer='adam', loss=loss_fn, metrics=metrics)
history = model.fit(x_train, y_train, epochs=2, verbose=0)
"""


def test_quickstart_idioms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A loss object in a variable (and called on its own), metrics in a variable, an activation
    named by a constant, and the model called on data."""
    import keras

    result = translate_source(QUICKSTART, filename="quickstart.py")
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "model.loss_fn = sparse_categorical_crossentropy" in result.code
    path = tmp_path / "t.py"
    path.write_text(result.code)
    monkeypatch.chdir(tmp_path)
    ns = runpy.run_path(str(path), run_name="__main__")
    assert (ns["predictions"] == ns["again"]).all()  # inference mode: dropout off, as Keras' model(x)
    want = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(ns["y_train"][:1], ns["predictions"])
    assert float(ns["first"]) == pytest.approx(float(want), rel=1e-5)
    assert set(ns["history"].history) == {"loss", "accuracy", "top2"}
