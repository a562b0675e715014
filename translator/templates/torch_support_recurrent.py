"""Keras' LSTM, GRU and SimpleRNN computed one time step at a time, for what torch's fused RNNs
cannot do: any activation and recurrent activation (LSTM(activation='relu'), GRU with
hard_sigmoid gates, ...), GRU(reset_after=False) in every form, go_backwards, unit_forget_bias=False
and Keras' recurrent dropout. Weights keep Keras' layout (`kernel`, `recurrent_kernel`, `bias`)
and gate order, so they copy from Keras unchanged."""

import copy

import torch
import torch.nn.functional as F
from torch import nn

#: Keras 3's activations by name, each as the torch function that computes the same values.
KERAS_STEP_ACTIVATIONS = {
    "linear": lambda x: x,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": F.hardsigmoid,  # Keras 3: relu6(x + 3) / 6 (Keras 2's was clip(0.2x + 0.5))
    "relu": F.relu,
    "relu6": F.relu6,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "elu": F.elu,
    "selu": F.selu,
    "celu": F.celu,
    "gelu": F.gelu,  # the exact (erf) form, as Keras' string "gelu"
    "silu": F.silu,
    "swish": F.silu,
    "hard_silu": F.hardswish,
    "hard_swish": F.hardswish,
    "mish": F.mish,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "exponential": torch.exp,
    "log_sigmoid": F.logsigmoid,
    "hard_tanh": F.hardtanh,
    "tanh_shrink": F.tanhshrink,
    "soft_shrink": F.softshrink,
    "hard_shrink": F.hardshrink,
    "sparse_sigmoid": lambda x: ((x + 1) / 2).clamp(0, 1),
    "squareplus": lambda x: (x + torch.sqrt(x * x + 4)) / 2,
    "sparse_plus": lambda x: torch.where(x <= -1, torch.zeros_like(x),
                                         torch.where(x < 1, (x + 1) ** 2 / 4, x)),
    "softmax": lambda x: torch.softmax(x, dim=-1),
    "log_softmax": lambda x: torch.log_softmax(x, dim=-1),
}


