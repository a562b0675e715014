"""Support code for functional graphs (Keras' merge layers) and regularized models."""

import torch
import torch.nn.functional as F
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


class KerasDot(nn.Module):
    """Keras' Dot: the dot product of two tensors over one axis each, sample by sample. `axes`
    count the batch axis, as Keras counts them (a negative one from each tensor's own rank);
    the result holds the first tensor's other axes, then the second's; a single value per sample
    stays a column. normalize=True takes the cosine: each input L2-normalised first (eps 1e-7)."""

    def __init__(self, axes, normalize=False):
        super().__init__()
        self.axes, self.normalize = axes, normalize

    def forward(self, x, y):
        a, b = self.axes if isinstance(self.axes, (list, tuple)) else (self.axes, self.axes)
        a, b = a % x.dim(), b % y.dim()
        if self.normalize:
            x, y = F.normalize(x, dim=a, eps=1e-7), F.normalize(y, dim=b, eps=1e-7)
        x, y = x.movedim(a, -1), y.movedim(b, 1)  # (batch, ..., k) and (batch, k, ...)
        out = torch.bmm(x.reshape(len(x), -1, x.shape[-1]), y.reshape(len(y), y.shape[1], -1))
        out = out.reshape(len(x), *x.shape[1:-1], *y.shape[2:])
        return out.unsqueeze(-1) if out.dim() == 1 else out


def with_regularization(model, loss_fn):
    """The loss plus the model's regularizers (kernel, bias and activity), as Keras adds them to
    the loss (in training, validation and evaluate alike)."""
    def loss(out, y):
        return loss_fn(out, y) + model.regularization()
    return loss
