"""Training speed of translated scripts (goal: translated fit / Keras fit <= 0.8, and <= 1.0 against
an idiomatic hand-written PyTorch loop over a DataLoader).

Two models on synthetic MNIST-shaped data (28x28 grey images, 10 classes): an MLP (Dense 512,
Dropout, Dense 512, Dropout, Dense 10 with RMSprop) and the keras.io MNIST convnet (Conv 32, pool,
Conv 64, pool, Flatten, Dropout, Dense 10 with Adam). For each model three scripts run, each in
its own fresh interpreter, interleaved round after round:

- keras:      the Keras script (TensorFlow backend), timing `model.fit(..., verbose=0)`;
- translated: that script translated by keras2torch, timing the translated `fit` call (the timing
              lines are the user's own code around fit and are translated like any other);
- handwritten: the same model in plain PyTorch, trained the idiomatic way (`DataLoader` over a
              `TensorDataset`, the same epochs, batch size, validation split and metrics).

Every fit validates on the last 10% of the rows each epoch, as the keras.io example does.

Run: python benchmarks/train_speed.py [--samples 12000] [--epochs 3] [--repeat 3] [--model mlp]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import Samples, compare_scripts, load

DATA = '''
rng = np.random.default_rng(0)
x_train = rng.integers(0, 256, ({samples}, 28, 28), dtype=np.uint8)
y_train = rng.integers(0, 10, {samples})
'''

KERAS_HEAD = '''"""Benchmark script: {title} in Keras."""
import time

import keras
import numpy as np
''' + DATA

KERAS = {
    "mlp": '''
x_train = x_train.reshape(-1, 784).astype("float32") / 255
y_train = keras.utils.to_categorical(y_train, 10)

keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input(shape=(784,)),
    keras.layers.Dense(512, activation="relu"),
    keras.layers.Dropout(0.2),
    keras.layers.Dense(512, activation="relu"),
    keras.layers.Dropout(0.2),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(loss="categorical_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
start = time.perf_counter()
history = model.fit(x_train, y_train, batch_size=128, epochs={epochs}, verbose=0,
                    validation_split=0.1)
print("BENCH_SECONDS fit", time.perf_counter() - start)
print("final", history.history["loss"][-1], history.history["val_accuracy"][-1])
''',
    "convnet": '''
x_train = np.expand_dims(x_train.astype("float32") / 255, -1)
y_train = keras.utils.to_categorical(y_train, 10)

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
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
start = time.perf_counter()
history = model.fit(x_train, y_train, batch_size=128, epochs={epochs}, verbose=0,
                    validation_split=0.1)
print("BENCH_SECONDS fit", time.perf_counter() - start)
print("final", history.history["loss"][-1], history.history["val_accuracy"][-1])
''',
}

HANDWRITTEN_HEAD = '''"""Benchmark script: {title}, hand-written the usual PyTorch way."""
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
''' + DATA

#: the models as PyTorch modules over tensors x, y (shared with fastai_speed.py)
TORCH_MODELS = {
    "mlp": '''
x = torch.from_numpy(x_train.reshape(-1, 784).astype("float32") / 255)
y = torch.from_numpy(y_train)

torch.manual_seed(0)
model = nn.Sequential(
    nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
    nn.Linear(512, 512), nn.ReLU(), nn.Dropout(0.2),
    nn.Linear(512, 10),
)
''',
    "convnet": '''
x = torch.from_numpy(np.expand_dims(x_train.astype("float32") / 255, 1))
y = torch.from_numpy(y_train)

torch.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10),
)
''',
}

HANDWRITTEN = {
    "mlp": TORCH_MODELS["mlp"] + "optimizer = torch.optim.RMSprop(model.parameters(), lr=0.001, alpha=0.9, eps=1e-07)\n",
    "convnet": TORCH_MODELS["convnet"] + "optimizer = torch.optim.Adam(model.parameters(), eps=1e-07)\n",
}

HANDWRITTEN_LOOP = '''
loss_fn = nn.CrossEntropyLoss()
split = int(len(x) * 0.9)
train_loader = DataLoader(TensorDataset(x[:split], y[:split]), batch_size=128, shuffle=True)
val_loader = DataLoader(TensorDataset(x[split:], y[split:]), batch_size=128)

start = time.perf_counter()
history = {{"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}}
for epoch in range({epochs}):
    model.train()
    total_loss, correct = 0.0, 0
    for xb, yb in train_loader:
        optimizer.zero_grad()
        out = model(xb)
        loss = loss_fn(out, yb)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(xb)
        correct += (out.argmax(1) == yb).sum().item()
    history["loss"].append(total_loss / split)
    history["accuracy"].append(correct / split)
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for xb, yb in val_loader:
            out = model(xb)
            total_loss += loss_fn(out, yb).item() * len(xb)
            correct += (out.argmax(1) == yb).sum().item()
    history["val_loss"].append(total_loss / (len(x) - split))
    history["val_accuracy"].append(correct / (len(x) - split))
print("BENCH_SECONDS fit", time.perf_counter() - start)
print("final", history["loss"][-1], history["val_accuracy"][-1])
'''

TITLES = {"mlp": "an MNIST-shaped MLP", "convnet": "the keras.io MNIST convnet"}


def write_scripts(folder: Path, model: str, samples: int, epochs: int) -> dict[str, Path]:
    from translator import translate_source

    fmt = {"samples": samples, "epochs": epochs, "title": TITLES[model]}
    keras_src = (KERAS_HEAD + KERAS[model]).format(**fmt)
    result = translate_source(keras_src, filename=f"{model}_keras.py")
    if result.todos:
        raise SystemExit(f"the {model} benchmark script did not translate fully")
    hand_src = (HANDWRITTEN_HEAD + HANDWRITTEN[model] + HANDWRITTEN_LOOP).format(**fmt)
    paths = {}
    for name, text in (("keras", keras_src), ("translated", result.code), ("handwritten", hand_src)):
        paths[name] = folder / f"{model}_{name}.py"
        paths[name].write_text(text)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", choices=sorted(KERAS), action="append")
    parser.add_argument("--keep", type=Path, help="also write the scripts into this folder")
    args = parser.parse_args()
    models = args.model or ["mlp", "convnet"]
    print(f"{args.samples} samples (90% train, 10% validation), {args.epochs} epochs, batch 128, "
          f"{args.repeat} interleaved rounds; load before: {load():.2f}")
    def report(model: str, samples: Samples, paths: dict[str, Path]) -> None:
        print(f"\n{TITLES[model]} ({model}), time of the fit call:")
        for name in paths:
            print("  " + samples.line(name))
        print(f"  ratio translated / keras:       {samples.ratio('translated', 'keras'):.2f} (goal <= 0.8)")
        print(f"  ratio translated / handwritten: {samples.ratio('translated', 'handwritten'):.2f} (goal <= 1.0)")
        print(f"  ratio handwritten / keras:      {samples.ratio('handwritten', 'keras'):.2f}", flush=True)

    compare_scripts(models, lambda folder, model: write_scripts(folder, model, args.samples, args.epochs),
                    args.repeat, args.keep, report)

if __name__ == "__main__":
    main()
