"""Support code copied into translated PyTorch scripts: each definition is emitted only when used."""

import copy
import math
import time
import types

import numpy as np
import torch
import torch.nn.functional as F


def inputs(a):
    """Model inputs as Keras feeds them: float32 tensors."""
    return torch.as_tensor(np.asarray(a, dtype=np.float32))


def targets(a):
    """Targets as tensors: floats in float32, integer labels kept as integers."""
    t = torch.as_tensor(np.asarray(a))
    return t.float() if t.is_floating_point() else t


def batches(n, batch_size, shuffle):
    """Row indices per batch in Keras' order: reshuffled every epoch, the last short batch kept."""
    order = torch.randperm(n) if shuffle else torch.arange(n)
    return order.split(batch_size)


def keras_output(model, out):
    """The model's output as Keras gives it: the activation folded into the loss is applied."""
    activation = getattr(model, "output_activation", None)
    return out if activation is None else activation(out)


def run_epoch(model, x, y, batch_size, shuffle=False, train=False):
    """One pass over (x, y); returns loss and metrics averaged over samples, as Keras logs them."""
    totals = dict.fromkeys(["loss", *model.metrics], 0.0)
    for idx in batches(len(x), batch_size, shuffle):
        xb, yb = x[idx], y[idx]
        out = model(xb)
        loss = model.loss_fn(out, yb)
        if train:
            model.optimizer.zero_grad()
            loss.backward()
            model.optimizer.step()
        with torch.no_grad():
            y_pred = keras_output(model, out.detach())
            totals["loss"] += loss.detach() * len(idx)
            for name, metric in model.metrics.items():
                totals[name] += metric(y_pred, yb) * len(idx)
    return {name: float(total) / len(x) for name, total in sorted(totals.items())}


def log_epoch(verbose, steps, seconds, logs):
    """Prints the line Keras prints at the end of an epoch (verbose 1: progress bar, 2: one line)."""
    values = " - ".join(f"{name}: {value:.4f}" for name, value in logs.items())
    step_ms = f"{1000 * seconds / max(steps, 1):.0f}ms/step"
    if verbose == 2:
        print(f"{steps}/{steps} - {seconds:.0f}s - {step_ms} - {values}")
    else:
        print(f"{steps}/{steps} {'━' * 20} {seconds:.0f}s {step_ms} - {values}")


def fit(model, x, y, batch_size=None, epochs=1, verbose="auto", callbacks=None,
        validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0):
    """Keras' Model.fit: returns a History-like object whose .history has Keras' keys."""
    batch_size = batch_size or 32
    verbose = 1 if verbose == "auto" else verbose
    x, y = inputs(x), targets(y)
    x_val = None
    if validation_data is not None:
        x_val, y_val = inputs(validation_data[0]), targets(validation_data[1])
    elif validation_split:
        split = math.floor(len(x) * (1 - validation_split))  # Keras validates on the last rows
        x, y, x_val, y_val = x[:split], y[:split], x[split:], y[split:]
    history = types.SimpleNamespace(history={}, epoch=[])
    model.stop_training = False
    for epoch in range(initial_epoch, epochs):
        start = time.perf_counter()
        model.train()
        logs = run_epoch(model, x, y, batch_size, shuffle, train=True)
        if x_val is not None:
            model.eval()
            with torch.inference_mode():
                val_logs = run_epoch(model, x_val, y_val, batch_size)
            logs.update({f"val_{name}": value for name, value in val_logs.items()})
        for callback in callbacks or []:
            callback.on_epoch_end(model, epoch, logs)
        history.epoch.append(epoch)
        for name, value in logs.items():
            history.history.setdefault(name, []).append(value)
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}")
            log_epoch(verbose, math.ceil(len(x) / batch_size), time.perf_counter() - start, logs)
        if model.stop_training:
            break
    return history


def evaluate(model, x, y, batch_size=None, verbose="auto", return_dict=False):
    """Keras' Model.evaluate: the loss alone, or [loss, *metrics] when metrics were compiled."""
    batch_size = batch_size or 32
    start = time.perf_counter()
    model.eval()
    with torch.inference_mode():
        logs = run_epoch(model, inputs(x), targets(y), batch_size)
    if verbose:
        log_epoch(1 if verbose == "auto" else verbose, math.ceil(len(x) / batch_size),
                  time.perf_counter() - start, logs)
    if return_dict:
        return logs
    results = [logs["loss"], *(logs[name] for name in model.metrics)]
    return results if len(results) > 1 else results[0]


