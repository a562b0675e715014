"""Support code copied into translated PyTorch scripts: each definition is emitted only when used."""

import copy
import math
import pickle
import time
import types

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def inputs(a, model=None):
    """Model inputs as Keras feeds them: float32 tensors; a tuple for a model with several inputs
    (given as a list, or as a dict keyed by the Input names)."""
    names = getattr(model, "input_names", None)
    if names is not None:
        return tuple(inputs(v) for v in (
            [a[name] for name in names] if isinstance(a, dict) else a))
    a = np.asarray(a, dtype=np.float32)
    return torch.as_tensor(a if a.flags.writeable else a.copy())


def targets(a, model=None):
    """Targets as tensors: floats (and booleans) in float32, integer labels kept as integers; a
    tuple for a model with several outputs (a list, or a dict keyed by the output names)."""
    names = getattr(model, "output_names", None)
    if names is not None:
        return tuple(targets(v) for v in (
            [a[name] for name in names] if isinstance(a, dict) else a))
    a = np.asarray(a)
    if a.dtype == bool:  # pandas' get_dummies gives booleans; Keras reads them as 0.0 / 1.0
        a = a.astype(np.float32)
    t = torch.as_tensor(a if a.flags.writeable else a.copy())
    return t.float() if t.is_floating_point() else t


def to_categorical(y, num_classes=None):
    """Keras' to_categorical: one-hot rows (float32, as training reads them); the labels' shape is
    kept, a trailing axis of one dropped, and the classes are the new last axis."""
    y = np.asarray(y, dtype=np.int64)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    return np.eye(num_classes or int(y.max()) + 1, dtype=np.float32)[y]


def take(a, idx):
    """Rows `idx` of a tensor, or of each tensor of a tuple (several inputs or outputs)."""
    return tuple(t[idx] for t in a) if isinstance(a, tuple) else a[idx]


def rows(a):
    return len(a[0]) if isinstance(a, tuple) else len(a)


def batches(n, batch_size, shuffle):
    """Row indices per batch in Keras' order: reshuffled every epoch, the last short batch kept."""
    order = torch.randperm(n) if shuffle else torch.arange(n)
    return order.split(batch_size)


def keras_output(model, out):
    """The model's output as Keras gives it: the activation folded into the loss is applied."""
    if isinstance(out, tuple):
        return out
    activation = getattr(model, "output_activation", None)
    return out if activation is None else activation(out)


def batch_logs(totals, seen, stateful):
    """The logs Keras hands to a callback's on_batch_end: the means over the epoch so far."""
    logs = {name: float(torch.tensor(float(total) / seen, dtype=torch.float32)) for name, total in totals.items()}
    logs.update({name: metric.result() for name, metric in stateful.items()})
    return dict(sorted(logs.items()))


def sample_weights(y, class_weight=None, sample_weight=None):
    """Keras' per-sample loss weights: `sample_weight` as given, or each sample's class weight
    (classes by argmax of one-hot targets, else the rounded label; a class not listed weighs 1)."""
    if class_weight is None and sample_weight is None:
        return None
    if isinstance(y, tuple):
        raise TypeError("class_weight and sample_weight need a model with a single output")
    if class_weight is not None and sample_weight is not None:
        raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
    if sample_weight is not None:
        return torch.as_tensor(np.asarray(sample_weight, dtype=np.float32)).reshape(-1)
    table = torch.tensor([float(class_weight.get(c, 1.0)) for c in range(int(max(class_weight)) + 1)])
    if y.dim() >= 2 and y.shape[-1] > 1:
        classes = y.argmax(-1)
    else:
        classes = torch.round(y.reshape(y.shape[0], -1)[:, 0].double()).long()
    return table[classes]


def weighted_loss(loss_fn, out, y, w):
    """Keras' weighted loss: each sample's loss times its weight, summed, divided by the batch size."""
    per_sample = torch.stack([loss_fn(out[i:i + 1], y[i:i + 1]) for i in range(len(w))])
    return (per_sample * w).sum() / len(w)


def run_epoch(model, x, y, batch_size, shuffle=False, train=False, callbacks=(), weights=None):
    """One pass over (x, y); returns loss and metrics averaged over samples, as Keras logs them
    (stateful metrics, such as AUC, accumulate over the pass and report once at its end).

    In training, callbacks with on_batch_begin / on_batch_end hear of each batch (with the means
    so far), and a callback that sets model.stop_training ends the pass after that batch."""
    stateful = {name: metric for name, metric in model.metrics.items() if hasattr(metric, "update")}
    for metric in stateful.values():
        metric.reset()
    totals = dict.fromkeys(["loss", *getattr(model.loss_fn, "names", ()), *model.metrics], 0.0)
    begin = [c for c in callbacks if hasattr(c, "on_batch_begin")] if train else []
    end = [c for c in callbacks if hasattr(c, "on_batch_end")] if train else []
    seen = 0
    for step, idx in enumerate(batches(rows(x), batch_size, shuffle)):
        for callback in begin:
            callback.on_batch_begin(model, step)
        xb, yb = take(x, idx), take(y, idx)
        out = model(*xb) if isinstance(xb, tuple) else model(xb)
        loss = model.loss_fn(out, yb) if weights is None else weighted_loss(model.loss_fn, out, yb, weights[idx])
        if train:
            model.optimizer.zero_grad()
            loss.backward()
            model.optimizer.step()
        with torch.no_grad():
            y_pred = keras_output(model, out.detach()) if not isinstance(out, tuple) else out
            totals["loss"] += loss.detach() * len(idx)
            for name, part in getattr(model.loss_fn, "parts", {}).items():  # several outputs
                totals[name] += part * len(idx)
            for name, metric in model.metrics.items():
                if name in stateful:
                    metric.update(y_pred, yb)
                else:
                    totals[name] += metric(y_pred, yb) * len(idx)
        seen += len(idx)
        if end:
            logs = batch_logs(totals, seen, stateful)
            for callback in end:
                callback.on_batch_end(model, step, logs)
        if train and getattr(model, "stop_training", False):
            break
    # Keras reports float32 results: the mean is rounded to float32 as Keras' is
    return batch_logs(totals, max(seen, 1), stateful)


