"""Support code copied into translated fastai scripts: each definition is emitted only when used.

Definitions not found here (losses, metrics, `inputs`, `summary`, ...) come from torch_support.py.
"""

import copy
import math
import time
import types

import numpy as np
from fastai.callback.core import Callback, CancelFitException, CancelTrainException
from fastai.callback.progress import ProgressCallback
from fastai.callback.tracker import EarlyStoppingCallback, TrackerCallback
from fastai.callback.tracker import ReduceLROnPlateau as ReduceLROnPlateauCallback
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner, Metric  # noqa: F401 - Learner is what `compile` becomes
from fastai.optimizer import OptimWrapper

from .torch_support import batches, inputs, keras_output, log_epoch, rows, take, targets


def keras_optimizer(make_optimizer):
    """fastai's opt_func for a torch.optim optimizer built with Keras' hyper-parameters.

    The optimizer is torch's, wrapped in fastai's OptimWrapper, so Keras' epsilon, betas and
    weight decay hold (fastai's own Adam would use eps 1e-5, sqr_mom 0.99, wd 0.01). The
    learning rate is the optimizer's too: fastai's Learner lr is not applied to it.
    """
    return lambda params, lr=None: OptimWrapper(opt=make_optimizer(params))


class KerasMetric(Metric):
    """A Keras metric in fastai: averaged over samples, on the output as Keras gives it."""

    def __init__(self, name, func):
        self.keras_name, self.func = name, func
        self.reset()

    def reset(self):
        self.total, self.count = 0.0, 0

    def accumulate(self, learn):
        y = learn.yb[0]
        y_pred = keras_output(learn.model, learn.pred.detach())
        self.total += float(self.func(y_pred, y)) * len(y)
        self.count += len(y)

    @property
    def value(self):
        return self.total / self.count if self.count else None

    @property
    def name(self):
        return self.keras_name


class ArrayLoader(DataLoader):
    """A fastai DataLoader over (x, y) tensors with Keras' batches (see `batches`).

    Rows are sliced directly: no per-item collation, and no random draws beyond the shuffle.
    """

    def __init__(self, x, y, batch_size, shuffle=False):
        super().__init__(n=rows(x), bs=batch_size, drop_last=False)
        self.x, self.y, self.keras_shuffle = x, y, shuffle

    def __iter__(self):
        for idx in batches(rows(self.x), self.bs, self.keras_shuffle):
            xb, yb = take(self.x, idx), take(self.y, idx)
            yield (*xb, yb) if isinstance(xb, tuple) else (xb, yb)  # fastai: the last item is the target


def keras_dataloaders(x, y, batch_size, validation_split=0.0, validation_data=None, shuffle=True, model=None):
    """Training and validation DataLoaders split as Keras splits; the validation set may be empty."""
    x, y = inputs(x, model), targets(y, model)
    if validation_data is not None:
        x_val, y_val = inputs(validation_data[0], model), targets(validation_data[1], model)
    else:
        split = math.floor(rows(x) * (1 - validation_split))  # Keras validates on the last rows
        train, valid = slice(None, split), slice(split, None)
        x, y, x_val, y_val = take(x, train), take(y, train), take(x, valid), take(y, valid)
    return DataLoaders(ArrayLoader(x, y, batch_size, shuffle), ArrayLoader(x_val, y_val, batch_size))


def keras_monitor(monitor):
    """The Recorder's name for a Keras log key ("val_loss" is "valid_loss", "loss" is "train_loss")."""
    return f"valid_{monitor[4:]}" if monitor.startswith("val_") else f"train_{monitor}"


def keras_comparison(mode, monitor):
    """Keras' improvement test: mode "auto" maximises accuracies and minimises everything else."""
    if mode == "max" or (mode == "auto" and "acc" in monitor):
        return np.greater
    return np.less


class KerasModelView:
    """What a Keras-style callback (the PyTorch target's, such as CSVLogger or TerminateOnNaN) sees
    of a fastai Learner: the model, with the torch optimizer and a stop_training flag beside it."""

    def __init__(self, learn):
        # a translated optimizer is wrapped in fastai's OptimWrapper; fastai's own has no torch one
        self.learn, self.optimizer, self.stop_training = learn, getattr(learn.opt, "opt", learn.opt), False

    def __getattr__(self, name):
        return getattr(self.learn.model, name)


