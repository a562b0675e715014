"""`load_model(path)` of a file the script's own model saved (model.save or ModelCheckpoint): the
translation reads the state dict back into that model's class; any other file stays a TODO."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch

from translator import translate_source

SOURCE = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
x = rng.random((32, 4)).astype("float32")
y = (x.sum(axis=1) > 2).astype("int64")
model = keras.Sequential([keras.Input((4,)), layers.Dense(8, activation="relu"), layers.Dense(2, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
callbacks = [keras.callbacks.ModelCheckpoint("best_model.keras", save_best_only=True, monitor="loss")]
model.fit(x, y, epochs=3, batch_size=8, callbacks=callbacks, verbose=0)
best = keras.models.load_model("best_model.keras")
loss, acc = best.evaluate(x, y, verbose=0)
model.save("last.keras")
model = keras.models.load_model("last.keras", compile=True)
"""


def test_saved_models_load_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = translate_source(SOURCE, filename="script.py")
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "import keras" not in result.code and "load_model(" not in result.code
    monkeypatch.chdir(tmp_path)
    ns = runpy.run_path(str(_write(tmp_path, result.code)), run_name="__main__")
    saved = torch.load(tmp_path / "best_model.pt")
    for key, value in ns["best"].state_dict().items():
        assert torch.equal(value, saved[key])
    assert ns["best"] is not ns["model"] and ns["best"].loss_fn is not None  # compiled, as Keras restores it
    assert 0.0 <= ns["acc"] <= 1.0


def test_a_file_the_script_did_not_save_stays_a_todo() -> None:
    result = translate_source(SOURCE.replace('load_model("best_model.keras")', 'load_model("other.keras")'))
    assert result.todos >= 1 and "load_model" in " ".join(d.message for d in result.diagnostics)


def _write(folder: Path, code: str) -> Path:
    path = folder / "translated.py"
    path.write_text(code)
    return path