class KerasRecurrentSteps(nn.Module):
    """What Keras' LSTM, GRU and SimpleRNN share: the Keras-layout weights and their initial
    values, the loop over time (backwards with go_backwards), and Keras' dropout masks, drawn once
    per batch and shared by every step. A subclass gives the gate count and the step itself."""

    gates = 1

    def __init__(self, input_size, units, activation="tanh", recurrent_activation="sigmoid", bias=True,
                 return_sequences=False, go_backwards=False, dropout=0.0, recurrent_dropout=0.0,
                 bias_rows=None, return_state=False):
        super().__init__()
        for name in (activation, recurrent_activation):
            if name not in KERAS_STEP_ACTIVATIONS:
                raise ValueError(f"unknown Keras activation {name!r}")
        self.units, self.activation, self.recurrent_activation = units, activation, recurrent_activation
        self.return_sequences, self.go_backwards, self.return_state = return_sequences, go_backwards, return_state
        self.dropout, self.recurrent_dropout = dropout, recurrent_dropout
        width = self.gates * units
        self.kernel = nn.Parameter(torch.empty(input_size, width))
        self.recurrent_kernel = nn.Parameter(torch.empty(units, width))
        shape = (width,) if bias_rows is None else (bias_rows, width)
        self.bias = nn.Parameter(torch.empty(shape)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        """Keras' initial weights: glorot-uniform kernel, orthogonal recurrent kernel, zero bias."""
        nn.init.xavier_uniform_(self.kernel)
        nn.init.orthogonal_(self.recurrent_kernel)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def extra_repr(self):
        return (f"{self.kernel.shape[0]}, {self.units}, activation={self.activation!r}, "
                f"recurrent_activation={self.recurrent_activation!r}")

    def act(self, x):
        return KERAS_STEP_ACTIVATIONS[self.activation](x)

    def recurrent_act(self, x):
        return KERAS_STEP_ACTIVATIONS[self.recurrent_activation](x)

    def _masks(self, like, rate, count):
        """`count` dropout masks shaped like `like`, or None when nothing is dropped."""
        if not (self.training and rate > 0):
            return None
        return [F.dropout(torch.ones_like(like), rate, True) for _ in range(count)]

    def project(self, x):
        """Each step's input through the kernel and the input bias: (batch, time, gates * units).
        With recurrent dropout Keras drops the input once per gate, otherwise once for all."""
        masks = self._masks(x[:, 0], self.dropout, self.gates if self.recurrent_dropout else 1)
        if masks is None:
            z = x @ self.kernel
        elif len(masks) == 1:
            z = (x * masks[0].unsqueeze(1)) @ self.kernel
        else:
            parts = self.kernel.chunk(self.gates, dim=-1)
            z = torch.cat([(x * m.unsqueeze(1)) @ k for m, k in zip(masks, parts)], dim=-1)
        if self.bias is not None:
            z = z + (self.bias if self.bias.dim() == 1 else self.bias[0])
        return z

    def initial_state(self, x):
        return x.new_zeros(x.shape[0], self.units)

    def state_list(self, state):
        """The state as Keras lists it (return_state, initial_state): [h], or [h, c] for an LSTM."""
        return [state]

    def step(self, z, state, masks):
        raise NotImplementedError

    def forward(self, x, *initial_state):
        if self.go_backwards:
            x = x.flip(1)
        state = self.initial_state(x) if not initial_state else \
            initial_state[0] if len(initial_state) == 1 else tuple(initial_state)
        masks = self._masks(x.new_zeros(x.shape[0], self.units), self.recurrent_dropout, self.gates)
        outputs = []
        for z in self.project(x).unbind(1):
            h, state = self.step(z, state, masks)
            outputs.append(h)
        y = torch.stack(outputs, 1) if self.return_sequences else outputs[-1]
        return (y, *self.state_list(state)) if self.return_state else y


class KerasLSTMSteps(KerasRecurrentSteps):
    """Keras' LSTM with any activations: gates i, f, c, o in Keras' order; the forget gate's bias
    starts at one unless unit_forget_bias=False."""

    gates = 4

    def __init__(self, input_size, units, unit_forget_bias=True, **options):
        self.unit_forget_bias = unit_forget_bias
        super().__init__(input_size, units, **options)

    def reset_parameters(self):
        super().reset_parameters()
        if self.bias is not None and self.unit_forget_bias:
            nn.init.ones_(self.bias[self.units:2 * self.units])

    def initial_state(self, x):
        h = x.new_zeros(x.shape[0], self.units)
        return h, h

    def state_list(self, state):
        return list(state)

    def step(self, z, state, masks):
        h, c = state
        if masks is None:
            z = z + h @ self.recurrent_kernel
        else:  # one recurrent dropout mask per gate
            parts = self.recurrent_kernel.chunk(4, dim=-1)
            z = z + torch.cat([(h * m) @ k for m, k in zip(masks, parts)], dim=-1)
        i, f, g, o = z.chunk(4, dim=-1)
        c = self.recurrent_act(f) * c + self.recurrent_act(i) * self.act(g)
        h = self.recurrent_act(o) * self.act(c)
        return h, (h, c)


class KerasGRUSteps(KerasRecurrentSteps):
    """Keras' GRU with any activations, gates z, r, h in Keras' order. reset_after=True (Keras 3's
    default) resets after the recurrent product and has a (2, 3*units) bias, input and recurrent
    rows; reset_after=False resets the state before it and has one (3*units) bias."""

    gates = 3

    def __init__(self, input_size, units, reset_after=True, **options):
        self.reset_after = reset_after
        super().__init__(input_size, units, bias_rows=2 if reset_after else None, **options)

    def step(self, z, h, masks):
        u, w = self.units, self.recurrent_kernel
        hz, hr, hh = (h, h, h) if masks is None else (h * masks[0], h * masks[1], h * masks[2])
        if masks is None:
            inner = h @ (w if self.reset_after else w[:, :2 * u])
        else:  # one recurrent dropout mask per gate
            inner = torch.cat([hz @ w[:, :u], hr @ w[:, u:2 * u]]
                              + ([hh @ w[:, 2 * u:]] if self.reset_after else []), dim=-1)
        if self.reset_after and self.bias is not None:
            inner = inner + self.bias[1]
        x_z, x_r, x_h = z.chunk(3, dim=-1)
        update = self.recurrent_act(x_z + inner[:, :u])
        reset = self.recurrent_act(x_r + inner[:, u:2 * u])
        if self.reset_after:
            candidate = self.act(x_h + reset * inner[:, 2 * u:])
        else:
            candidate = self.act(x_h + (reset * hh) @ w[:, 2 * u:])
        h = update * h + (1 - update) * candidate
        return h, h


class KerasSimpleRNNSteps(KerasRecurrentSteps):
    """Keras' SimpleRNN with any activation: h = activation(x W + b + h U)."""

    def __init__(self, input_size, units, activation="tanh", **options):
        super().__init__(input_size, units, activation=activation, **options)

    def step(self, z, h, masks):
        if masks is not None:
            h = h * masks[0]
        h = self.act(z + h @ self.recurrent_kernel)
        return h, h


class KerasBidirectionalSteps(nn.Module):
    """Keras' Bidirectional around a step-by-step RNN: the backward copy starts from its own
    Keras-initialised weights and reads the sequence from the end; with return_sequences its
    outputs are put back in time order before the two directions merge."""

    def __init__(self, layer, merge_mode="concat"):
        super().__init__()
        self.forward_layer = layer
        self.backward_layer = copy.deepcopy(layer)
        self.backward_layer.go_backwards = True
        self.backward_layer.reset_parameters()
        self.merge_mode = merge_mode

    def forward(self, x, *initial_state):
        half = len(initial_state) // 2  # Keras lists the forward layer's states first
        y, y_rev = self.forward_layer(x, *initial_state[:half]), self.backward_layer(x, *initial_state[half:])
        states = []
        if self.forward_layer.return_state:
            (y, *states), (y_rev, *states_rev) = y, y_rev
            states += states_rev
        if self.backward_layer.return_sequences:
            y_rev = y_rev.flip(1)
        if self.merge_mode == "concat":
            y = torch.cat([y, y_rev], dim=-1)
        elif self.merge_mode == "sum":
            y = y + y_rev
        elif self.merge_mode == "mul":
            y = y * y_rev
        else:  # "ave"
            y = (y + y_rev) / 2
        return (y, *states) if states else y