class KerasLogger(Callback):
    """Makes the Recorder log what Keras logs, prints Keras' epoch lines and keeps the History.

    fastai's Recorder reports a smoothed training loss; Keras reports the mean over the epoch's
    samples, so that value replaces it before any tracker callback reads it.

    It also runs the Keras-style callbacks (those that are not fastai Callbacks) as the PyTorch
    target's `fit` does: on_train_begin, on_epoch_begin, on_batch_begin / on_batch_end on training
    batches (the logs hold the running mean loss), on_epoch_end with Keras' logs (before they go to
    the History, so that what a callback adds, such as `learning_rate`, is kept) and on_train_end.
    A callback that sets stop_training ends the epoch's training there; validation still runs and
    the fit stops after the epoch, as in Keras.
    """

    order = 55  # after the Recorder (50), before the tracker callbacks (60 and up)

    def __init__(self, verbose, epochs, initial_epoch, history, callbacks=()):
        self.verbose, self.epochs, self.initial_epoch, self.history = verbose, epochs, initial_epoch, history
        self.keras_callbacks, self.view = list(callbacks), None

    def keras_hook(self, name, *args):
        for callback in self.keras_callbacks:
            if hasattr(callback, name):
                getattr(callback, name)(*args)

    def before_fit(self):
        self.view = KerasModelView(self.learn)
        self.keras_hook("on_train_begin")

    def before_epoch(self):
        self.start, self.total, self.count = time.perf_counter(), 0.0, 0
        self.keras_hook("on_epoch_begin", self.view, self.initial_epoch + self.epoch)

    def before_batch(self):
        if self.training:
            self.keras_hook("on_batch_begin", self.view, self.iter)

    def after_batch(self):
        if self.training:
            self.total += float(self.learn.loss.detach()) * len(self.yb[0])
            self.count += len(self.yb[0])
            self.keras_hook("on_batch_end", self.view, self.iter, {"loss": self.total / self.count})
            if self.view.stop_training:
                raise CancelTrainException()

    def after_epoch(self):
        values = self.recorder.values[-1]
        values[0] = self.total / max(self.count, 1)
        names = [n.replace("train_", "", 1).replace("valid_", "val_", 1) for n in self.recorder.metric_names[1:]]
        logs = {name: value for name, value in zip(names, values, strict=False) if value is not None}
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        logs = {**dict(sorted(train.items())), **dict(sorted((k, v) for k, v in logs.items() if k not in train))}
        if any(getattr(cb, "logs_learning_rate", False) for cb in self.learn.cbs):
            logs["learning_rate"] = self.opt.hypers[-1]["lr"]
        epoch = self.initial_epoch + self.epoch
        for callback in self.keras_callbacks:
            callback.on_epoch_end(self.view, epoch, logs)
        self.history.epoch.append(epoch)
        for name, value in logs.items():
            self.history.history.setdefault(name, []).append(value)
        if self.verbose:
            if self.epochs > 1:
                print(f"Epoch {epoch + 1}/{self.epochs}")
            log_epoch(self.verbose, len(self.dls.train), time.perf_counter() - self.start, logs)
        if self.view.stop_training:
            raise CancelFitException()

    def after_fit(self):
        self.keras_hook("on_train_end", self.view)


def quiet(learn):
    """The Learner without fastai's progress bars: Keras' own lines are printed instead."""
    learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, ProgressCallback)])
    return learn


def fit(learn, x, y, batch_size=None, epochs=1, verbose="auto", callbacks=None,
        validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0):
    """Keras' Model.fit on a fastai Learner: `learn.fit` at Keras' constant learning rate.

    Returns a History-like object whose .history has Keras' keys, built from the Recorder.
    """
    learn.dls = keras_dataloaders(x, y, batch_size or 32, validation_split, validation_data, shuffle, learn.model)
    quiet(learn).recorder.train_metrics = True  # Keras logs every metric on the training data too
    if learn.opt is None:
        learn.create_opt()
    history = types.SimpleNamespace(history={}, epoch=[])
    keras_callbacks = [c for c in callbacks or [] if not isinstance(c, Callback)]
    for callback in keras_callbacks:
        if hasattr(callback, "restore"):  # BackupAndRestore: resume where an interrupted run stopped
            initial_epoch = callback.restore(KerasModelView(learn), initial_epoch)
    logger = KerasLogger(1 if verbose == "auto" else verbose, epochs, initial_epoch, history, keras_callbacks)
    with learn.no_logging():
        # the optimizer's own rate, so a rate lowered by ReduceLROnPlateau carries on as in Keras
        learn.fit(epochs - initial_epoch, lr=learn.opt.hypers[-1]["lr"],
                  cbs=[logger, *(c for c in callbacks or [] if isinstance(c, Callback))])
    return history


