"""keras.datasets loaders become numpy readers of Keras' own cache file (planted here, never downloaded)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from translator import translate_source

SCRIPT = """from tensorflow import keras
(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
print(x_train.shape, y_train.shape, x_test.shape, int(y_test.sum()))
"""


def test_mnist_loader_reads_keras_cache(tmp_path: Path) -> None:
    result = translate_source(SCRIPT)
    assert result.todos == 0 and "keras" not in result.code.split("def load_dataset")[0].split("\n", 1)[1]
    home = tmp_path / "keras_home"
    (home / "datasets").mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.savez(home / "datasets" / "mnist.npz", x_train=rng.integers(0, 255, (6, 28, 28), dtype=np.uint8),
             y_train=np.arange(6), x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.array([3, 4]))
    script = tmp_path / "s.py"
    script.write_text(result.code)
    proc = subprocess.run([sys.executable, str(script)], env={**os.environ, "KERAS_HOME": str(home)},
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(6, 28, 28) (6,) (2, 28, 28) 7"
