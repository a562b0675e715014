"""Support code for functional graphs (Keras' merge layers) and regularized models."""

import torch
from torch import nn


class Merge(nn.Module):
    """Keras' merge layers (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate) over
    tensors held as Keras holds them (channels last), so `axis` means what it means in Keras."""

    def __init__(self, op, axis=-1):
        super().__init__()
        self.op, self.axis = op, axis

    def forward(self, *xs):
        if self.op == "concatenate":
            return torch.cat(xs, dim=self.axis)
        if self.op == "subtract":
            return xs[0] - xs[1]
        out = xs[0]
        for x in xs[1:]:
            out = {"add": torch.add, "average": torch.add, "multiply": torch.mul,
                   "maximum": torch.maximum, "minimum": torch.minimum}[self.op](out, x)
        return out / len(xs) if self.op == "average" else out


def with_regularization(model, loss_fn):
    """The loss plus the model's regularizers (kernel, bias and activity), as Keras adds them to
    the loss (in training, validation and evaluate alike)."""
    def loss(out, y):
        return loss_fn(out, y) + model.regularization()
    return loss