def evaluate(learn, x, y, batch_size=None, verbose="auto", return_dict=False):
    """Keras' Model.evaluate with `learn.validate`: the loss alone, or [loss, *metrics]."""
    start = time.perf_counter()
    dl = ArrayLoader(inputs(x, learn.model), targets(y, learn.model), batch_size or 32)
    if not learn.dls.loaders:  # evaluate before any fit: the Learner has no data yet
        learn.dls = DataLoaders(dl, dl)
    values = [float(v) for v in quiet(learn).validate(dl=dl)]
    logs = {"loss": values[0], **{m.name: v for m, v in zip(learn.metrics, values[1:], strict=True)}}
    if verbose:
        log_epoch(1 if verbose == "auto" else verbose, len(dl), time.perf_counter() - start, dict(sorted(logs.items())))
    if return_dict:
        return dict(sorted(logs.items()))
    return values if len(values) > 1 else values[0]


class EarlyStopping(EarlyStoppingCallback):
    """Keras' EarlyStopping on fastai's EarlyStoppingCallback, with Keras' arguments and defaults.

    As in Keras, the best weights (restore_best_weights) come back when training ends, stopped early
    or not, and the messages are printed only with verbose.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor=keras_monitor(monitor), comp=keras_comparison(mode, monitor),
                         min_delta=abs(min_delta), patience=patience)
        self.verbose, self.restore_best_weights, self.start_from_epoch = verbose, restore_best_weights, start_from_epoch

    def before_fit(self):
        self.best_state, self.best_epoch, self.stopped_epoch = None, 0, 0
        super().before_fit()

    def after_epoch(self):
        if self.recorder.values[-1][self.idx] is None or self.epoch < self.start_from_epoch:
            return  # Keras skips a monitor it does not have (no validation data)
        if self.restore_best_weights and self.best_state is None:
            self.best_state, self.best_epoch = copy.deepcopy(self.learn.model.state_dict()), self.epoch
        self.wait += 1
        TrackerCallback.after_epoch(self)
        if self.new_best:
            self.wait, self.best_epoch = 0, self.epoch
            if self.restore_best_weights:
                self.best_state = copy.deepcopy(self.learn.model.state_dict())
            return
        if self.wait >= self.patience and self.epoch > 0:
            self.stopped_epoch = self.epoch
            raise CancelFitException()

    def after_fit(self):
        super().after_fit()
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.best_state is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.learn.model.load_state_dict(self.best_state)


class ReduceLROnPlateau(ReduceLROnPlateauCallback):
    """Keras' ReduceLROnPlateau on fastai's: Keras multiplies by `factor`, fastai divides by it."""

    logs_learning_rate = True  # with it, Keras' logs and History carry "learning_rate"

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__(monitor=keras_monitor(monitor), comp=keras_comparison(mode, monitor),
                         min_delta=min_delta, patience=patience, factor=1 / factor, min_lr=min_lr)
        self.verbose, self.cooldown = verbose, cooldown

    def before_fit(self):
        self.cooldown_counter = 0
        super().before_fit()

    def after_epoch(self):
        if self.recorder.values[-1][self.idx] is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        TrackerCallback.after_epoch(self)
        if self.new_best:
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = self.opt.hypers[-1]["lr"]
                if old_lr > self.min_lr:
                    # set_hyper reaches the wrapped torch optimizer; OptimWrapper.hypers are copies
                    self.opt.set_hyper("lr", max(old_lr / self.factor, self.min_lr))
                    if self.verbose:
                        print(f"Epoch {self.epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                              f"{self.opt.hypers[-1]['lr']}.")
                self.cooldown_counter, self.wait = self.cooldown, 0
