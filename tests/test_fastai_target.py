"""The fastai target: a Learner with Keras' semantics, checked by running real fastai on small data
and against the PyTorch target's translation of the same script (same seed, same numbers)."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

from translator import translate_source

SOURCE = '''\
import keras
import numpy as np

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(70, 6)).astype("float32")
y = (x[:, 0] + x[:, 1] > 0).astype("int64")

model = keras.Sequential([
    keras.Input(shape=(6,)),
    keras.layers.Dense(8, activation="relu"),
    keras.layers.Dense(2, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
plain = model.fit(x, y, epochs=3, verbose=0)
reduce = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10)
split = model.fit(x, y, epochs=4, validation_split=0.25, verbose=2, callbacks=[reduce])
stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=1, min_delta=10, restore_best_weights=True)
stopped = model.fit(x, y, epochs=5, validation_data=(x[:20], y[:20]), verbose=0, callbacks=[stop])
results = model.evaluate(x, y, verbose=0)
probs = model.predict(x, verbose=0)
'''


def _run(target: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    result = translate_source(SOURCE, target=target, filename="script.py")
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    script = folder / f"{target}.py"
    script.write_text(result.code, encoding="utf-8")
    monkeypatch.chdir(folder)
    return runpy.run_path(str(script), run_name="__main__")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("fastai_target")
    with pytest.MonkeyPatch.context() as mp:
        return {target: _run(target, folder, mp) for target in ("torch", "fastai")}


def test_compile_builds_a_learner_with_keras_hyper_parameters(runs) -> None:
    import torch
    from fastai.learner import Learner

    learn = runs["fastai"]["model"].learner
    assert isinstance(learn, Learner) and learn.model is runs["fastai"]["model"]
    opt = learn.opt.opt  # torch's Adam inside fastai's OptimWrapper
    assert isinstance(opt, torch.optim.Adam)
    group = opt.param_groups[0]
    assert group["eps"] == 1e-07 and group["betas"] == (0.9, 0.999) and group["weight_decay"] == 0
    assert [m.name for m in learn.metrics] == ["accuracy"]


def test_history_has_keras_keys(runs) -> None:
    ns = runs["fastai"]
    assert list(ns["plain"].history) == ["accuracy", "loss"]  # no validation: training keys only
    assert list(ns["split"].history) == ["accuracy", "loss", "val_accuracy", "val_loss", "learning_rate"]
    assert ns["plain"].epoch == [0, 1, 2]


def test_batches_and_validation_split_follow_keras(runs) -> None:
    learn = runs["fastai"]["model"].learner
    x = runs["fastai"]["x"]
    # the last fit validated on x[:20]; the split fit's loaders are rebuilt here the same way
    dls = runs["fastai"]["keras_dataloaders"](x, runs["fastai"]["y"], 32, validation_split=0.25)
    assert len(dls.train.x) == 52 and np.array_equal(dls.valid.x.numpy(), x[52:])  # the last rows
    assert len(dls.train) == 2 and len(dls.valid) == 1  # batch 32, the short batch kept
    empty = runs["fastai"]["keras_dataloaders"](x, runs["fastai"]["y"], 32)
    assert len(empty.valid) == 0 and len(empty.train) == 3
    assert len(learn.dls.valid.x) == 20


def test_reduce_lr_multiplies_by_keras_factor(runs) -> None:
    # the rate each epoch trained with: halved after every epoch but the first (min_delta=10)
    lrs = runs["fastai"]["split"].history["learning_rate"]
    assert lrs == pytest.approx([0.01, 0.01, 0.005, 0.0025])


def test_early_stopping_stops_as_keras_does(runs) -> None:
    assert len(runs["fastai"]["stopped"].history["loss"]) == 2


def test_evaluate_and_predict_return_what_keras_returns(runs) -> None:
    loss, accuracy = runs["fastai"]["results"]
    assert 0 < loss and 0 <= accuracy <= 1
    probs = runs["fastai"]["probs"]
    assert isinstance(probs, np.ndarray) and probs.shape == (70, 2)
    np.testing.assert_allclose(probs.sum(-1), 1, rtol=1e-6)


@pytest.mark.parametrize("name", ["plain", "split", "stopped"])
def test_fastai_trains_exactly_as_the_torch_target(runs, name: str) -> None:
    torch_history, fastai_history = runs["torch"][name].history, runs["fastai"][name].history
    assert list(fastai_history) == list(torch_history)
    for key, values in torch_history.items():
        np.testing.assert_allclose(fastai_history[key], values, rtol=1e-5, atol=1e-6, err_msg=key)


def test_evaluate_and_predict_match_the_torch_target(runs) -> None:
    np.testing.assert_allclose(runs["fastai"]["results"], runs["torch"]["results"], rtol=1e-5)
    np.testing.assert_allclose(runs["fastai"]["probs"], runs["torch"]["probs"], rtol=1e-5, atol=1e-7)


def test_fastai_output_uses_learner_fit_not_one_cycle() -> None:
    code = translate_source(SOURCE, target="fastai", filename="script.py").code
    assert "learn.fit(" in code and "fit_one_cycle" not in code
    assert "model.learner = Learner(" in code and "import *" not in code
    assert "fastai.vision" not in code