class OutputLosses:
    """The loss of a model with several outputs: Keras' weighted sum of one loss per output, with
    each output's own loss kept for the log (`age_loss`, ...)."""

    def __init__(self, losses, weights=None):
        self.losses = losses  # {output name: loss function}, in the model's output order
        self.weights = weights or {}
        self.names = [f"{name}_loss" for name in losses]
        self.parts = {}

    def __call__(self, outs, ys):
        total = 0.0
        for (name, loss_fn), out, y in zip(self.losses.items(), outs, ys):
            part = loss_fn(out, y)
            self.parts[f"{name}_loss"] = part.detach()
            total = total + self.weights.get(name, 1.0) * part
        return total


def log_epoch(verbose, steps, seconds, logs):
    """Prints the line Keras prints at the end of an epoch (verbose 1: progress bar, 2: one line)."""
    values = "".join(f" - {name}: {value:.4f}" if abs(value) > 1e-3 else f" - {name}: {value:.4e}"
                     for name, value in logs.items())
    step_ms = f"{1000 * seconds / max(steps, 1):.0f}ms/step"
    if verbose == 2:
        print(f"{steps}/{steps} - {seconds:.0f}s - {step_ms}{values}")
    else:
        print(f"{steps}/{steps} {'━' * 20} {seconds:.0f}s {step_ms}{values}")


def fit(model, x, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
        validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0, class_weight=None,
        sample_weight=None):
    """Keras' Model.fit: returns a History-like object whose .history has Keras' keys."""
    loop = getattr(x, "keras_fit", None) or getattr(validation_data, "keras_fit", None)
    if loop is not None:  # an ImageDataGenerator iterator (batches, not rows) brings its own loop
        return loop(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
                    shuffle, initial_epoch)
    batch_size = batch_size or 32
    verbose = 1 if verbose == "auto" else verbose
    x, y = inputs(x, model), targets(y, model)
    weights = sample_weights(y, class_weight, sample_weight)
    x_val = None
    if validation_data is not None:
        x_val, y_val = inputs(validation_data[0], model), targets(validation_data[1], model)
    elif validation_split:
        split = math.floor(rows(x) * (1 - validation_split))  # Keras validates on the last rows
        head, tail = slice(None, split), slice(split, None)
        x, y, x_val, y_val = take(x, head), take(y, head), take(x, tail), take(y, tail)
        weights = None if weights is None else weights[head]
    history = types.SimpleNamespace(history={}, epoch=[])
    model.stop_training = False
    callbacks = callbacks or []
    for callback in callbacks:
        if hasattr(callback, "on_train_begin"):
            callback.on_train_begin()
        if hasattr(callback, "restore"):  # BackupAndRestore: resume where an interrupted run stopped
            initial_epoch = callback.restore(model, initial_epoch)
    for epoch in range(initial_epoch, epochs):
        if verbose and epochs > 1:
            print(f"Epoch {epoch + 1}/{epochs}")
        start = time.perf_counter()
        for callback in callbacks:
            if hasattr(callback, "on_epoch_begin"):
                callback.on_epoch_begin(model, epoch)
        model.train()
        logs = run_epoch(model, x, y, batch_size, shuffle, train=True, callbacks=callbacks, weights=weights)
        if x_val is not None:
            model.eval()
            with torch.inference_mode():
                val_logs = run_epoch(model, x_val, y_val, batch_size)
            logs.update({f"val_{name}": value for name, value in val_logs.items()})
        for callback in callbacks:
            callback.on_epoch_end(model, epoch, logs)
        history.epoch.append(epoch)
        for name, value in logs.items():
            history.history.setdefault(name, []).append(value)
        if verbose:  # Keras prints the epoch's line after the other callbacks ran
            log_epoch(verbose, math.ceil(rows(x) / batch_size), time.perf_counter() - start, logs)
        if model.stop_training:
            break
    for callback in callbacks:
        if hasattr(callback, "on_train_end"):
            callback.on_train_end(model)
    return history


def evaluate(model, x, y=None, batch_size=None, verbose="auto", return_dict=False):
    """Keras' Model.evaluate: the loss alone, or [loss, *metrics] when metrics were compiled."""
    if hasattr(x, "keras_evaluate"):  # an ImageDataGenerator iterator brings its own loop
        return x.keras_evaluate(model, x, y, batch_size, verbose, return_dict)
    batch_size = batch_size or 32
    start = time.perf_counter()
    model.eval()
    with torch.inference_mode():
        x = inputs(x, model)
        logs = run_epoch(model, x, targets(y, model), batch_size)
    if verbose:
        log_epoch(1 if verbose == "auto" else verbose, math.ceil(rows(x) / batch_size),
                  time.perf_counter() - start, logs)
    if return_dict:
        return logs
    results = [logs["loss"], *(logs[name] for name in getattr(model.loss_fn, "names", ())),
               *(logs[name] for name in model.metrics)]
    return results if len(results) > 1 else results[0]


