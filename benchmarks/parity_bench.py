"""Times `keras2torch parity` on an MNIST-sized convnet against importing both frameworks and
building both models in fresh subprocesses (the goal: parity within 2x of that baseline).

Run: python benchmarks/parity_bench.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KERAS_SCRIPT = '''"""The Keras MNIST convnet example on synthetic 28x28x1 digits."""
import keras
import numpy as np

rng = np.random.default_rng(0)
x = rng.random((512, 28, 28, 1)).astype("float32")
y = rng.integers(0, 10, 512)

keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
    keras.layers.MaxPooling2D(pool_size=(2, 2)),
    keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
    keras.layers.MaxPooling2D(pool_size=(2, 2)),
    keras.layers.Flatten(),
    keras.layers.Dropout(0.5),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
model.fit(x, y, batch_size=128, epochs=2, validation_split=0.1)
'''

# The baseline: what any parity check must at least pay, each in a fresh interpreter.
BASELINE_KERAS = '''
import keras
model = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
    keras.layers.MaxPooling2D(pool_size=(2, 2)),
    keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
    keras.layers.MaxPooling2D(pool_size=(2, 2)),
    keras.layers.Flatten(),
    keras.layers.Dropout(0.5),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
'''
BASELINE_TORCH = '''
import torch
from torch import nn
model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
                      nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5),
                      nn.Linear(1600, 10))
optimizer = torch.optim.Adam(model.parameters(), eps=1e-07)
'''


ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"}


def time_baseline() -> float:
    """One after the other, as the goal states it."""
    start = time.perf_counter()
    for code in (BASELINE_KERAS, BASELINE_TORCH):
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=ENV)
    return time.perf_counter() - start


def time_baseline_overlapped() -> float:
    """Both at once, as parity runs its two sides: the stricter yardstick."""
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=ENV)
             for code in (BASELINE_KERAS, BASELINE_TORCH)]
    for proc in procs:
        proc.wait()
    return time.perf_counter() - start


def time_parity(src: Path) -> tuple[float, str]:
    from translator import translate_source
    from translator.parity.check import ParityOptions, run_parity

    start = time.perf_counter()
    translation = translate_source(src.read_text(), filename=str(src))
    result = run_parity(src, translation.code, translation.models, ParityOptions())
    seconds = time.perf_counter() - start
    rows = ", ".join(f"{r.keras_name} {r.max_abs:.1e}" for r in result.rows if r.max_abs is not None)
    return seconds, f"{result.verdict.status} (max abs diff per layer: {rows})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parity-bench-") as folder:
        src = Path(folder) / "mnist_convnet.py"
        src.write_text(KERAS_SCRIPT)
        baseline, overlapped, parity = [], [], []
        verdict = ""
        for _ in range(args.repeat):
            baseline.append(time_baseline())
            overlapped.append(time_baseline_overlapped())
            seconds, verdict = time_parity(src)
            parity.append(seconds)
    b, p = statistics.median(baseline), statistics.median(parity)
    o = statistics.median(overlapped)
    print(f"parity verdict: {verdict}")
    print(f"baseline (import TensorFlow + build the Keras model, then import PyTorch + build the "
          f"torch model, fresh subprocesses): median {b:.2f} s of {args.repeat} "
          f"({', '.join(f'{t:.2f}' for t in baseline)})")
    print(f"keras2torch parity (translate, run both scripts, level 1 + 1 training step): "
          f"median {p:.2f} s ({', '.join(f'{t:.2f}' for t in parity)})")
    print(f"baseline with both subprocesses at once: median {o:.2f} s "
          f"({', '.join(f'{t:.2f}' for t in overlapped)})")
    print(f"ratio parity / baseline: {p / b:.2f}x (goal <= 2x); against the overlapped baseline: "
          f"{p / o:.2f}x")


if __name__ == "__main__":
    main()