def predict(model, x, batch_size=None, verbose="auto"):
    """Keras' Model.predict: the outputs, final activation applied, as a numpy array."""
    x = inputs(x)
    model.eval()
    with torch.inference_mode():
        outs = [keras_output(model, model(x[idx])) for idx in batches(len(x), batch_size or 32, False)]
    return torch.cat(outs).numpy()


def summary(model):
    """Prints Keras' model summary: each layer, its output shape and parameter count."""
    print(f'Model: "{model.keras_name}"')
    print(f"{'Layer (type)':<33}{'Output Shape':<25}{'Param #':>13}")
    total = trainable = 0
    for name, keras_class, shape in model.keras_layers:
        params = list(getattr(model, name).parameters())
        total += sum(p.numel() for p in params)
        trainable += sum(p.numel() for p in params if p.requires_grad)
        count = sum(p.numel() for p in params)
        print(f"{f'{name} ({keras_class})':<33}{(None, *shape)!s:<25}{count:>13,}")
    buffers = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    print(f" Total params: {total + buffers:,}")
    print(f" Trainable params: {trainable:,}")
    print(f" Non-trainable params: {total - trainable + buffers:,}")


def categorical_crossentropy(logits, y):
    """Keras' categorical crossentropy on logits, with one-hot (or soft) targets."""
    return F.cross_entropy(logits, y.float())


def sparse_categorical_crossentropy(logits, y):
    """Keras' sparse categorical crossentropy on logits, with integer labels."""
    return F.cross_entropy(logits, y.reshape(-1).long())


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
    return F.nll_loss(probs.log(), y.reshape(-1).long())


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


def improved(mode, monitor, value, best, min_delta):
    """Whether `value` beats `best` in Keras' sense (mode "auto" maximises accuracies)."""
    if best is None:
        return True
    if mode == "max" or (mode == "auto" and "acc" in monitor):
        return value > best + min_delta
    return value < best - min_delta


class EarlyStopping:
    """Keras' EarlyStopping: stops training when `monitor` stops improving."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 restore_best_weights=False, start_from_epoch=0):
        self.monitor, self.min_delta, self.patience, self.verbose = monitor, abs(min_delta), patience, verbose
        self.mode, self.restore_best_weights, self.start_from_epoch = mode, restore_best_weights, start_from_epoch
        self.best, self.best_state, self.wait = None, None, 0

    def on_epoch_end(self, model, epoch, logs):
        value = logs.get(self.monitor)
        if value is None or epoch < self.start_from_epoch:
            return
        if improved(self.mode, self.monitor, value, self.best, self.min_delta):
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_state = copy.deepcopy(model.state_dict())
            return
        self.wait += 1
        if self.wait >= self.patience and epoch > 0:
            model.stop_training = True
            if self.best_state is not None:
                model.load_state_dict(self.best_state)
            if self.verbose:
                print(f"Epoch {epoch + 1}: early stopping")


class ModelCheckpoint:
    """Keras' ModelCheckpoint: saves the state dict after each epoch, or only the best."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto"):
        self.filepath, self.monitor, self.verbose = filepath, monitor, verbose
        self.save_best_only, self.mode, self.best = save_best_only, mode, None

    def on_epoch_end(self, model, epoch, logs):
        value = logs.get(self.monitor)
        if self.save_best_only:
            if value is None or not improved(self.mode, self.monitor, value, self.best, 0):
                return
            self.best = value
        path = str(self.filepath).format(epoch=epoch + 1, **logs)
        torch.save(model.state_dict(), path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saving model to {path}")


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
        if improved(self.mode, self.monitor, value, self.best, self.min_delta):
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


def load_dataset(file, origin):
    """Keras' datasets.<name>.load_data(): the same file, from Keras' cache or its address."""
    import os
    import urllib.request

    home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    path = os.path.join(home, "datasets", file)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        urllib.request.urlretrieve(origin, path)
    with np.load(path, allow_pickle=True) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
