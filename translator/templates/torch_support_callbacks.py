"""Keras callbacks for translated PyTorch scripts: TerminateOnNaN, LambdaCallback, History,
ProgbarLogger, BackupAndRestore and RemoteMonitor.

`fit` calls on_train_begin(), on_epoch_begin(model, epoch), on_batch_begin(model, batch),
on_batch_end(model, batch, logs), on_epoch_end(model, epoch, logs) and on_train_end(model) on each
callback that has them.
"""

import math

import torch


class TerminateOnNaN:
    """Keras' TerminateOnNaN: stops training after the batch whose loss (the epoch's mean so far, as
    Keras logs it) is NaN or infinite; the epoch still ends (validation, epoch callbacks) as in Keras.
    With raise_error, raises a RuntimeError instead."""

    def __init__(self, raise_error=False):
        self.raise_error = raise_error

    def on_batch_end(self, model, batch, logs):
        loss = logs.get("loss")
        if loss is None or math.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                               "Terminating training immediately.")
        print(f"Batch {batch}: Invalid loss, terminating training")
        model.stop_training = True

    def on_epoch_end(self, model, epoch, logs):
        pass


class LambdaCallback:
    """Keras' LambdaCallback: the given functions are called as Keras calls them, with
    (epoch, logs) at an epoch's start and end, (batch, logs) at a training batch's start and end
    (Keras 2's on_batch_begin / on_batch_end, or Keras 3's on_train_batch_begin / _end), and
    (logs) when training begins and ends. The logs are Keras': empty at the start of an epoch or
    batch, the means so far at a batch's end, the epoch's logs at its end, the last epoch's logs
    when training ends."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, on_batch_begin=None, on_batch_end=None):
        self.epoch_begin, self.epoch_end = on_epoch_begin, on_epoch_end
        self.train_begin, self.train_end = on_train_begin, on_train_end
        self.batch_begin = on_train_batch_begin or on_batch_begin
        self.batch_end = on_train_batch_end or on_batch_end
        self.last_logs = None

    def on_train_begin(self):
        self.last_logs = None
        if self.train_begin is not None:
            self.train_begin({})

    def on_epoch_begin(self, model, epoch):
        if self.epoch_begin is not None:
            self.epoch_begin(epoch, {})

    def on_batch_begin(self, model, batch):
        if self.batch_begin is not None:
            self.batch_begin(batch, {})

    def on_batch_end(self, model, batch, logs):
        if self.batch_end is not None:
            self.batch_end(batch, logs)

    def on_epoch_end(self, model, epoch, logs):
        self.last_logs = logs
        if self.epoch_end is not None:
            self.epoch_end(epoch, logs)

    def on_train_end(self, model):
        if self.train_end is not None:
            self.train_end(self.last_logs)


class History:
    """Keras' History given as a callback: `fit` returns its own history too; this one collects
    every epoch's logs in `.history` (across several fits, as Keras does) and the epoch numbers of
    the latest fit in `.epoch`."""

    def __init__(self):
        self.history, self.epoch = {}, []

    def on_train_begin(self):
        self.epoch = []

    def on_epoch_end(self, model, epoch, logs):
        self.epoch.append(epoch)
        for name, value in logs.items():
            self.history.setdefault(name, []).append(value)


class ProgbarLogger:
    """Keras' ProgbarLogger: the progress lines are printed by `fit` itself, as its `verbose` says
    (Keras 3 also takes the verbosity from fit), so this callback does nothing more."""

    def __init__(self, count_mode="samples", stateful_metrics=None):
        self.count_mode, self.stateful_metrics = count_mode, stateful_metrics

    def on_epoch_end(self, model, epoch, logs):
        pass


class BackupAndRestore:
    """Keras' BackupAndRestore: at each epoch's end (or every `save_freq` batches) the model's and
    the optimizer's states go to backup_dir with the number of finished epochs; a `fit` that finds
    a backup restores it and starts at that epoch. The backup is deleted when training ends
    (unless delete_checkpoint=False); double_checkpoint keeps the previous one as a fallback."""

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        import os

        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        if save_freq != "epoch" and not isinstance(save_freq, int):
            raise ValueError(f"Invalid value for argument `save_freq`. Received: save_freq={save_freq}. "
                             "Expected either 'epoch' or an integer value.")
        self.backup_dir, self.save_freq = str(backup_dir), save_freq
        self.double_checkpoint, self.delete_checkpoint = double_checkpoint, delete_checkpoint
        self.path = os.path.join(self.backup_dir, "latest.pt")
        self.epoch, self.batches = 0, 0

    def restore(self, model, initial_epoch):
        import os

        path = self.path
        if not os.path.exists(path) and os.path.exists(f"{path}.bkp"):
            path = f"{path}.bkp"
        if not os.path.exists(path):
            return initial_epoch
        state = torch.load(path, weights_only=False)
        model.load_state_dict(state["model"])
        if state.get("optimizer") is not None and getattr(model, "optimizer", None) is not None:
            model.optimizer.load_state_dict(state["optimizer"])
        return state["epoch"]

    def save(self, model):
        import os
        import shutil

        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self.path):
            shutil.copyfile(self.path, f"{self.path}.bkp")
        optimizer = getattr(model, "optimizer", None)
        torch.save({"model": model.state_dict(), "epoch": self.epoch,
                    "optimizer": optimizer.state_dict() if optimizer is not None else None}, self.path)

    def on_epoch_begin(self, model, epoch):
        self.epoch = epoch

    def on_batch_end(self, model, batch, logs):
        if self.save_freq == "epoch":
            return
        self.batches += 1
        if self.batches >= self.save_freq:
            self.batches = 0
            self.save(model)

    def on_epoch_end(self, model, epoch, logs):
        self.epoch = epoch + 1
        if self.save_freq == "epoch":
            self.save(model)

    def on_train_end(self, model):
        import os
        import shutil

        if self.delete_checkpoint and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)


class RemoteMonitor:
    """Keras' RemoteMonitor: POSTs each epoch's logs, with `epoch`, to root + path: as JSON with
    send_as_json, otherwise as a form whose `field` holds the JSON. A server that cannot be
    reached gets a printed warning, and training goes on."""

    def __init__(self, root="http://localhost:9000", path="/publish/epoch/end/", field="data", headers=None,
                 send_as_json=False):
        self.root, self.path, self.field = root, path, field
        self.headers, self.send_as_json = headers, send_as_json

    def on_epoch_end(self, model, epoch, logs):
        import json
        import urllib.error
        import urllib.parse
        import urllib.request

        message = {"epoch": epoch, **{name: float(value) for name, value in logs.items()}}
        headers = dict(self.headers or {})
        if self.send_as_json:
            body = json.dumps(message).encode()
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(message)}).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        request = urllib.request.Request(self.root + self.path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except (urllib.error.URLError, OSError):
            print(f"Warning: Could not reach RemoteMonitor root server at {self.root}")