def predict(model, x, batch_size=None, verbose="auto"):
    """Keras' Model.predict: the outputs, final activation applied, as a numpy array."""
    if hasattr(x, "keras_predict"):  # an ImageDataGenerator iterator brings its own loop
        return x.keras_predict(model, x, batch_size, verbose)
    x = inputs(x, model)
    start = time.perf_counter()
    model.eval()
    with torch.inference_mode():
        outs = [keras_output(model, model(*xb) if isinstance(xb, tuple) else model(xb))
                for xb in (take(x, idx) for idx in batches(rows(x), batch_size or 32, False))]
    if verbose:
        log_epoch(1 if verbose == "auto" else verbose, len(outs), time.perf_counter() - start, {})
    if isinstance(outs[0], tuple):  # several outputs: a list of arrays, as Keras returns
        return [torch.cat(parts).numpy() for parts in zip(*outs)]
    return torch.cat(outs).numpy()


def predict_classes(model, x, batch_size=None, verbose=0):
    """Keras 2's Sequential.predict_classes: argmax of the outputs, or outputs > 0.5 for one unit."""
    probs = predict(model, x, batch_size=batch_size, verbose=verbose)
    return probs.argmax(axis=-1) if probs.shape[-1] > 1 else (probs > 0.5).astype("int32")


def summary(model):
    """Prints Keras' model summary: each layer, its output shape and parameter count."""
    print(f'Model: "{model.keras_name}"')
    print(f"{'Layer (type)':<33}{'Output Shape':<25}{'Param #':>13}")
    total = trainable = 0
    for name, keras_class, shape in model.keras_layers:
        layer = getattr(model, name, None)  # None for a functional model's InputLayer
        params = [] if layer is None else list(layer.parameters())
        unbuilt = any(nn.parameter.is_lazy(p) for p in params)  # sized on the first batch, as in Keras
        params = [p for p in params if not nn.parameter.is_lazy(p)]
        total += sum(p.numel() for p in params)
        trainable += sum(p.numel() for p in params if p.requires_grad)
        count = f"{sum(p.numel() for p in params):,}" + (" (unbuilt)" if unbuilt else "")
        shown = "?" if shape is None else str((None, *shape))
        print(f"{f'{name} ({keras_class})':<33}{shown:<25}{count:>13}")
    buffers = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    print(f" Total params: {total + buffers:,}")
    print(f" Trainable params: {trainable:,}")
    print(f" Non-trainable params: {total - trainable + buffers:,}")


def categorical_crossentropy(logits, y):
    """Keras' categorical crossentropy on logits, with one-hot (or soft) targets; classes on the
    last axis (a sequence's (batch, time, classes) too), averaged over every other position."""
    classes = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, classes), y.float().reshape(-1, classes))


def sparse_categorical_crossentropy(logits, y):
    """Keras' sparse categorical crossentropy on logits, with integer labels; classes on the last axis."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1).long())


def binary_crossentropy(logits, y):
    """Keras' binary crossentropy on logits."""
    return F.binary_cross_entropy_with_logits(logits, y.reshape(logits.shape).float())


def categorical_crossentropy_probs(probs, y):
    """Keras' categorical crossentropy on probabilities: renormalised and clipped as Keras does."""
    probs = (probs / probs.sum(-1, keepdim=True)).clamp(1e-7, 1 - 1e-7)
    return -(y.float() * probs.log()).sum(-1).mean()


def sparse_categorical_crossentropy_probs(probs, y):
    """Keras' sparse categorical crossentropy on probabilities, clipped as Keras does."""
    probs = (probs / probs.sum(-1, keepdim=True)).clamp(1e-7, 1 - 1e-7)
    return F.nll_loss(probs.log().reshape(-1, probs.shape[-1]), y.reshape(-1).long())


def binary_crossentropy_probs(probs, y):
    """Keras' binary crossentropy on probabilities, clipped to [1e-7, 1 - 1e-7] as Keras does."""
    probs = probs.clamp(1e-7, 1 - 1e-7)
    y = y.reshape(probs.shape).float()
    return -(y * probs.log() + (1 - y) * (1 - probs).log()).mean()


def mean_squared_error(y_pred, y):
    """Keras' mean squared error."""
    return F.mse_loss(y_pred, y.reshape(y_pred.shape).float())


def mean_absolute_error(y_pred, y):
    """Keras' mean absolute error."""
    return F.l1_loss(y_pred, y.reshape(y_pred.shape).float())


def huber(y_pred, y, delta=1.0):
    """Keras' Huber loss."""
    return F.huber_loss(y_pred, y.reshape(y_pred.shape).float(), delta=delta)


def accuracy(y_pred, y):
    """Keras' "accuracy", resolved as Keras resolves it: binary, sparse or categorical by shape."""
    if y_pred.shape[-1] == 1:
        return ((y_pred > 0.5).float() == y.reshape(y_pred.shape).float()).float().mean()
    if y.dim() < y_pred.dim() or y.shape[-1] == 1:
        return (y_pred.argmax(-1) == y.reshape(-1).long()).float().mean()
    return (y_pred.argmax(-1) == y.argmax(-1)).float().mean()


