"""Training speed of the fastai target (goal: the translated Learner's fit within 1.1x a hand-written
fastai Learner on the same model and data).

The models and data of train_speed.py (an MNIST-shaped MLP, the keras.io MNIST convnet). Two
scripts per model, each in its own fresh interpreter, interleaved round after round:

- translated:  the Keras script translated with `--target fastai`, timing its `fit` call (the
               translated Learner, Keras' batches, epoch logs off as with verbose=0);
- handwritten: the same model as a fastai user writes it: `DataLoaders.from_dsets` over two
               `TensorDataset`s, `Learner(dls, model, loss_func=CrossEntropyLossFlat(), opt_func=...)`
               with fastai's own optimizer, `accuracy` as the metric, `learn.fit(epochs, lr)` with
               the progress bar and logging off.

Both validate on the last 10% of the rows each epoch.

Run: python benchmarks/fastai_speed.py [--samples 12000] [--epochs 3] [--repeat 3] [--model mlp]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import Samples, compare_scripts, load
from train_speed import DATA, KERAS, KERAS_HEAD, TITLES, TORCH_MODELS

HANDWRITTEN_HEAD = '''"""Benchmark script: {title}, hand-written as a fastai Learner."""
import time

import numpy as np
import torch
from fastai.basics import Adam, CrossEntropyLossFlat, DataLoaders, Learner, RMSProp, accuracy
from fastai.callback.progress import ProgressCallback  # noqa: F401 - gives Learner.no_bar
from torch import nn
from torch.utils.data import TensorDataset
''' + DATA

HANDWRITTEN = {
    "mlp": TORCH_MODELS["mlp"] + "opt_func, lr = RMSProp, 0.001\n",
    "convnet": TORCH_MODELS["convnet"] + "opt_func, lr = Adam, 0.001\n",
}

HANDWRITTEN_FIT = '''
split = int(len(x) * 0.9)
dls = DataLoaders.from_dsets(TensorDataset(x[:split], y[:split]), TensorDataset(x[split:], y[split:]),
                             bs=128, shuffle=True)
learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), opt_func=opt_func, metrics=accuracy)

start = time.perf_counter()
with learn.no_bar(), learn.no_logging():
    learn.fit({epochs}, lr)
print("BENCH_SECONDS fit", time.perf_counter() - start)
print("final", learn.recorder.values[-1])
'''


def write_scripts(folder: Path, model: str, samples: int, epochs: int) -> dict[str, Path]:
    from translator import translate_source

    fmt = {"samples": samples, "epochs": epochs, "title": TITLES[model]}
    keras_src = (KERAS_HEAD + KERAS[model]).format(**fmt)
    result = translate_source(keras_src, target="fastai", filename=f"{model}_keras.py")
    if result.todos:
        raise SystemExit(f"the {model} benchmark script did not translate fully")
    hand_src = (HANDWRITTEN_HEAD + HANDWRITTEN[model] + HANDWRITTEN_FIT).format(**fmt)
    paths = {}
    for name, text in (("translated", result.code), ("handwritten", hand_src)):
        paths[name] = folder / f"{model}_fastai_{name}.py"
        paths[name].write_text(text)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", choices=sorted(HANDWRITTEN), action="append")
    parser.add_argument("--keep", type=Path, help="also write the scripts into this folder")
    args = parser.parse_args()
    models = args.model or ["mlp", "convnet"]
    print(f"{args.samples} samples (90% train, 10% validation), {args.epochs} epochs, batch 128, "
          f"{args.repeat} interleaved rounds; load before: {load():.2f}")
    def report(model: str, samples: Samples, paths: dict[str, Path]) -> None:
        print(f"\n{TITLES[model]} ({model}) on fastai, time of the fit call:")
        for name in paths:
            print("  " + samples.line(name))
        print(f"  ratio translated / handwritten: {samples.ratio('translated', 'handwritten'):.2f} "
              "(goal <= 1.1)", flush=True)

    compare_scripts(models, lambda folder, model: write_scripts(folder, model, args.samples, args.epochs),
                    args.repeat, args.keep, report)

if __name__ == "__main__":
    main()
