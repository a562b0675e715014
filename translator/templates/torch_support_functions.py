"""Tensor functions the script writes itself: Lambda layers, custom losses and metrics."""

import numpy as np
import torch
from torch import nn

from .torch_support import inputs, keras_output, targets
from .torch_support_metrics import aligned


class KerasLambda(nn.Module):
    """Keras' Lambda layer: the function applied to the input as Keras holds it (channels last)."""

    def __init__(self, function, arguments=None):
        super().__init__()
        self.function, self.arguments = function, dict(arguments or {})

    def forward(self, x):
        return self.function(x, **self.arguments)


def keras_target(y, y_pred):
    """y_true as Keras hands it to a loss function: cast to the predictions' dtype, rank matched."""
    return aligned(y_pred, y.to(y_pred.dtype))[1]


class KerasLossFunction:
    """A loss the script defines as fn(y_true, y_pred): called predictions first, as the translated
    losses are, and averaged over the batch as Keras reduces it."""

    def __init__(self, function):
        self.function = function
        self.__name__ = getattr(function, "__name__", "loss")

    def __call__(self, y_pred, y):
        return self.function(keras_target(y, y_pred), y_pred).mean()


class KerasMetricFunction(KerasLossFunction):
    """A metric the script defines as fn(y_true, y_pred): its mean over the batch, as Keras logs it."""


class KerasLossObject:
    """A Keras loss object used outside compile(), called as Keras calls it: loss(y_true, y_pred),
    arrays or tensors, giving the loss averaged over the batch."""

    def __init__(self, loss):
        self.loss = loss  # the translated loss: predictions first

    def __call__(self, y_true, y_pred):
        y_pred = y_pred if torch.is_tensor(y_pred) else torch.as_tensor(np.asarray(y_pred, dtype=np.float32))
        return self.loss(y_pred, y_true if torch.is_tensor(y_true) else targets(y_true))


def keras_call(model, x, training=False):
    """`model(x)` as Keras runs it: arrays or tensors in, inference mode (dropout off) unless
    training=True, the output activation applied, a tensor out."""
    was_training = model.training
    model.train(bool(training))
    try:
        with torch.set_grad_enabled(bool(training)):
            xb = inputs(x, model)
            out = model(*xb) if isinstance(xb, tuple) else model(xb)
        return keras_output(model, out)
    finally:
        model.train(was_training)