def improved(mode, monitor, value, best, min_delta, metrics=None):
    """Whether `value` beats `best` in Keras' sense (mode "auto" maximises accuracies and the
    metrics Keras maximises, such as AUC, precision and recall)."""
    if best is None:
        return True
    rising = getattr((metrics or {}).get(monitor.removeprefix("val_")), "direction", None) == "up"
    if mode == "max" or (mode == "auto" and ("acc" in monitor or rising)):
        return value > best + min_delta
    return value < best - min_delta


class EarlyStopping:
    """Keras' EarlyStopping: stops training when `monitor` stops improving."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 restore_best_weights=False, start_from_epoch=0):
        self.monitor, self.min_delta, self.patience, self.verbose = monitor, abs(min_delta), patience, verbose
        self.mode, self.restore_best_weights, self.start_from_epoch = mode, restore_best_weights, start_from_epoch

    def on_train_begin(self):
        self.best, self.best_state, self.best_epoch, self.wait, self.stopped_epoch = None, None, 0, 0, 0

    def on_epoch_end(self, model, epoch, logs):
        value = logs.get(self.monitor)
        if value is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_state is None:
            self.best_state, self.best_epoch = copy.deepcopy(model.state_dict()), epoch
        if improved(self.mode, self.monitor, value, self.best, self.min_delta, getattr(model, "metrics", None)):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_state = copy.deepcopy(model.state_dict())
            return
        self.wait += 1
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            model.stop_training = True

    def on_train_end(self, model):
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_state is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            model.load_state_dict(self.best_state)


class ModelCheckpoint:
    """Keras' ModelCheckpoint: saves the state dict after each epoch (every `period` epochs, Keras
    2), every `save_freq` batches when that is a number, or only when `monitor` improves on the
    best value so far (initially `initial_value_threshold`). The path may hold Keras' fields:
    `{epoch}`, `{batch}` (with save_freq) and any log, such as `{val_loss:.2f}`. The file holds
    the model's state dict whether or not save_weights_only is set."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch", initial_value_threshold=None,
                 period=1):
        if save_freq != "epoch" and not isinstance(save_freq, int):
            raise ValueError(f"Unrecognized save_freq: {save_freq}. Expected save_freq are 'epoch' or integer values")
        self.filepath, self.monitor, self.verbose = filepath, monitor, verbose
        self.save_best_only, self.mode, self.best = save_best_only, mode, initial_value_threshold
        self.save_freq, self.period = save_freq, period
        self.epochs_since_last_save, self.batches_since_last_save, self.epoch = 0, 0, 0

    def on_epoch_begin(self, model, epoch):
        self.epoch = epoch

    def on_batch_end(self, model, batch, logs):
        if self.save_freq == "epoch":
            return
        self.batches_since_last_save += 1
        if self.batches_since_last_save >= self.save_freq:
            self.batches_since_last_save = 0
            self.save(model, self.epoch, logs, batch)

    def on_epoch_end(self, model, epoch, logs):
        if self.save_freq != "epoch":
            return
        self.epochs_since_last_save += 1
        if self.epochs_since_last_save >= self.period:
            self.epochs_since_last_save = 0
            self.save(model, epoch, logs)

    def save(self, model, epoch, logs, batch=None):
        import os

        fields = dict(logs) if batch is None or "batch" in logs else {"batch": batch + 1, **logs}
        path = str(self.filepath).format(epoch=epoch + 1, **fields)
        if self.save_best_only:
            value = logs.get(self.monitor)
            metrics = getattr(model, "metrics", None)
            if value is None or not improved(self.mode, self.monitor, value, self.best, 0, metrics):
                if value is not None and self.verbose:
                    best = "None" if self.best is None else f"{self.best:.5f}"
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {best}")
                return
            if self.verbose:
                best = "None" if self.best is None else f"{self.best:.5f}"
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {best} to {value:.5f}, saving model to {path}")
            self.best = value
        elif self.verbose:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        torch.save(model.state_dict(), path)


class ReduceLROnPlateau:
    """Keras' ReduceLROnPlateau: multiplies the learning rate by `factor` on a plateau."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.mode, self.min_delta, self.cooldown, self.min_lr = mode, min_delta, cooldown, min_lr
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, model, epoch, logs):
        logs["learning_rate"] = model.optimizer.param_groups[0]["lr"]
        value = logs.get(self.monitor)
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if improved(self.mode, self.monitor, value, self.best, self.min_delta, getattr(model, "metrics", None)):
            self.best, self.wait = value, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                for group in model.optimizer.param_groups:
                    old_lr = group["lr"]
                    if old_lr > self.min_lr:
                        group["lr"] = max(old_lr * self.factor, self.min_lr)
                        if self.verbose:
                            print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {group['lr']}.")
                self.cooldown_counter, self.wait = self.cooldown, 0


def keras_cache_path(name, origin, extract=False):
    """A file (or extracted archive) in Keras' cache, $KERAS_HOME/datasets or ~/.keras/datasets.

    Missing files are fetched from Keras' own address, so both scripts read the same data.
    """
    import os
    import tarfile
    import urllib.request

    home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    path = os.path.join(home, "datasets", name)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        download = path + "_archive" if extract else path
        urllib.request.urlretrieve(origin, download)
        if extract:
            with tarfile.open(download) as archive:
                archive.extractall(path, filter="data")
    return path


class ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else, as Keras does for its dataset files."""

    def find_class(self, module, name):
        if module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray") \
                and name in ("ndarray", "dtype", "_reconstruct"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name} from a dataset file")


