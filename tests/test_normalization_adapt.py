"""Normalization with adapt(): the support module's statistics and outputs against Keras' own
layer, and the translation of the scripts that adapt a layer object (Keras' regression tutorial)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from translator import translate_source
from translator.templates.torch_support import Normalization

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(("axis", "data"), [
    (-1, RNG.normal(3.0, 2.0, (50, 4))),  # float64, as pandas gives it
    (None, RNG.normal(-1.0, 0.5, (30, 3)).astype("float32")),
    (-1, RNG.random((12, 5, 5, 3)).astype("float32") * 255),  # images: one per channel
    ((1, 2), RNG.random((20, 3, 4)).astype("float32")),
    (1, RNG.random((20, 3, 4)).astype("float32")),
])
def test_adapt_matches_keras(axis, data) -> None:
    import keras

    theirs = keras.layers.Normalization(axis=axis)
    theirs.adapt(data)
    ours = Normalization(axis=axis)
    ours.adapt(data)
    assert tuple(ours.mean.shape) == tuple(theirs.mean.shape)
    np.testing.assert_allclose(ours.mean.numpy(), np.asarray(theirs.mean), rtol=1e-6)
    np.testing.assert_allclose(ours.variance.numpy(), np.asarray(theirs.variance), rtol=1e-6)
    batch = data[:7].astype("float32")
    np.testing.assert_allclose(ours(torch.from_numpy(batch)).numpy(), np.asarray(theirs(batch)),
                               rtol=1e-5, atol=1e-6)


def test_adapt_on_batches_and_invert_match_keras() -> None:
    import keras

    batches = [RNG.normal(i, 1.0 + i, (16, 3)).astype("float32") for i in range(4)]
    theirs = keras.layers.Normalization()
    theirs.adapt(batches)
    ours = Normalization()
    ours.adapt(batches)
    np.testing.assert_allclose(ours.mean.numpy(), np.asarray(theirs.mean), rtol=1e-5)
    np.testing.assert_allclose(ours.variance.numpy(), np.asarray(theirs.variance), rtol=1e-5)
    inverse = keras.layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 0.25], invert=True)
    x = RNG.random((5, 2)).astype("float32")
    np.testing.assert_allclose(Normalization(mean=[1.0, 2.0], variance=[4.0, 0.25], invert=True)(x).numpy(),
                               np.asarray(inverse(x)), rtol=1e-6)
    assert torch.equal(Normalization()(torch.ones(2, 3)), torch.ones(2, 3))  # not adapted: Keras' 0 and 1


TUTORIAL = '''\
import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

rng = np.random.default_rng(0)
train_features = rng.normal([3.0, -20.0, 0.5], [1.0, 5.0, 0.1], (200, 3))
train_labels = train_features @ np.array([1.0, 0.1, -4.0])
horsepower = train_features[:, 0]

normalizer = tf.keras.layers.Normalization(axis=-1)
normalizer.adapt(np.array(train_features))
print("mean", normalizer.mean.numpy().round(4).tolist())
horsepower_normalizer = layers.Normalization(input_shape=[1,], axis=None)
horsepower_normalizer.adapt(horsepower)


def build_and_compile_model(norm):
    model = keras.Sequential([
        norm,
        layers.Dense(16, activation='relu'),
        layers.Dense(1)
    ])
    model.compile(loss='mean_absolute_error', optimizer=tf.keras.optimizers.Adam(0.01))
    return model


dnn_horsepower_model = build_and_compile_model(horsepower_normalizer)
dnn_model = build_and_compile_model(normalizer)
history = dnn_model.fit(train_features, train_labels, validation_split=0.2, verbose=0, epochs=30)
print("loss", history.history['loss'][0] > history.history['loss'][-1])
print("out", normalizer(train_features[:2]).numpy().round(4).tolist())
'''


def test_the_regression_tutorial_translates_and_runs(tmp_path) -> None:
    """A layer object adapted at module level, then given to a building function twice (two
    objects of one class): each model holds the object it was given, and adapt runs as in Keras."""
    result = translate_source(TUTORIAL)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "normalizer = Normalization(axis=-1)" in result.code
    assert "horsepower_normalizer = Normalization(input_shape=[1,], axis=None)" in result.code
    assert "def __init__(self, norm):" in result.code
    assert "self.normalization = norm  # the script's layer object `norm` itself" in result.code
    assert "model = Model(norm)" in result.code
    imported = {line.split()[1].split(".")[0] for line in result.code.splitlines()
                if line.startswith(("import ", "from "))}
    assert imported.isdisjoint({"keras", "tensorflow", "translator"}), imported
    (tmp_path / "ours.py").write_text(result.code)
    (tmp_path / "theirs.py").write_text(TUTORIAL)
    outputs = []
    for name in ("theirs.py", "ours.py"):
        run = subprocess.run([sys.executable, name], check=False, cwd=tmp_path, capture_output=True, text=True,
                             timeout=300, env={"CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3",
                                               "PATH": "/usr/bin:/bin"})
        assert run.returncode == 0, run.stderr[-2000:]
        outputs.append([line for line in run.stdout.splitlines() if line.startswith(("mean", "loss", "out"))])
    theirs, ours = outputs
    assert ours[0] == theirs[0] and ours[2] == theirs[2]  # the adapted statistics and the layer's output
    assert ours[1] == "loss True"


def test_an_adapted_object_used_only_in_a_list_or_never_adapted() -> None:
    """Listed in a model and adapted afterwards (Keras allows it): the model holds the object;
    an unadapted Normalization inline in a list is still refused with its position."""
    src = ("import keras\nimport numpy as np\nfrom keras import layers\n"
           "norm = layers.Normalization()\n"
           "model = keras.Sequential([keras.Input((3,)), norm, layers.Dense(1)])\n"
           "norm.adapt(np.ones((4, 3)))\n")
    result = translate_source(src)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "self.normalization = norm" in result.code and "norm = Normalization()" in result.code
    assert "norm.adapt(np.ones((4, 3)))" in result.code
    refused = translate_source("import keras\nm = keras.Sequential([keras.Input((3,)), "
                               "keras.layers.Normalization(), keras.layers.Dense(1)])\n")
    assert refused.todos == 1 and "adapt" in refused.diagnostics[0].message


def test_parity_compares_the_adapted_statistics_before_loading_them() -> None:
    """Parity loads Keras' weights into the translation, but an adapted mean and variance are
    first compared with what the translation computed itself: a sample variance fails."""
    from pathlib import Path

    from translator.parity.check import ParityOptions, run_parity

    case = Path(__file__).resolve().parent / "parity_layers" / "normalization_adapt.py"
    result = translate_source(case.read_text(), filename=str(case))
    planted = result.code.replace("np.var(batches[0], axis=reduce)", "np.var(batches[0], axis=reduce, ddof=1)")
    assert planted != result.code
    outcome = run_parity(case, planted, result.models, ParityOptions())
    assert outcome.verdict.status == "fail"
    assert "variance as the translation computes it" in outcome.verdict.message


def test_a_module_level_object_read_by_a_building_function() -> None:
    """The building function names the module-level object itself (no parameter): the class
    reads that same global, as Keras' model holds that same layer."""
    src = ("import keras\nimport numpy as np\nfrom keras import layers\n"
           "normalizer = layers.Normalization()\nnormalizer.adapt(np.ones((4, 3)))\n"
           "def build():\n    m = keras.Sequential([keras.Input((3,)), normalizer, layers.Dense(1)])\n    return m\n"
           "model = build()\n")
    result = translate_source(src)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "self.normalization = normalizer" in result.code and "normalizer = Normalization()" in result.code
    namespace: dict = {}
    exec(compile(result.code, "translated.py", "exec"), namespace)  # noqa: S102 - the translation under test
    assert namespace["model"].normalization is namespace["normalizer"]
