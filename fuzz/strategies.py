"""Hypothesis strategies for random valid Keras Sequential models, rendered as runnable scripts."""

# A model is drawn as a stack of layer specs whose hyper-parameters are valid for the shape that
# reaches them (shapes are tracked while drawing, so every stack builds), then rendered in one of
# the styles real scripts use: import forms, list or .add() construction, Input or input_shape,
# positional or keyword arguments, string or object optimizers and losses.

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hypothesis import strategies as st

ACTIVATIONS = ("relu", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign", "gelu", "swish",
               "silu", "leaky_relu", "relu6", "hard_sigmoid", "linear", "softmax")
OPTIMIZERS = {  # Keras class -> the string compile accepts and hyper-parameters worth varying
    "Adam": ("adam", {"learning_rate": (0.001, 0.01), "beta_1": (0.8, 0.9), "amsgrad": (True,)}),
    "AdamW": ("adamw", {"learning_rate": (0.001, 0.005), "weight_decay": (0.01, 0.004)}),
    "SGD": ("sgd", {"learning_rate": (0.01, 0.1), "momentum": (0.9, 0.5),
                    "nesterov": (True,)}),
    "RMSprop": ("rmsprop", {"learning_rate": (0.001, 0.01), "rho": (0.8, 0.95),
                            "momentum": (0.5,), "centered": (True,)}),
    "Adagrad": ("adagrad", {"learning_rate": (0.01, 0.1)}),
    "Adadelta": ("adadelta", {"learning_rate": (1.0, 0.5), "rho": (0.9,)}),
    "Adamax": ("adamax", {"learning_rate": (0.002, 0.01)}),
    "Nadam": ("nadam", {"learning_rate": (0.002, 0.01)}),
}
STYLES = ("keras", "layers", "tf", "from_tf", "names", "tf_layers")


@dataclass(frozen=True)
class LayerSpec:
    """One layer: its Keras class and arguments as source text (key None: positional)."""

    cls: str
    args: tuple[tuple[str | None, str], ...] = ()


@dataclass(frozen=True)
class Task:
    """What the model learns: the head, the loss as written, the targets and the metrics."""

    kind: str  # sparse, categorical, binary, regression
    outputs: int
    head: str  # the last Dense's activation (None: no argument)
    loss: str  # source text; `{k}` stands for the keras prefix
    metrics: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    input_shape: tuple[int, ...]
    layers: tuple[LayerSpec, ...]
    task: Task
    optimizer: str  # source text with `{k}` for the keras prefix
    style: str
    build: str  # list, add
    input_form: str  # input, input_shape
    batch_size: int | None
    rows: int
    seed: int
    validation_split: float | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def layer_classes(self) -> tuple[str, ...]:
        return tuple(sorted({spec.cls for spec in self.layers}))


# --- shape arithmetic (Keras' rules) ------------------------------------------------------------

def conv_out(n: int, kernel: int, stride: int, padding: str, dilation: int = 1) -> int:
    if padding == "same":
        return math.ceil(n / stride)
    return (n - dilation * (kernel - 1) - 1) // stride + 1


def _pair(draw, low: int, high: int, square_bias: bool = True) -> tuple[int, int]:
    a = draw(st.integers(low, high))
    if square_bias and draw(st.booleans()):
        return a, a
    return a, draw(st.integers(low, high))


def _form2(draw, pair: tuple[int, int]) -> str:
    """A 2-D size written as Keras users write it: an int when square, or a tuple."""
    if pair[0] == pair[1] and draw(st.booleans()):
        return str(pair[0])
    return f"({pair[0]}, {pair[1]})"


# --- layer draws per rank -----------------------------------------------------------------------

def _activation(draw, allow_none: bool = True) -> str | None:
    if allow_none and draw(st.booleans()):
        return None
    return draw(st.sampled_from(ACTIVATIONS))