def read_npz(path):
    """The arrays in an .npz file; object arrays are unpickled with ArraysOnly."""
    import zipfile

    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            with archive.open(member) as f:
                try:
                    arrays[member.removesuffix(".npy")] = np.lib.format.read_array(f, allow_pickle=False)
                except ValueError:  # an object array
                    f.seek(0)
                    major, _ = np.lib.format.read_magic(f)
                    read_header = (np.lib.format.read_array_header_1_0 if major == 1
                                   else np.lib.format.read_array_header_2_0)
                    read_header(f)
                    arrays[member.removesuffix(".npy")] = ArraysOnly(f).load()
    return arrays


def load_mnist(path="mnist.npz"):
    """Keras' datasets.mnist.load_data()."""
    origin = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
    f = read_npz(keras_cache_path(path, origin))
    return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def load_fashion_mnist():
    """Keras' datasets.fashion_mnist.load_data()."""
    import gzip
    import os

    base = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
    arrays = []
    for part in ("train", "t10k"):
        name = os.path.join("fashion-mnist", f"{part}-labels-idx1-ubyte.gz")
        with gzip.open(keras_cache_path(name, base + os.path.basename(name)), "rb") as f:
            labels = np.frombuffer(f.read(), np.uint8, offset=8)
        name = os.path.join("fashion-mnist", f"{part}-images-idx3-ubyte.gz")
        with gzip.open(keras_cache_path(name, base + os.path.basename(name)), "rb") as f:
            images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(len(labels), 28, 28)
        arrays.append((images, labels))
    return tuple(arrays)


def read_cifar(folder, origin, train_files, test_file, label_key, label_dtype):
    """Keras' CIFAR reader: pickled batches, labels as a column, images NHWC uint8."""
    import os

    root = os.path.join(keras_cache_path(folder, origin, extract=True), folder.removesuffix("-target"))
    parts = []
    for names in (train_files, [test_file]):
        xs, ys = [], []
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                batch = {k.decode(): v for k, v in ArraysOnly(f, encoding="bytes").load().items()}
            xs.append(np.asarray(batch["data"], np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[label_key], label_dtype))
        parts.append((np.concatenate(xs).transpose(0, 2, 3, 1), np.concatenate(ys).reshape(-1, 1)))
    return tuple(parts)


def load_cifar10():
    """Keras' datasets.cifar10.load_data()."""
    return read_cifar("cifar-10-batches-py-target", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                      [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "labels", np.uint8)


def load_cifar100(label_mode="fine"):
    """Keras' datasets.cifar100.load_data()."""
    return read_cifar("cifar-100-python-target", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                      ["train"], "test", f"{label_mode}_labels", np.int64)


def load_boston_housing(path="boston_housing.npz", test_split=0.2, seed=113):
    """Keras' datasets.boston_housing.load_data(): the same seeded shuffle and split."""
    origin = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/boston_housing.npz"
    f = read_npz(keras_cache_path(path, origin))
    x, y = f["x"], f["y"]
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    split = int(len(x) * (1 - test_split))
    return (x[:split], y[:split]), (x[split:], y[split:])


def load_imdb(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113,
              start_char=1, oov_char=2, index_from=3):
    """Keras' datasets.imdb.load_data(): word-index sequences, shuffled and filtered as Keras does."""
    origin = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz"
    f = read_npz(keras_cache_path(path, origin))
    parts = [(f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])]
    rng = np.random.RandomState(seed)
    seqs, labels = [], []
    for x, y in parts:
        order = np.arange(len(x))
        rng.shuffle(order)
        lead = [start_char] if start_char is not None else []
        xs = [lead + [w + index_from for w in x[i]] for i in order]
        ys = y[order]
        if maxlen:
            keep = [i for i, s in enumerate(xs) if len(s) < maxlen]
            xs, ys = [xs[i] for i in keep], ys[keep]
        seqs.append(xs)
        labels.append(ys)
    n_train = len(seqs[0])
    everything = seqs[0] + seqs[1]
    num_words = num_words or max(max(s) for s in everything)
    if oov_char is not None:
        everything = [[w if skip_top <= w < num_words else oov_char for w in s] for s in everything]
    else:
        everything = [[w for w in s if skip_top <= w < num_words] for s in everything]
    xs = np.array(everything, dtype="object")
    return (xs[:n_train], labels[0]), (xs[n_train:], labels[1])


