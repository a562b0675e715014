"""Tensor functions the script writes itself: Lambda layers, custom losses and metrics."""

from torch import nn


class KerasLambda(nn.Module):
    """Keras' Lambda layer: the function applied to the input as Keras holds it (channels last)."""

    def __init__(self, function, arguments=None):
        super().__init__()
        self.function, self.arguments = function, dict(arguments or {})

    def forward(self, x):
        return self.function(x, **self.arguments)


def keras_target(y, y_pred):
    """y_true as Keras hands it to a loss function: cast to the predictions' dtype, rank matched."""
    y = y.to(y_pred.dtype)
    if y.dim() == y_pred.dim() - 1:
        y = y.unsqueeze(-1)
    elif y.dim() == y_pred.dim() + 1 and y.shape[-1] == 1:
        y = y.squeeze(-1)
    return y


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