def _args(draw, required: list[tuple[str, str]], optional: list[tuple[str, str]]):
    """Required arguments positional or by keyword; optional ones in a drawn order."""
    positional = draw(st.booleans())
    out: list[tuple[str | None, str]] = [(None if positional else k, v) for k, v in required]
    if optional:
        order = draw(st.permutations(optional))
        out.extend(order)
    return tuple(out)


def _elementwise(draw, shape: tuple[int, ...]) -> tuple[LayerSpec, tuple[int, ...]]:
    """Layers that keep the shape: dropout, activations, normalisation."""
    kind = draw(st.sampled_from(["Dropout", "Activation", "ReLU", "LeakyReLU", "ELU",
                                 "BatchNormalization", "LayerNormalization", "Softmax"]))
    if kind == "Dropout":
        rate = draw(st.sampled_from(["0.1", "0.25", "0.5"]))
        return LayerSpec(kind, _args(draw, [("rate", rate)], [])), shape
    if kind == "Activation":
        act = draw(st.sampled_from(ACTIVATIONS))
        return LayerSpec(kind, _args(draw, [("activation", repr(act))], [])), shape
    if kind == "ReLU":
        optional = []
        if draw(st.booleans()):
            optional.append(("max_value", draw(st.sampled_from(["6.0", "1.0", "3"]))))
        if draw(st.booleans()):
            optional.append(("negative_slope", draw(st.sampled_from(["0.1", "0.01"]))))
        return LayerSpec(kind, _args(draw, [], optional)), shape
    if kind == "LeakyReLU":
        optional = [("negative_slope", draw(st.sampled_from(["0.1", "0.2", "0.05"])))] \
            if draw(st.booleans()) else []
        return LayerSpec(kind, _args(draw, [], optional)), shape
    if kind == "ELU":
        optional = [("alpha", draw(st.sampled_from(["0.5", "1.5"])))] if draw(st.booleans()) else []
        return LayerSpec(kind, _args(draw, [], optional)), shape
    if kind == "Softmax":
        return LayerSpec(kind, ()), shape
    optional = []
    if draw(st.booleans()):
        optional.append(("epsilon", draw(st.sampled_from(["1e-5", "0.01", "1e-3"]))))
    if kind == "BatchNormalization" and draw(st.booleans()):
        optional.append(("momentum", draw(st.sampled_from(["0.9", "0.8", "0.99"]))))
    if draw(st.integers(0, 3)) == 0:  # only one of them off has no torch form (a TODO)
        optional += [("center", "False"), ("scale", "False")]
    return LayerSpec(kind, _args(draw, [], optional)), shape


def _dense(draw, shape: tuple[int, ...]) -> tuple[LayerSpec, tuple[int, ...]]:
    units = draw(st.integers(1, 24))
    optional = []
    act = _activation(draw)
    if act is not None:
        optional.append(("activation", repr(act)))
    if draw(st.integers(0, 4)) == 0:
        optional.append(("use_bias", "False"))
    return LayerSpec("Dense", _args(draw, [("units", str(units))], optional)), (*shape[:-1], units)


def _conv1d(draw, shape):
    steps, channels = shape
    filters = draw(st.integers(1, 12))
    padding = draw(st.sampled_from(["valid", "same"]))
    dilation = draw(st.sampled_from([1, 1, 2]))
    stride = 1 if dilation > 1 else draw(st.sampled_from([1, 1, 2, 3]))
    kernel = draw(st.integers(1, 5))
    if conv_out(steps, kernel, stride, padding, dilation) < 1:
        kernel, dilation = 1, 1
    groups = 1
    if draw(st.integers(0, 5)) == 0:
        common = [g for g in (2, 3) if channels % g == 0 and filters % g == 0]
        groups = common[0] if common else 1
    optional = []
    if stride != 1 or draw(st.integers(0, 3)) == 0:
        optional.append(("strides", str(stride)))
    if padding != "valid" or draw(st.integers(0, 3)) == 0:
        optional.append(("padding", repr(padding)))
    if dilation != 1:
        optional.append(("dilation_rate", str(dilation)))
    if groups != 1:
        optional.append(("groups", str(groups)))
    act = _activation(draw)
    if act is not None:
        optional.append(("activation", repr(act)))
    if draw(st.integers(0, 5)) == 0:
        optional.append(("use_bias", "False"))
    spec = LayerSpec("Conv1D", _args(draw, [("filters", str(filters)),
                                            ("kernel_size", str(kernel))], optional))
    return spec, (conv_out(steps, kernel, stride, padding, dilation), filters)