def list_physical_devices(device_type=None):
    """tf.config.list_physical_devices as names of the devices torch sees."""
    gpus = [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return {"GPU": gpus, "CPU": ["cpu"]}.get(device_type, ["cpu", *gpus])


def slice_X(X, start=None, stop=None):
    """Keras 1's slice_X: rows start:stop (or the rows listed in `start`) of an array or a list of arrays."""
    def rows(a):
        return a[start] if hasattr(start, "__len__") else a[start:stop]
    return [rows(a) for a in X] if isinstance(X, list) else rows(X)


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Keras' pad_sequences: a 2-D array, cut and padded at the start unless told otherwise."""
    maxlen = maxlen if maxlen is not None else max((len(s) for s in sequences), default=0)
    out = np.full((len(sequences), maxlen), value, dtype=dtype)
    for i, seq in enumerate(sequences):
        seq = list(seq)[-maxlen:] if truncating == "pre" else list(seq)[:maxlen]
        if not seq:
            continue
        if padding == "pre":
            out[i, maxlen - len(seq):] = seq
        else:
            out[i, :len(seq)] = seq
    return out


def torch_rnn_state(states, per_direction):
    """Keras' initial_state list (per direction: h, or h then c) as torch's (directions, batch, units)."""
    directions = len(states) // per_direction
    stacked = [torch.stack([states[d * per_direction + k] for d in range(directions)]) for k in range(per_direction)]
    return stacked[0] if per_direction == 1 else tuple(stacked)


def keras_rnn_states(states):
    """torch's final states, each (directions, batch, units), as Keras' return_state list: per
    direction, h (then c)."""
    return [s[d] for d in range(states[0].shape[0]) for s in states]


def keras_recurrent_output(rnn, out, h):
    """What a Keras RNN returns: the whole sequence or the last step, directions merged."""
    if not rnn.bidirectional:
        return out if rnn.return_sequences else h[-1]
    if rnn.return_sequences:
        forward, backward = out.chunk(2, dim=-1)
    else:
        forward, backward = h[-2], h[-1]  # the backward pass ends on the first step
    if rnn.merge_mode == "concat":
        return torch.cat([forward, backward], dim=-1)
    if rnn.merge_mode == "sum":
        return forward + backward
    if rnn.merge_mode == "mul":
        return forward * backward
    return (forward + backward) / 2  # "ave"


def single_bias(rnn):
    """Keras gives each gate one bias; torch's second (recurrent) bias is held at zero, untrained."""
    for name in [n for n in rnn._flat_weights_names if n.startswith("bias_hh")]:
        zeros = torch.zeros_like(rnn._parameters.pop(name)).detach()
        rnn.register_buffer(name, zeros, persistent=False)
    rnn._init_flat_weights()


def keras_rnn_init(rnn, forget_bias=False):
    """Keras' initial RNN weights: glorot-uniform kernels, orthogonal recurrent kernels and zero
    biases (an LSTM's forget gate at one), in place of torch's uniform(-1/sqrt(units), ...)."""
    for name, p in rnn.named_parameters():
        if name.startswith("weight_ih"):
            nn.init.xavier_uniform_(p)
        elif name.startswith("weight_hh"):
            nn.init.orthogonal_(p)
        else:
            nn.init.zeros_(p)
            if forget_bias:
                nn.init.ones_(p[rnn.hidden_size:2 * rnn.hidden_size])


class KerasStatefulRNN:
    """Keras' stateful=True: each batch starts from the states the previous batch ended with
    (kept without their gradient history, as Keras keeps them in variables) until reset_states()."""

    def _initial(self, x, initial_state):
        if initial_state or not self.stateful or self.keras_states is None or not len(x):
            return initial_state
        return self.keras_states

    def _keep(self, x, states):
        if self.stateful and len(x):  # an empty batch (fastai's empty validation set) hands nothing on
            self.keras_states = [s.detach() for s in states]

    def reset_states(self):
        self.keras_states = None  # the next batch starts from zeros


def reset_states(model):
    """Keras 2's model.reset_states(): every stateful layer starts again from zeros."""
    for module in model.modules():
        if isinstance(module, KerasStatefulRNN):
            module.reset_states()


class KerasLSTM(KerasStatefulRNN, nn.LSTM):
    """Keras' LSTM: batch first, one bias per gate, the last step unless return_sequences; with
    return_state also the final h and c, and Keras' initial_state tensors after the input."""

    def __init__(self, input_size, units, bias=True, return_sequences=False, bidirectional=False,
                 merge_mode="concat", return_state=False, stateful=False):
        super().__init__(input_size, units, bias=bias, batch_first=True, bidirectional=bidirectional)
        self.return_sequences, self.merge_mode, self.return_state = return_sequences, merge_mode, return_state
        self.stateful, self.keras_states = stateful, None
        keras_rnn_init(self, forget_bias=True)
        if bias:
            single_bias(self)

    def forward(self, x, *initial_state):
        initial_state = self._initial(x, initial_state)
        out, (h, c) = super().forward(x, torch_rnn_state(initial_state, 2) if initial_state else None)
        y = keras_recurrent_output(self, out, h)
        self._keep(x, keras_rnn_states((h, c)))
        return (y, *keras_rnn_states((h, c))) if self.return_state else y


class KerasGRU(KerasStatefulRNN, nn.GRU):
    """Keras' GRU (reset_after=True): batch first, the last step unless return_sequences."""

    def __init__(self, input_size, units, bias=True, return_sequences=False, bidirectional=False,
                 merge_mode="concat", return_state=False, stateful=False):
        super().__init__(input_size, units, bias=bias, batch_first=True, bidirectional=bidirectional)
        self.return_sequences, self.merge_mode, self.return_state = return_sequences, merge_mode, return_state
        self.stateful, self.keras_states = stateful, None
        keras_rnn_init(self)

    def forward(self, x, *initial_state):
        initial_state = self._initial(x, initial_state)
        out, h = super().forward(x, torch_rnn_state(initial_state, 1) if initial_state else None)
        y = keras_recurrent_output(self, out, h)
        self._keep(x, keras_rnn_states((h,)))
        return (y, *keras_rnn_states((h,))) if self.return_state else y


class KerasSimpleRNN(KerasStatefulRNN, nn.RNN):
    """Keras' SimpleRNN: batch first, one bias, the last step unless return_sequences."""

    def __init__(self, input_size, units, nonlinearity="tanh", bias=True, return_sequences=False,
                 bidirectional=False, merge_mode="concat", return_state=False, stateful=False):
        super().__init__(input_size, units, nonlinearity=nonlinearity, bias=bias, batch_first=True,
                         bidirectional=bidirectional)
        self.return_sequences, self.merge_mode, self.return_state = return_sequences, merge_mode, return_state
        self.stateful, self.keras_states = stateful, None
        keras_rnn_init(self)
        if bias:
            single_bias(self)

    def forward(self, x, *initial_state):
        initial_state = self._initial(x, initial_state)
        out, h = super().forward(x, torch_rnn_state(initial_state, 1) if initial_state else None)
        y = keras_recurrent_output(self, out, h)
        self._keep(x, keras_rnn_states((h,)))
        return (y, *keras_rnn_states((h,))) if self.return_state else y


class KerasGRUResetBefore(nn.Module):
    """Keras' GRU with reset_after=False (Keras 2's default), which torch's fused GRU lacks: the
    reset gate scales the state before the recurrent product. Weights keep Keras' layout."""

    def __init__(self, input_size, units, return_sequences=False, return_state=False):
        super().__init__()
        self.kernel = nn.Parameter(nn.init.xavier_uniform_(torch.empty(input_size, 3 * units)))
        self.recurrent_kernel = nn.Parameter(nn.init.orthogonal_(torch.empty(units, 3 * units)))
        self.bias = nn.Parameter(torch.zeros(3 * units))
        self.return_sequences, self.return_state = return_sequences, return_state

    def forward(self, x, *initial_state):
        u = self.recurrent_kernel.shape[0]
        w_zr, w_h = self.recurrent_kernel[:, :2 * u], self.recurrent_kernel[:, 2 * u:]
        h = initial_state[0] if initial_state else x.new_zeros(x.shape[0], u)
        outs = []
        for xt in (x @ self.kernel + self.bias).unbind(1):
            z, r = torch.sigmoid(xt[:, :2 * u] + h @ w_zr).chunk(2, dim=-1)
            h = z * h + (1 - z) * torch.tanh(xt[:, 2 * u:] + (r * h) @ w_h)
            outs.append(h)
        y = torch.stack(outs, 1) if self.return_sequences else h
        return (y, h) if self.return_state else y


class KerasEmbedding(nn.Embedding):
    """Keras' Embedding: uniform(-0.05, 0.05) initial vectors; looks up float32 batches as indices."""

    def __init__(self, input_dim, output_dim):
        super().__init__(input_dim, output_dim)
        nn.init.uniform_(self.weight, -0.05, 0.05)

    def forward(self, x):
        return super().forward(x.long())


class TimeSharedDropout(nn.Dropout):
    """Keras' RNN `dropout`: one mask per sample and feature, shared by every time step."""

    def forward(self, x):
        return x * F.dropout(x.new_ones(x.shape[0], 1, x.shape[-1]), self.p, self.training)


class TimeDistributed(nn.Module):
    """Keras' TimeDistributed: the module applied to every time step (time folded into the batch)."""

    def __init__(self, module, channels_first=False):
        super().__init__()
        self.module, self.channels_first = module, channels_first

    def forward(self, x):
        y = x.reshape(-1, *x.shape[2:])
        if self.channels_first:  # the module convolves channels first; Keras holds them last
            y = self.module(y.movedim(-1, 1)).movedim(1, -1)
        else:
            y = self.module(y)
        return y.reshape(*x.shape[:2], *y.shape[1:])


class RepeatVector(nn.Module):
    """Keras' RepeatVector: (batch, features) -> (batch, n, features)."""

    def __init__(self, n):
        super().__init__()
        self.n = n

    def forward(self, x):
        return x.unsqueeze(1).expand(-1, self.n, -1)


class Permute(nn.Module):
    """Keras' Permute: reorders the axes after the batch axis (`dims` counts from 1)."""

    def __init__(self, dims):
        super().__init__()
        self.dims = (0, *dims)

    def forward(self, x):
        return x.permute(self.dims)


class Cropping(nn.Module):
    """Keras' Cropping1D/2D/3D on channels-first input: (before, after) cells off each axis."""

    def __init__(self, *cropping):
        super().__init__()
        self.cropping = cropping

    def forward(self, x):
        index = [slice(a, x.shape[i + 2] - b) for i, (a, b) in enumerate(self.cropping)]
        return x[(slice(None), slice(None), *index)]


class GaussianNoise(nn.Module):
    """Keras' GaussianNoise: adds N(0, stddev^2) noise in training only."""

    def __init__(self, stddev):
        super().__init__()
        self.stddev = stddev

    def forward(self, x):
        return x + self.stddev * torch.randn_like(x) if self.training else x


class GaussianDropout(nn.Dropout):
    """Keras' GaussianDropout: multiplies by N(1, p / (1 - p)) noise in training only."""

    def forward(self, x):
        if not self.training or not self.p:
            return x
        return x * (1 + math.sqrt(self.p / (1 - self.p)) * torch.randn_like(x))


class KerasActivityRegularization(nn.Module):
    """Keras' activity regularization (the ActivityRegularization layer, or any layer's
    activity_regularizer): the output passes unchanged, and l1 * sum|x| + l2 * sum x^2 divided by
    the batch size, as Keras 3 adds it to the loss, is kept in `penalty` for the model's
    regularization() (computed on every forward pass, training or not, as Keras does)."""

    def __init__(self, l1=0.0, l2=0.0):
        super().__init__()
        self.l1, self.l2 = l1, l2
        self.penalty = 0.0

    def forward(self, x):
        penalty = x.new_zeros(())
        if self.l1:
            penalty = penalty + self.l1 * x.abs().sum()
        if self.l2:
            penalty = penalty + self.l2 * x.square().sum()
        self.penalty = penalty / x.shape[0]
        return x


class Rescaling(nn.Module):
    """Keras' Rescaling: x * scale + offset."""

    def __init__(self, scale, offset=0.0):
        super().__init__()
        self.scale, self.offset = scale, offset

    def forward(self, x):
        return x * self.scale + self.offset


class Normalization(nn.Module):
    """Keras' Normalization: (x - mean) / max(sqrt(variance), 1e-7), one mean and variance for
    each index of `axis` (None: one for all). The statistics are given, or `adapt(data)` computes
    them from the data as Keras does (numpy's mean and population variance over the other axes)."""

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **layer_options):
        super().__init__()
        self.axis = () if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
        self.invert = invert
        # constants of the script, as in Keras: moved with the model, not saved in its state
        self.register_buffer("mean", None if mean is None else torch.as_tensor(np.asarray(mean, dtype=np.float32)), False)
        self.register_buffer("variance", None if variance is None else torch.as_tensor(np.asarray(variance, dtype=np.float32)), False)

    def _kept(self, ndim):
        return sorted(d % ndim for d in self.axis)

    def adapt(self, data):
        """The mean and variance of `data`: an array, or an iterable of batches (merged as Keras merges them)."""
        if hasattr(data, "__array__") or isinstance(data, torch.Tensor):
            batches = [np.asarray(data.detach().cpu() if isinstance(data, torch.Tensor) else data)]
        else:
            batches = [np.asarray(b[0] if isinstance(b, (tuple, list)) else b) for b in data]
        ndim = batches[0].ndim
        kept = self._kept(ndim)
        reduce = tuple(d for d in range(ndim) if d not in kept)
        if len(batches) == 1:
            mean, variance = np.mean(batches[0], axis=reduce), np.var(batches[0], axis=reduce)
        else:
            mean = variance = 0.0
            count = 0
            for batch in batches:
                batch = batch.astype(np.float32)
                n = int(np.prod([batch.shape[d] for d in reduce]))
                count += n
                w = n / count
                new_mean = mean * (1 - w) + np.mean(batch, axis=reduce) * w
                variance = (variance + (mean - new_mean) ** 2) * (1 - w) + (
                    np.var(batch, axis=reduce) + (np.mean(batch, axis=reduce) - new_mean) ** 2) * w
                mean = new_mean
        shape = [batches[0].shape[d] if d in kept else 1 for d in range(ndim)]
        device = self.mean.device if self.mean is not None else None
        # learned from data, as Keras' adapted weights: saved with the model
        self.register_buffer("mean", torch.as_tensor(np.reshape(mean, shape), dtype=torch.float32, device=device))
        self.register_buffer("variance", torch.as_tensor(np.reshape(variance, shape), dtype=torch.float32, device=device))

    def forward(self, x):
        x = torch.as_tensor(x, dtype=torch.float32)
        if self.mean is None:  # never adapted: Keras starts from mean 0, variance 1
            return x
        mean, variance = self.mean, self.variance
        if mean.dim() == 1 and self.axis:  # given per index of the last kept axis
            shape = [1] * x.dim()
            shape[self._kept(x.dim())[-1]] = -1
            mean, variance = mean.reshape(shape), variance.reshape(shape)
        std = variance.sqrt().clamp_min(1e-7)
        return mean + x * std if self.invert else (x - mean) / std