def _conv2d(draw, shape):
    h, w, channels = shape
    filters = draw(st.integers(1, 12))
    padding = draw(st.sampled_from(["valid", "same"]))
    dilation = (1, 1) if draw(st.integers(0, 3)) else (2, 2)
    strides = (1, 1) if dilation != (1, 1) else draw(st.sampled_from([(1, 1), (1, 1), (2, 2),
                                                                      (2, 1)]))
    kernel = _pair(draw, 1, 4)
    if min(conv_out(h, kernel[0], strides[0], padding, dilation[0]),
           conv_out(w, kernel[1], strides[1], padding, dilation[1])) < 1:
        kernel, dilation = (1, 1), (1, 1)
    groups = 1
    if draw(st.integers(0, 5)) == 0:
        common = [g for g in (2, 3) if channels % g == 0 and filters % g == 0]
        groups = common[0] if common else 1
    optional = []
    if strides != (1, 1) or draw(st.integers(0, 3)) == 0:
        optional.append(("strides", _form2(draw, strides)))
    if padding != "valid" or draw(st.integers(0, 3)) == 0:
        optional.append(("padding", repr(padding)))
    if dilation != (1, 1):
        optional.append(("dilation_rate", _form2(draw, dilation)))
    if groups != 1:
        optional.append(("groups", str(groups)))
    act = _activation(draw)
    if act is not None:
        optional.append(("activation", repr(act)))
    if draw(st.integers(0, 5)) == 0:
        optional.append(("use_bias", "False"))
    spec = LayerSpec("Conv2D", _args(draw, [("filters", str(filters)),
                                            ("kernel_size", _form2(draw, kernel))], optional))
    out = (conv_out(h, kernel[0], strides[0], padding, dilation[0]),
           conv_out(w, kernel[1], strides[1], padding, dilation[1]), filters)
    return spec, out


def _pool1d(draw, shape):
    steps, channels = shape
    cls = draw(st.sampled_from(["MaxPooling1D", "AveragePooling1D"]))
    padding = draw(st.sampled_from(["valid", "same"]))
    pool = draw(st.integers(1, 3))
    stride = draw(st.sampled_from([None, 1, 2]))
    if conv_out(steps, pool, stride or pool, padding) < 1:
        pool, stride = 1, None
    optional = []
    if stride is not None:
        optional.append(("strides", str(stride)))
    if padding != "valid" or draw(st.integers(0, 3)) == 0:
        optional.append(("padding", repr(padding)))
    required = [("pool_size", str(pool))]
    if cls == "MaxPooling1D" and pool == 2 and draw(st.booleans()):
        required = []  # the default pool size
    spec = LayerSpec(cls, _args(draw, required, optional))
    return spec, (conv_out(steps, pool, stride or pool, padding), channels)


def _pool2d(draw, shape):
    h, w, channels = shape
    cls = draw(st.sampled_from(["MaxPooling2D", "AveragePooling2D"]))
    padding = draw(st.sampled_from(["valid", "same"]))
    pool = _pair(draw, 1, 3)
    strides = draw(st.sampled_from([None, (1, 1), (2, 2), (1, 2)]))
    eff = strides or pool
    if min(conv_out(h, pool[0], eff[0], padding), conv_out(w, pool[1], eff[1], padding)) < 1:
        pool, strides = (1, 1), None
        eff = pool
    optional = []
    if strides is not None:
        optional.append(("strides", _form2(draw, strides)))
    if padding != "valid" or draw(st.integers(0, 3)) == 0:
        optional.append(("padding", repr(padding)))
    required = [("pool_size", _form2(draw, pool))]
    if cls == "MaxPooling2D" and pool == (2, 2) and draw(st.booleans()):
        required = []
    spec = LayerSpec(cls, _args(draw, required, optional))
    return spec, (conv_out(h, pool[0], eff[0], padding), conv_out(w, pool[1], eff[1], padding),
                  channels)


def _zero_padding(draw, shape):
    h, w, c = shape
    form = draw(st.sampled_from(["default", "int", "pair", "pairs"]))
    if form == "default":
        pads = (1, 1, 1, 1)
        args: tuple = ()
    elif form == "int":
        p = draw(st.integers(0, 2))
        pads, args = (p, p, p, p), ((None, str(p)),)
    elif form == "pair":
        a, b = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        pads, args = (a, a, b, b), (("padding", f"({a}, {b})"),)
    else:
        t, bo, le, r = (draw(st.integers(0, 2)) for _ in range(4))
        pads, args = (t, bo, le, r), (("padding", f"(({t}, {bo}), ({le}, {r}))"),)
    return LayerSpec("ZeroPadding2D", args), (h + pads[0] + pads[1], w + pads[2] + pads[3], c)


def _reshape_from_flat(draw, n: int):
    """A Reshape of n features into a sequence or an image, when n factorises."""
    options = []
    for a in range(2, n):
        if n % a == 0:
            options.append((a, n // a))
    if draw(st.booleans()) or not options:
        target = (n, 1)
    else:
        target = draw(st.sampled_from(options))
    if draw(st.booleans()):
        image = (*target, 1)
        return LayerSpec("Reshape", _args(draw, [("target_shape", f"{image}")], [])), image
    return LayerSpec("Reshape", _args(draw, [("target_shape", f"{target}")], [])), target


def _global(draw, shape):
    rank = "1D" if len(shape) == 2 else "2D"
    cls = draw(st.sampled_from([f"GlobalAveragePooling{rank}", f"GlobalMaxPooling{rank}"]))
    return LayerSpec(cls, ()), (shape[-1],)


def _flatten(draw, shape):
    return LayerSpec("Flatten", ()), (math.prod(shape),)


@st.composite
def layer_stack(draw, input_shape: tuple[int, ...], max_layers: int = 6):
    """Layers valid for `input_shape`, ending in a flat feature vector."""
    shape = input_shape
    specs: list[LayerSpec] = []
    for _ in range(draw(st.integers(0, max_layers))):
        rank = len(shape)
        choices = ["element", "dense"]
        if rank == 1 and shape[0] <= 64:
            choices.append("reshape")
        if rank == 2:
            choices += ["conv1d", "conv1d", "pool1d", "global", "flatten"]
        if rank == 3:
            choices += ["conv2d", "conv2d", "pool2d", "zero_padding", "global", "flatten"]
        kind = draw(st.sampled_from(choices))
        if kind == "dense" and rank > 1 and draw(st.booleans()):
            kind = "element"  # Dense on a sequence or image is legal but keep it occasional
        if kind == "dense" and math.prod(shape[:-1]) * 24 > 4096:
            kind = "element"
        drawer = {"element": _elementwise, "dense": _dense, "conv1d": _conv1d,
                  "conv2d": _conv2d, "pool1d": _pool1d, "pool2d": _pool2d,
                  "zero_padding": _zero_padding, "global": _global, "flatten": _flatten}
        if kind == "reshape":
            spec, new = _reshape_from_flat(draw, shape[0])
        else:
            spec, new = drawer[kind](draw, shape)
        if math.prod(new) > 4096 or min(new) < 1:
            continue  # keep models small: a skipped draw is not a failure
        specs.append(spec)
        shape = new
    if len(shape) > 1:
        spec, shape = draw(st.sampled_from([_flatten, _global]))(draw, shape)
        specs.append(spec)
    return specs


@st.composite
def tasks(draw):
    kind = draw(st.sampled_from(["sparse", "categorical", "binary", "regression"]))
    if kind in ("sparse", "categorical"):
        outputs = draw(st.integers(2, 5))
        logits = draw(st.integers(0, 3)) == 0
        name = "sparse_categorical_crossentropy" if kind == "sparse" else \
            "categorical_crossentropy"
        cls = "SparseCategoricalCrossentropy" if kind == "sparse" else "CategoricalCrossentropy"
        if logits:
            head, loss = "linear", f"{{k}}losses.{cls}(from_logits=True)"
        else:
            head = "softmax"
            loss = draw(st.sampled_from([repr(name), f"{{k}}losses.{cls}()"]))
        metrics = draw(st.sampled_from([(), ("'accuracy'",), ("'acc'",)]))
        return Task(kind, outputs, head, loss, metrics)
    if kind == "binary":
        loss = draw(st.sampled_from(["'binary_crossentropy'", "{k}losses.BinaryCrossentropy()"]))
        metrics = draw(st.sampled_from([(), ("'accuracy'",)]))
        return Task(kind, 1, "sigmoid", loss, metrics)
    outputs = draw(st.integers(1, 3))
    loss = draw(st.sampled_from(["'mse'", "'mean_squared_error'", "'mae'", "'huber'",
                                 "{k}losses.MeanSquaredError()", "{k}losses.Huber(delta=0.5)",
                                 "{k}losses.MeanAbsoluteError()"]))
    metrics = draw(st.sampled_from([(), ("'mae'",), ("'mse'",), ("'mae'", "'mse'")]))
    head = draw(st.sampled_from(["linear", "linear", "tanh", "relu"]))
    return Task(kind, outputs, head, loss, metrics)


@st.composite
def optimizers(draw):
    cls = draw(st.sampled_from(sorted(OPTIMIZERS)))
    string, hyper = OPTIMIZERS[cls]
    if draw(st.integers(0, 2)) == 0:
        return repr(string)
    chosen = []
    for key in sorted(hyper):
        if draw(st.booleans()):
            chosen.append(f"{key}={draw(st.sampled_from(hyper[key]))!r}")
    return f"{{k}}optimizers.{cls}({', '.join(chosen)})"


@st.composite
def input_shapes(draw):
    rank = draw(st.sampled_from([1, 2, 3]))
    if rank == 1:
        return (draw(st.integers(1, 32)),)
    if rank == 2:
        return draw(st.integers(3, 24)), draw(st.integers(1, 6))
    return draw(st.integers(3, 12)), draw(st.integers(3, 12)), draw(st.integers(1, 4))


@st.composite
def model_specs(draw):
    shape = draw(input_shapes())
    stack = draw(layer_stack(shape))
    task = draw(tasks())
    return ModelSpec(
        input_shape=shape, layers=tuple(stack), task=task, optimizer=draw(optimizers()),
        style=draw(st.sampled_from(STYLES)), build=draw(st.sampled_from(["list", "add"])),
        input_form=draw(st.sampled_from(["input", "input", "input_shape"])),
        batch_size=draw(st.sampled_from([None, 8, 16, 32])), rows=draw(st.integers(24, 80)),
        seed=draw(st.integers(0, 2**16)),
        validation_split=draw(st.sampled_from([None, None, 0.25])))


# --- rendering ----------------------------------------------------------------------------------

# (imports, layer prefix, model prefix for Sequential/Input, prefix for losses/optimizers/utils)
_STYLE_PARTS = {
    "keras": (["import keras"], "keras.layers.", "keras.", "keras."),
    "layers": (["import keras", "from keras import layers"], "layers.", "keras.", "keras."),
    "tf": (["import tensorflow as tf"], "tf.keras.layers.", "tf.keras.", "tf.keras."),
    "from_tf": (["from tensorflow import keras"], "keras.layers.", "keras.", "keras."),
    "names": ([], "", "", ""),  # filled per model: from keras.layers import Dense, ...
    "tf_layers": (["from tensorflow.keras import layers, losses, models, optimizers"],
                  "layers.", "models.", ""),
}


def _call(prefix: str, spec: LayerSpec, extra: tuple[tuple[str, str], ...] = ()) -> str:
    args = [value if key is None else f"{key}={value}" for key, value in spec.args]
    args += [f"{key}={value}" for key, value in extra]
    return f"{prefix}{spec.cls}({', '.join(args)})"


def _output_layer(spec: ModelSpec) -> LayerSpec:
    args: tuple = ((None, str(spec.task.outputs)),)
    if spec.task.head != "linear":
        args += (("activation", repr(spec.task.head)),)
    return LayerSpec("Dense", args)


def render(spec: ModelSpec) -> str:
    """The model as a complete, seeded Keras training script."""
    imports, layer_prefix, model_prefix, k = _STYLE_PARTS[spec.style]
    layers = [*spec.layers, _output_layer(spec)]
    sequential = f"{model_prefix}Sequential"
    input_call = f"{model_prefix}Input"
    if spec.style == "names":
        names = sorted({layer.cls for layer in layers} | ({"Input"} if spec.input_form == "input"
                                                          else set()))
        imports = ["import keras", "from keras.layers import " + ", ".join(names),
                   "from keras.models import Sequential"]
        sequential, input_call, k = "Sequential", "Input", "keras."
    if spec.style == "tf_layers":
        input_call = "layers.Input"
    lines = ['"""A generated Keras model (keras2torch differential fuzzing)."""',
             "import numpy as np", *imports, ""]
    seed_call = {"tf": "tf.random.set_seed", "tf_layers": "np.random.seed"}.get(
        spec.style, "keras.utils.set_random_seed")
    lines.append(f"{seed_call}({spec.seed % 1000})")
    lines.append(f"rng = np.random.default_rng({spec.seed})")
    lines.append(f"x = rng.normal(size={(spec.rows, *spec.input_shape)}).astype('float32')")
    task = spec.task
    if task.kind == "sparse":
        lines.append(f"y = rng.integers(0, {task.outputs}, size={spec.rows})")
    elif task.kind == "categorical":
        lines.append(f"labels = rng.integers(0, {task.outputs}, size={spec.rows})")
        lines.append(f"y = np.eye({task.outputs}, dtype='float32')[labels]")
    elif task.kind == "binary":
        lines.append(f"y = rng.integers(0, 2, size=({spec.rows}, 1)).astype('float32')")
    else:
        lines.append(f"y = rng.normal(size=({spec.rows}, {task.outputs})).astype('float32')")
    lines.append("")
    shape_text = repr(tuple(spec.input_shape))
    calls = []
    for n, layer in enumerate(layers):
        extra = (("input_shape", shape_text),) if n == 0 and spec.input_form == "input_shape" else ()
        calls.append(_call(layer_prefix, layer, extra))
    if spec.input_form == "input":
        calls.insert(0, f"{input_call}(shape={shape_text})")
    if spec.build == "list":
        lines.append(f"model = {sequential}([")
        lines.extend(f"    {c}," for c in calls)
        lines.append("])")
    else:
        lines.append(f"model = {sequential}()")
        lines.extend(f"model.add({c})" for c in calls)
    loss = task.loss.replace("{k}", k)
    optimizer = spec.optimizer.replace("{k}", k)
    metrics = f", metrics=[{', '.join(task.metrics)}]" if task.metrics else ""
    lines.append(f"model.compile(optimizer={optimizer}, loss={loss}{metrics})")
    fit = ["x", "y", "epochs=1"]
    if spec.batch_size is not None:
        fit.append(f"batch_size={spec.batch_size}")
    if spec.validation_split is not None:
        fit.append(f"validation_split={spec.validation_split}")
    fit.append("verbose=0")
    lines.append(f"history = model.fit({', '.join(fit)})")
    lines.append("print(sorted(history.history))")
    return "\n".join(lines) + "\n"


def collect(strategy, count: int, seed: int = 0) -> list:
    """`count` examples of `strategy`, the same ones for the same seed (hypothesis' generator)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fixed_seed

    drawn: list = []

    @fixed_seed(seed)
    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def gather(example):
        drawn.append(example)

    gather()
    return drawn[:count]