def keras_initializer(weight, name, **config):
    """Initialises a torch weight as the named Keras initializer would, with fans as Keras counts
    them (Keras' defaults: glorot_uniform kernels, zero biases; torch's own init differs)."""
    with torch.no_grad():
        if name in ("zeros", "ones", "constant"):
            return weight.fill_(config.get("value", 1.0 if name == "ones" else 0.0))
        if name == "orthogonal":
            return nn.init.orthogonal_(weight, gain=config.get("gain", 1.0))
        if name == "identity":  # torch holds Keras' kernel transposed: eye of the transposed shape
            return weight.copy_(config.get("gain", 1.0) * torch.eye(*weight.shape))
        if name == "random_normal":
            return weight.normal_(config.get("mean", 0.0), config.get("stddev", 0.05))
        if name == "random_uniform":
            return weight.uniform_(config.get("minval", -0.05), config.get("maxval", 0.05))
        if name == "truncated_normal":
            mean, std = config.get("mean", 0.0), config.get("stddev", 0.05)
            return nn.init.trunc_normal_(weight, mean, std, mean - 2 * std, mean + 2 * std)
        family, distribution = name.split("_")
        receptive = weight[0][0].numel() if weight.dim() > 2 else 1
        fan_in = weight.shape[-1] if weight.dim() == 1 else weight.shape[1] * receptive
        fan_out = weight.shape[0] * receptive
        scale, fan = {"glorot": (1.0, (fan_in + fan_out) / 2), "he": (2.0, fan_in),
                      "lecun": (1.0, fan_in)}[family]
        if distribution == "uniform":
            limit = math.sqrt(3 * scale / fan)
            return weight.uniform_(-limit, limit)
        std = math.sqrt(scale / fan) / 0.87962566103423978  # Keras truncates at two deviations
        return nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)
