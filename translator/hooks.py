"""The named escape hatches rules/ may call for mappings that plain data cannot express."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import libcst as cst

from . import walk
from .shapes import Shape, crop_amounts, int_tuple, literal, zero_pad_amounts


class Unsupported(Exception):
    """This use of a Keras API has no faithful translation; the message says why."""


@dataclass
class LayerContext:
    """What a hook may read about one layer call, and the modules it may put before it."""

    args: dict[str, cst.BaseExpression]  # bound Keras arguments, defaults filled in
    in_shape: Shape | None
    target: str = ""
    prefix: list[cst.BaseExpression] = field(default_factory=list)
    resolve: Callable | None = None  # names.resolve: a nested layer call's canonical key
    weights: tuple | None = None  # weight recipes the hook computed, instead of the rule's
    out_shape: Shape | None = None  # the output shape the hook computed, instead of the rule's
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (rule id, message)
    # a functional graph passes this call initial_state tensors or unpacks its return_state list
    states: bool = False
    state_shapes: list[Shape] = field(default_factory=list)  # return_state: the states' shapes
    # the module keeps a `.penalty` (set on each forward) that the loss adds: ActivityRegularization
    penalty: bool = False

    def value(self, name: str):
        """The literal Python value of an argument; Unsupported when it is an expression."""
        try:
            return literal(self.args[name])
        except ValueError:
            raise Unsupported(f"`{name}` must be a literal here") from None

    def spatial(self) -> tuple[int, ...]:
        if self.in_shape is None or any(not isinstance(d, int) for d in self.in_shape[:-1]):
            raise Unsupported("needs a static input size (give the model an input shape)")
        return tuple(self.in_shape[:-1])  # type: ignore[return-value]


def expr(text: str) -> cst.BaseExpression:
    return cst.parse_expression(text)


def _tf_same_pads(sizes, kernel, strides, dilation=None) -> list[tuple[int, int]]:
    """TensorFlow's 'same' padding per axis: (before, after), the extra cell after."""
    dilation = dilation or (1,) * len(sizes)
    pads = []
    for n, k, s, d in zip(sizes, kernel, strides, dilation, strict=True):
        out = math.ceil(n / s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def _torch_pad_tuple(pads: list[tuple[int, int]]) -> str:
    # torch pads the last axis first: (left, right, top, bottom)
    return repr(tuple(v for before_after in reversed(pads) for v in before_after))


def conv_padding(ctx: LayerContext) -> list[tuple[str, cst.BaseExpression]]:
    padding = ctx.value("padding")
    padding = padding.lower() if isinstance(padding, str) else padding  # Keras accepts 'Same'
    if padding == "valid":
        return []
    if padding != "same":
        raise Unsupported(f"padding={padding!r} has no torch equivalent here")
    rank = len(ctx.in_shape) - 1 if ctx.in_shape else 2
    strides = int_tuple(ctx.value("strides"), rank)
    if all(s == 1 for s in strides):
        return [("padding", expr("'same'"))]  # stride 1: torch pads like TensorFlow
    kernel = int_tuple(ctx.value("kernel_size"), rank)
    dilation = int_tuple(ctx.value("dilation_rate"), rank)
    pads = _tf_same_pads(ctx.spatial(), kernel, strides, dilation)
    if any(p != (0, 0) for p in pads):
        # torch refuses padding='same' with strides; TensorFlow puts the extra cell after
        ctx.prefix.append(expr(f"nn.ZeroPad{rank}d({_torch_pad_tuple(pads)})"))
    return []


def pool_padding(ctx: LayerContext) -> list[tuple[str, cst.BaseExpression]]:
    padding = ctx.value("padding")
    padding = padding.lower() if isinstance(padding, str) else padding  # Keras accepts 'Same'
    if padding == "valid":
        return []
    if padding != "same":
        raise Unsupported(f"padding={padding!r} has no torch equivalent here")
    sizes = ctx.spatial()
    kernel = int_tuple(ctx.value("pool_size"), len(sizes))
    strides_value = ctx.value("strides")
    strides = kernel if strides_value is None else int_tuple(strides_value, len(sizes))
    pads = _tf_same_pads(sizes, kernel, strides)
    average = "Avg" in ctx.target
    extra: list[tuple[str, cst.BaseExpression]] = []
    torch_out = [math.ceil((n - k) / s) + 1 for n, k, s in zip(sizes, kernel, strides, strict=True)]
    if all(b == a for b, a in pads):
        if any(b for b, _ in pads):
            extra.append(("padding", expr(repr(tuple(b for b, _ in pads)))))
    elif all(b == 0 for b, _ in pads) and torch_out == [math.ceil(n / s) for n, s in zip(sizes, strides, strict=True)]:
        # only trailing padding: a ceil-mode window that runs past the edge is the same
        extra.append(("ceil_mode", expr("True")))
    elif average:
        # TensorFlow pads one side more: pad explicitly, and divide by the real cells per window
        ctx.target = "KerasAvgPoolSame"
        return [("pad", expr(_torch_pad_tuple(pads)))]
    else:
        # TensorFlow pads one side more: padded cells never win a max, as in Keras
        ctx.prefix.append(expr(f"nn.ConstantPad{len(sizes)}d({_torch_pad_tuple(pads)}, float('-inf'))"))
        return []
    if average:
        extra.append(("count_include_pad", expr("False")))  # Keras excludes padded cells
    return extra


def betas(ctx: LayerContext) -> list[tuple[str, cst.BaseExpression]]:
    return [("betas", walk.fill(
        "({b1}, {b2})", b1=ctx.args["beta_1"], b2=ctx.args["beta_2"]))]


def nesterov(ctx: LayerContext) -> list[tuple[str, cst.BaseExpression]]:
    """Keras ignores `nesterov` without momentum; torch refuses that pair, so it is dropped."""
    flag, momentum = ctx.args["nesterov"], ctx.args["momentum"]
    try:
        if not literal(momentum):
            return []
    except ValueError:  # momentum is a name: keep Keras' rule at run time
        return [("nesterov", walk.fill("{n} and {m} != 0", n=flag, m=momentum))]
    return [("nesterov", flag)]


def reshape(ctx: LayerContext) -> cst.BaseExpression:
    target = ctx.args["target_shape"]
    if ctx.in_shape is not None and len(ctx.in_shape) == 1:
        return walk.fill("nn.Unflatten(1, {t})", t=target)
    return walk.fill("nn.Sequential(nn.Flatten(), nn.Unflatten(1, {t}))", t=target)


def relu(ctx: LayerContext) -> cst.BaseExpression:
    max_value, slope, threshold = ctx.value("max_value"), ctx.value("negative_slope"), ctx.value("threshold")
    if threshold or max_value is not None and slope:  # no single torch module: Keras' formula
        return expr(f"KerasReLU({max_value!r}, {slope!r}, {threshold!r})")
    if max_value is None:
        return expr("nn.ReLU()") if not slope else expr(f"nn.LeakyReLU({slope!r})")
    return expr("nn.ReLU6()") if max_value == 6 else expr(f"nn.Hardtanh(0.0, {float(max_value)!r})")


def _keep_rate_to_update_rate(node: cst.BaseExpression) -> str:
    try:
        return repr(round(1 - float(literal(node)), 10))
    except ValueError:
        return f"1 - ({cst.Module([]).code_for_node(node)})"


def batchnorm(ctx: LayerContext) -> cst.BaseExpression:
    if "mode" in ctx.args and ctx.value("mode") != 0:
        raise Unsupported("BatchNormalization(mode=...) other than Keras 1's feature-wise mode 0")
    if ctx.value("axis") not in (-1, len(ctx.in_shape or ())):
        raise Unsupported("BatchNormalization over an axis other than the channels")
    rank = len(ctx.in_shape) if ctx.in_shape is not None else 1
    cls = {1: "nn.BatchNorm1d", 2: "nn.BatchNorm1d", 3: "nn.BatchNorm2d", 4: "nn.BatchNorm3d"}[rank]
    channels = ctx.in_shape[-1] if ctx.in_shape else None
    args = []
    eps = cst.Module([]).code_for_node(ctx.args["epsilon"])
    if eps not in ("1e-05", "1e-5"):
        args.append(f"eps={eps}")
    # Keras' momentum keeps the old statistic; torch's momentum weighs the new one
    momentum = _keep_rate_to_update_rate(ctx.args["momentum"])
    if momentum != "0.1":
        args.append(f"momentum={momentum}")
    center, scale = ctx.value("center"), ctx.value("scale")
    if center != scale:
        raise Unsupported("BatchNormalization with only one of center/scale")
    if not center:
        args.append("affine=False")
    if channels is None:
        return expr(f"{cls.replace('nn.', 'nn.Lazy')}({', '.join(args)})")
    return walk.fill(
        f"{cls}({{c}}{', ' if args else ''}{', '.join(args)})", c=_dim(channels))


def layernorm(ctx: LayerContext) -> cst.BaseExpression:
    if ctx.value("axis") not in (-1, len(ctx.in_shape or ())):
        raise Unsupported("LayerNormalization over an axis other than the last")
    if ctx.in_shape is None or ctx.in_shape[-1] is None:
        raise Unsupported("LayerNormalization needs a static input size")
    args = []
    eps = cst.Module([]).code_for_node(ctx.args["epsilon"])
    if eps not in ("1e-05", "1e-5"):
        args.append(f"eps={eps}")
    center, scale = ctx.value("center"), ctx.value("scale")
    if not scale:
        if center:
            raise Unsupported("LayerNormalization(scale=False) with a bias")
        args.append("elementwise_affine=False")
    elif not center:
        args.append("bias=False")
    return walk.fill(
        f"nn.LayerNorm({{c}}{', ' if args else ''}{', '.join(args)})", c=_dim(ctx.in_shape[-1]))


def zero_padding(ctx: LayerContext) -> cst.BaseExpression:
    try:
        (t, b), (left, r) = zero_pad_amounts(ctx.value("padding"))
    except (TypeError, ValueError):
        raise Unsupported("ZeroPadding2D padding must be literal ints") from None
    return expr(f"nn.ZeroPad2d({(left, r, t, b)!r})")


def _dim(d) -> cst.BaseExpression:
    if isinstance(d, int) and not isinstance(d, bool):
        return cst.parse_expression(str(d))  # a negative size (a wrong argument) too
    if not isinstance(d, cst.BaseExpression):  # True, 2.5: a wrong-typed argument
        raise Unsupported(f"{d!r} is not a size")
    return d


ARG_HOOKS: dict[str, Callable[[LayerContext], list[tuple[str, cst.BaseExpression]]]] = {
    "conv_padding": conv_padding,
    "pool_padding": pool_padding,
    "betas": betas,
    "nesterov": nesterov,
}

MODULE_HOOKS: dict[str, Callable[[LayerContext], cst.BaseExpression]] = {
    "reshape": reshape,
    "relu": relu,
    "batchnorm": batchnorm,
    "layernorm": layernorm,
    "zero_padding": zero_padding,
}


# --- recurrent and wrapper layers ------------------------------------------------------------

#: Keras RNN class -> (support class, gate count, Keras -> torch gate order).
RECURRENT = {"LSTM": ("KerasLSTM", 4, ()), "GRU": ("KerasGRU", 3, (1, 0, 2)),
             "SimpleRNN": ("KerasSimpleRNN", 1, ())}
#: Layers that read the mask an Embedding(mask_zero=True) makes, so padding changes their result.
MASK_READERS = {"LSTM", "GRU", "SimpleRNN", "Bidirectional", "GlobalAveragePooling1D"}


def _guarded(hook: Callable[[LayerContext], cst.BaseExpression]) -> Callable[[LayerContext], cst.BaseExpression]:
    """A hook whose argument-reading errors (a shape of the wrong rank, a non-literal) are refusals."""
    def run(ctx: LayerContext) -> cst.BaseExpression:
        try:
            return hook(ctx)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise Unsupported(f"cannot be translated here ({exc})") from None
    return run


def _is(ctx: LayerContext, name: str, value) -> bool:
    try:
        return ctx.value(name) == value
    except Unsupported:
        return False


def _recurrent_weights(keras_class: str, suffixes: tuple[str, ...]) -> tuple:
    """Keras kernel/recurrent_kernel/bias -> torch weight_ih/weight_hh/bias_ih(/bias_hh)."""
    gates = RECURRENT[keras_class][2]
    order = (("gates", gates),) if gates else ()
    out = []
    for s in suffixes:
        out += [("kernel", f"weight_ih_l0{s}", (1, 0), order),
                ("recurrent_kernel", f"weight_hh_l0{s}", (1, 0), order)]
        if keras_class == "GRU":  # reset_after=True: an input row and a recurrent row
            out += [("bias", f"bias_ih_l0{s}", None, (("row", 0), *order)),
                    ("bias", f"bias_hh_l0{s}", None, (("row", 1), *order))]
        else:
            out.append(("bias", f"bias_ih_l0{s}", None, order))
    return tuple(out)


#: Keras activations the step-by-step RNNs compute (KERAS_STEP_ACTIVATIONS in
#: templates/torch_support_recurrent.py; a test keeps the two lists equal).
STEP_ACTIVATIONS = frozenset({
    "linear", "tanh", "sigmoid", "hard_sigmoid", "relu", "relu6", "leaky_relu", "elu", "selu", "celu",
    "gelu", "silu", "swish", "hard_silu", "hard_swish", "mish", "softplus", "softsign", "exponential",
    "log_sigmoid", "hard_tanh", "tanh_shrink", "soft_shrink", "hard_shrink", "sparse_sigmoid",
    "squareplus", "sparse_plus", "softmax", "log_softmax"})
#: TensorFlow's functions (tf.nn.*, tf.math.*) whose name differs from the Keras activation's.
_TF_ACTIVATION_NAMES = {"exp": "exponential"}


def _rnn_activation(ctx: LayerContext, keras_class: str, arg: str) -> str:
    """An RNN's `activation`/`recurrent_activation` as a Keras activation name (None: "linear")."""
    node = ctx.args[arg]
    try:
        value = literal(node)
    except ValueError:
        key = ctx.resolve(node) if ctx.resolve else None
        module, _, name = key.rpartition(".") if key else ("", "", "")
        if module == "keras.activations":
            value = name
        elif module in ("tensorflow.nn", "tensorflow.math"):
            value = _TF_ACTIVATION_NAMES.get(name, name)
        else:
            source = cst.Module([]).code_for_node(node)[:40]
            raise Unsupported(f"{keras_class}({arg}=`{source}`): only a Keras activation, by name or as "
                              "keras.activations.*/tf.nn.*, can be translated") from None
    if value is None:
        return "linear"
    if not isinstance(value, str) or value not in STEP_ACTIVATIONS:
        raise Unsupported(f"{keras_class}({arg}={value!r}) is not an activation the translation knows")
    return value


def _recurrent(ctx: LayerContext, keras_class: str, merge_mode: str | None) -> cst.BaseExpression:
    cls, _, _ = RECURRENT[keras_class]
    stateful = not _is(ctx, "stateful", False)
    return_state = not _is(ctx, "return_state", False)
    if return_state and not ctx.states:
        raise Unsupported(f"{keras_class}(return_state=True) outside a functional graph that unpacks "
                          "its outputs (`out, h, c = layer(x)`) has no translation")
    for name in ctx.args:
        if name.endswith(("_constraint", "_regularizer")) and not _is(ctx, name, None):
            raise Unsupported(f"{keras_class}({name}=...) is not supported yet")
    if ctx.in_shape is None or len(ctx.in_shape) != 2 or ctx.in_shape[-1] is None:
        raise Unsupported(f"{keras_class} needs a known (timesteps, features) input shape")
    activation = _rnn_activation(ctx, keras_class, "activation")
    gates = "sigmoid" if keras_class == "SimpleRNN" else _rnn_activation(ctx, keras_class, "recurrent_activation")
    # torch's fused RNNs (faster) where they compute what Keras does; the step-by-step modules elsewhere
    fused = (activation in ("tanh", "relu") if keras_class == "SimpleRNN"
             else (activation, gates) == ("tanh", "sigmoid"))
    fused = fused and not ctx.value("go_backwards") and (keras_class != "LSTM" or ctx.value("unit_forget_bias"))
    dropout = not _is(ctx, "dropout", 0.0) and not _is(ctx, "dropout", 0)
    if ctx.states and dropout:
        fused = False  # the fused module's dropout comes before it, in an nn.Sequential of one input
    if return_state:
        try:
            state: Shape = (literal(ctx.args["units"]),)
        except ValueError:
            state = (ctx.args["units"],)
        ctx.state_shapes = [state] * ((2 if keras_class == "LSTM" else 1) * (1 if merge_mode is None else 2))
    if keras_class == "GRU" and not ctx.value("reset_after") and (merge_mode is not None or not ctx.value("use_bias")):
        fused = False  # KerasGRUResetBefore is one direction with a bias
    if stateful and (not fused or merge_mode is not None or (keras_class == "GRU" and not ctx.value("reset_after"))):
        raise Unsupported(f"{keras_class}(stateful=True) is translated for a one-direction layer with "
                          "Keras' default activations only")
    if not fused:
        return _recurrent_steps(ctx, keras_class, merge_mode, activation, gates)
    args: list[cst.BaseExpression | tuple[str, cst.BaseExpression]] = [_dim(ctx.in_shape[-1]), ctx.args["units"]]
    if activation == "relu":
        args.append(("nonlinearity", expr("'relu'")))
    if not ctx.value("use_bias"):
        args.append(("bias", expr("False")))
    if not _is(ctx, "recurrent_dropout", 0.0) and not _is(ctx, "recurrent_dropout", 0):
        ctx.warnings.append(("recurrent-dropout", (
            f"{keras_class}(recurrent_dropout=...) is not reproduced: torch's fused RNNs have no "
            "dropout on the recurrent state (inference is unchanged, training regularises less)")))
    if return_state:
        args.append(("return_state", expr("True")))
    if stateful:
        args.append(("stateful", expr("True")))
    if dropout:
        # Keras drops input features with one mask per sequence, shared by every step
        ctx.prefix.append(walk.fill("TimeSharedDropout({p})", p=ctx.args["dropout"]))
    sequences = ctx.value("return_sequences")
    if sequences:
        args.append(("return_sequences", expr("True")))
    suffixes = ("",) if merge_mode is None else ("", "_reverse")
    if merge_mode is not None:
        args.append(("bidirectional", expr("True")))
        if merge_mode != "concat":
            args.append(("merge_mode", expr(repr(merge_mode))))
    ctx.weights = _recurrent_weights(keras_class, suffixes)
    if keras_class == "GRU" and not ctx.value("reset_after"):
        cls = "KerasGRUResetBefore"  # torch's GRU resets after the recurrent product only
        args = [a for a in args if not (isinstance(a, tuple) and a[0] == "bias")]
        ctx.weights = (("kernel", "kernel", None, ()), ("recurrent_kernel", "recurrent_kernel", None, ()),
                       ("bias", "bias", None, ()))
    if not ctx.value("use_bias"):
        ctx.weights = tuple(w for w in ctx.weights if w[0] != "bias")
    _recurrent_out_shape(ctx, merge_mode, sequences)
    return _support_call(cls, args)


def _recurrent_steps(ctx: LayerContext, keras_class: str, merge_mode: str | None, activation: str,
                     gates: str) -> cst.BaseExpression:
    """A step-by-step module (templates/torch_support_recurrent.py): any activations, weights in
    Keras' layout under Keras' names, Keras' input and recurrent dropout inside the module."""
    assert ctx.in_shape is not None
    args: list[cst.BaseExpression | tuple[str, cst.BaseExpression]] = [_dim(ctx.in_shape[-1]), ctx.args["units"]]
    if activation != "tanh":
        args.append(("activation", expr(repr(activation))))
    if gates != "sigmoid":
        args.append(("recurrent_activation", expr(repr(gates))))
    use_bias = ctx.value("use_bias")
    if not use_bias:
        args.append(("bias", expr("False")))
    if keras_class == "LSTM" and not ctx.value("unit_forget_bias"):
        args.append(("unit_forget_bias", expr("False")))
    if keras_class == "GRU" and not ctx.value("reset_after"):
        args.append(("reset_after", expr("False")))
    sequences = ctx.value("return_sequences")
    if sequences:
        args.append(("return_sequences", expr("True")))
    if ctx.value("go_backwards"):
        args.append(("go_backwards", expr("True")))
    if ctx.state_shapes:
        args.append(("return_state", expr("True")))
    for name in ("dropout", "recurrent_dropout"):
        if not _is(ctx, name, 0.0):
            args.append((name, ctx.args[name]))
    for name in ("kernel_initializer", "recurrent_initializer"):
        try:
            init = initializer(ctx.args[name], ctx.resolve)[0]
        except Unsupported:
            continue  # the model builder reports it
        if init.startswith(("he_", "lecun_")):
            ctx.warnings.append(("initializer", (
                f"{keras_class}({name}={init!r}): the step-by-step module holds Keras' layout, where "
                "keras_initializer counts the fans the other way round (initial scale differs)")))
    module = _support_call(f"Keras{keras_class}Steps", args)
    names = ("kernel", "recurrent_kernel", "bias") if use_bias else ("kernel", "recurrent_kernel")
    if merge_mode is None:
        ctx.weights = tuple((n, n, None, ()) for n in names)
    else:
        ctx.weights = tuple((n, f"{d}.{n}", None, ()) for d in ("forward_layer", "backward_layer") for n in names)
        wrapper: list = [module] if merge_mode == "concat" else [module, ("merge_mode", expr(repr(merge_mode)))]
        module = _support_call("KerasBidirectionalSteps", wrapper)
    _recurrent_out_shape(ctx, merge_mode, sequences)
    return module


def _recurrent_out_shape(ctx: LayerContext, merge_mode: str | None, sequences: bool) -> None:
    assert ctx.in_shape is not None
    units = ctx.args["units"]
    try:
        size = literal(units)
        width = 2 * size if merge_mode == "concat" else size
    except ValueError:
        width = walk.fill("2 * {u}", u=units) if merge_mode == "concat" else units
    ctx.out_shape = (ctx.in_shape[0], width) if sequences else (width,)


def _support_call(cls: str, args: list) -> cst.Call:
    out = []
    for a in args:
        if isinstance(a, tuple):
            out.append(cst.Arg(a[1], keyword=cst.Name(a[0]), equal=cst.AssignEqual(
                whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))))
        else:
            out.append(cst.Arg(a))
    return cst.Call(cst.Name(cls), args=out)


def recurrent(ctx: LayerContext) -> cst.BaseExpression:
    keras_class = next(k for k, v in RECURRENT.items() if v[0] == ctx.target)
    return _recurrent(ctx, keras_class, None)


def _inner_layer(ctx: LayerContext, wrapper: str):
    """The layer a wrapper (Bidirectional, TimeDistributed) takes: its rule and bound arguments."""
    from .model import bind  # the model builder imports this module
    from .rules import REQUIRED, load_rules

    node = ctx.args["layer"]
    key = ctx.resolve(node.func) if isinstance(node, cst.Call) and ctx.resolve else None
    rules = load_rules()
    name = key.rsplit(".", 1)[-1] if key and key.startswith("keras.layers.") else None
    if name is None or name not in rules.layers:
        raise Unsupported(f"{wrapper} of `{cst.Module([]).code_for_node(node)[:40]}` has no rule")
    rule = rules.layers[name]
    args = bind(node, rule.signature, dict(rule.renames), rules.keywords)  # type: ignore[arg-type]
    for arg, default in rule.signature:
        if arg not in args:
            if default == REQUIRED:
                raise Unsupported(f"{name} needs `{arg}`")
            args[arg] = expr(default)
    return name, rule, args


def bidirectional(ctx: LayerContext) -> cst.BaseExpression:
    name, _, args = _inner_layer(ctx, "Bidirectional")
    if name not in RECURRENT:
        raise Unsupported(f"Bidirectional({name}) is not supported")
    if not _is(ctx, "backward_layer", None) or not _is(ctx, "weights", None):
        raise Unsupported("Bidirectional(backward_layer=/weights=) is not supported")
    merge_mode = ctx.value("merge_mode")
    if merge_mode not in ("concat", "sum", "mul", "ave"):
        raise Unsupported(f"Bidirectional(merge_mode={merge_mode!r}) in a Sequential model")
    inner = LayerContext(args=args, in_shape=ctx.in_shape, target=RECURRENT[name][0], resolve=ctx.resolve,
                         states=ctx.states)
    module = _recurrent(inner, name, merge_mode)
    ctx.prefix.extend(inner.prefix)
    ctx.weights, ctx.out_shape, ctx.warnings = inner.weights, inner.out_shape, inner.warnings
    ctx.state_shapes = inner.state_shapes
    return module


def time_distributed(ctx: LayerContext) -> cst.BaseExpression:
    from .model import map_args
    from .shapes import SHAPES

    name, rule, args = _inner_layer(ctx, "TimeDistributed")
    if rule.hook or not rule.torch or ctx.in_shape is None or len(ctx.in_shape) < 2:
        raise Unsupported(f"TimeDistributed({name}) is not supported")
    step = tuple(ctx.in_shape[1:])
    inner = LayerContext(args=args, in_shape=step, target=rule.torch, resolve=ctx.resolve)
    call_args, positional = map_args(rule, inner, rule.positional)
    parts: list[cst.BaseExpression] = [*inner.prefix, _call_expr(inner.target, call_args, positional)]
    act = inner.value("activation") if "activation" in args else None
    if act:
        from .rules import load_rules

        module = load_rules().activations.get(act)
        if module is None:
            raise Unsupported(f"activation {act!r} has no rule")
        if module:
            parts.append(expr(module))
    module = parts[0] if len(parts) == 1 else cst.Call(expr("nn.Sequential"), [cst.Arg(p) for p in parts])
    prefix = "" if len(parts) == 1 else f"{len(inner.prefix)}."
    values = {}
    for k, v in args.items():
        try:
            values[k] = literal(v)
        except ValueError:
            values[k] = v
    out = SHAPES[rule.shape](step, values)
    ctx.out_shape = (ctx.in_shape[0], *out)
    if rule.layout == "first" and len(step) >= 2:
        ctx.weights = tuple((k, f"module.{prefix}{t}", *rest) for k, t, *rest in rule.weights)
        return cst.Call(cst.Name("TimeDistributed"), [cst.Arg(module), cst.Arg(
            expr("True"), keyword=cst.Name("channels_first"), equal=cst.AssignEqual(
                whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")))])
    if rule.shape in ("dense", "same"):
        # Dense and element-wise layers act on the last axis: time needs no folding
        ctx.weights = tuple((k, f"{prefix}{t}", *rest) for k, t, *rest in rule.weights)
        return module
    ctx.weights = tuple((k, f"module.{prefix}{t}", *rest) for k, t, *rest in rule.weights)
    return cst.Call(cst.Name("TimeDistributed"), [cst.Arg(module)])


def _call_expr(func: str, args: list, positional: int) -> cst.Call:
    from .model import _call

    return _call(func, args, positional)


MODULE_HOOKS.update({name: _guarded(fn) for name, fn in {
    "recurrent": recurrent,
    "bidirectional": bidirectional,
    "time_distributed": time_distributed,
}.items()})


# --- more convolutions, cropping, normalization -----------------------------------------------

def _conv_common(ctx: LayerContext, rank: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    kernel = int_tuple(ctx.value("kernel_size"), rank)
    strides = int_tuple(ctx.value("strides"), rank)
    dilation = int_tuple(ctx.value("dilation_rate"), rank)
    return kernel, strides, dilation


def conv_transpose(ctx: LayerContext) -> cst.BaseExpression:
    """Keras' transposed convolution: torch's, cropped as TensorFlow crops a 'same' output."""
    if not _is(ctx, "output_padding", None):
        raise Unsupported("output_padding= is not supported yet")
    if ctx.in_shape is None or ctx.in_shape[-1] is None:
        raise Unsupported("needs a known number of input channels")
    rank = len(ctx.in_shape) - 1
    kernel, strides, dilation = _conv_common(ctx, rank)
    if any(d != 1 for d in dilation):
        raise Unsupported("a dilated transposed convolution is not supported yet")
    padding = ctx.value("padding")
    # torch's full output is (n - 1) * s + k; Keras' is n * s ('same') or n * s + max(k - s, 0)
    extra = [k - s if padding == "same" else min(k - s, 0) for k, s in zip(kernel, strides, strict=True)]
    out_pad = tuple(max(-e, 0) for e in extra)
    crops = [(max(e, 0) // 2, max(e, 0) - max(e, 0) // 2) for e in extra]
    pad = tuple(min(a, b) for a, b in crops)
    args = f"{ctx.in_shape[-1] if isinstance(ctx.in_shape[-1], int) else '{c}'}, {{f}}, kernel_size={{k}}"
    values = {"f": ctx.args["filters"], "k": ctx.args["kernel_size"]}
    if not isinstance(ctx.in_shape[-1], int):
        values["c"] = ctx.in_shape[-1]  # type: ignore[assignment]
    if any(s != 1 for s in strides):
        args += ", stride={s}"
        values["s"] = ctx.args["strides"]
    if any(pad):
        args += f", padding={_one(pad)}"
    if any(out_pad):
        args += f", output_padding={_one(out_pad)}"
    if not ctx.value("use_bias"):
        args += ", bias=False"
    module = walk.fill(f"{ctx.target}({args})", **values)
    rest = [(a - p, b - p) for (a, b), p in zip(crops, pad, strict=True)]
    if any(r != (0, 0) for r in rest):  # TensorFlow crops the odd cell at the end only
        crop = expr(f"Cropping({', '.join(repr(r) for r in rest)})")
        ctx.weights = tuple((k, f"0.{t}", *x) for k, t, *x in _rule_weights(ctx))
        return cst.Call(expr("nn.Sequential"), [cst.Arg(module), cst.Arg(crop)])
    return module


def _one(values: tuple[int, ...]):
    return values[0] if len(set(values)) == 1 else values


def _rule_weights(ctx: LayerContext) -> tuple:
    from .rules import load_rules

    return next(r.weights for r in load_rules().layers.values() if r.torch == ctx.target)


def depthwise(ctx: LayerContext) -> cst.BaseExpression:
    """DepthwiseConv2D (and SeparableConv2D's first half): a grouped torch convolution."""
    if ctx.in_shape is None or not isinstance(ctx.in_shape[-1], int):
        raise Unsupported("needs a known number of input channels")
    rank = len(ctx.in_shape) - 1
    kernel, strides, dilation = _conv_common(ctx, rank)
    channels, multiplier = ctx.in_shape[-1], ctx.value("depth_multiplier")
    conv = f"nn.Conv{rank}d"
    args = [f"{channels}, {channels * multiplier}, kernel_size={_one(kernel)}"]
    if any(s != 1 for s in strides):
        args.append(f"stride={_one(strides)}")
    args += [f"{k}={code(v)}" for k, v in conv_padding(ctx)]
    if any(d != 1 for d in dilation):
        args.append(f"dilation={_one(dilation)}")
    args.append(f"groups={channels}")
    # Keras' (k..., in, multiplier) kernel -> torch's (in * multiplier, 1, k...)
    steps = (("reshape", (*kernel, 1, -1)),)
    perm = (rank + 1, rank, *range(rank))
    if ctx.target == "separable":
        filters = ctx.args["filters"]
        bias = "" if ctx.value("use_bias") else ", bias=False"
        ctx.weights = (("depthwise_kernel", "0.weight", perm, steps),
                       ("pointwise_kernel", "1.weight", perm, ()), ("bias", "1.bias", None, ()))
        return walk.fill(
            f"nn.Sequential({conv}({', '.join(args)}, bias=False), "
            f"{conv}({channels * multiplier}, {{f}}, kernel_size=1{bias}))", f=filters)
    if not ctx.value("use_bias"):
        args.append("bias=False")
    ctx.weights = (("kernel", "weight", perm, steps), ("bias", "bias", None, ()))
    return expr(f"{conv}({', '.join(args)})")


def separable(ctx: LayerContext) -> cst.BaseExpression:
    ctx.target = "separable"
    return depthwise(ctx)


def cropping(ctx: LayerContext) -> cst.BaseExpression:
    rank = len(ctx.in_shape) - 1 if ctx.in_shape else 1
    try:
        amounts = crop_amounts(ctx.value("cropping"), rank)
    except (TypeError, ValueError):
        raise Unsupported("cropping must be literal ints") from None
    return expr(f"Cropping({', '.join(repr(a) for a in amounts)})")


def keras_lambda(ctx: LayerContext) -> cst.BaseExpression:
    """Lambda(function): a lambda's Keras tensor functions mapped to torch; a named function is
    translated where it is defined. Its output shape is the input's for an elementwise lambda,
    `output_shape` when given, otherwise unknown (the next layers then infer their sizes)."""
    from . import tensorfn

    fn = ctx.args["function"]
    resolve = ctx.resolve or (lambda node: None)
    if isinstance(fn, cst.Lambda):
        new, rewriter = tensorfn.rewrite(fn, resolve)
        if rewriter.problems:
            raise Unsupported(rewriter.problems[0][1])
        left = _framework_calls(new, resolve)
        if left:
            raise Unsupported(f"`{left}` in the Lambda has no PyTorch translation yet")
        if ctx.in_shape is not None and tensorfn.elementwise(fn, resolve):
            ctx.out_shape = ctx.in_shape
        fn = new
    elif not isinstance(fn, cst.Name):
        raise Unsupported("Lambda takes a lambda or the name of a function")
    if not _is(ctx, "output_shape", None):
        try:
            shape = literal(ctx.args["output_shape"])
        except ValueError:
            shape = None
        if isinstance(shape, tuple) and all(isinstance(d, int) or d is None for d in shape):
            ctx.out_shape = shape
    args = [fn] if _is(ctx, "arguments", None) else [fn, ctx.args["arguments"]]
    return _support_call("KerasLambda", args)


def _framework_calls(node: cst.CSTNode, resolve) -> str:
    """The first call left in `node` whose function resolves to Keras or TensorFlow."""
    found: list[str] = []

    class Find(cst.CSTVisitor):
        def visit_Call(self, call: cst.Call) -> None:
            key = resolve(call.func) or ""
            if not found and key.split(".")[0] in ("keras", "tensorflow"):
                found.append(code(call.func))

    walk.visit(node, Find())
    return found[0] if found else ""


def normalization(ctx: LayerContext) -> cst.BaseExpression:
    """Normalization with its statistics given: (x - mean) / max(sqrt(variance), epsilon). An
    adapted one is a layer object of the script (`normalizer.adapt(x)`), kept beside the model."""
    if _is(ctx, "mean", None) or _is(ctx, "variance", None):
        raise Unsupported("Normalization() learns its statistics with adapt(); give mean= and "
                          "variance= (for example from numpy), or adapt a layer object, to translate it")
    given = [(k, ctx.args[k]) for k in ("axis", "mean", "variance", "invert")
             if k in ("mean", "variance") or not (_is(ctx, k, -1) or _is(ctx, k, False))]
    return _support_call("Normalization", given)


def code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


def activity_regularization(ctx: LayerContext) -> cst.BaseExpression:
    """ActivityRegularization(l1, l2): an identity whose penalty the loss adds."""
    ctx.penalty = True
    return _support_call("KerasActivityRegularization", [(k, ctx.args[k]) for k in ("l1", "l2")
                                                          if not (_is(ctx, k, 0.0) or _is(ctx, k, 0))])


MODULE_HOOKS.update({name: _guarded(fn) for name, fn in {
    "conv_transpose": conv_transpose,
    "depthwise": depthwise,
    "separable": separable,
    "cropping": cropping,
    "normalization": normalization,
    "lambda": keras_lambda,
    "activity_regularization": activity_regularization,
}.items()})


# --- initializers -----------------------------------------------------------------------------

#: Keras initializer argument -> the Keras weight it initialises.
INITIALIZED_WEIGHT = {"kernel_initializer": "kernel", "bias_initializer": "bias",
                      "recurrent_initializer": "recurrent_kernel", "embeddings_initializer": "embeddings",
                      "depthwise_initializer": "depthwise_kernel", "pointwise_initializer": "pointwise_kernel"}
#: Keras initializer (string or class) -> (keras_initializer name, positional config keys).
INITIALIZERS = {
    "glorot_uniform": ("glorot_uniform", ()), "GlorotUniform": ("glorot_uniform", ()),
    "glorot_normal": ("glorot_normal", ()), "GlorotNormal": ("glorot_normal", ()),
    "he_uniform": ("he_uniform", ()), "HeUniform": ("he_uniform", ()),
    "he_normal": ("he_normal", ()), "HeNormal": ("he_normal", ()),
    "lecun_uniform": ("lecun_uniform", ()), "LecunUniform": ("lecun_uniform", ()),
    "lecun_normal": ("lecun_normal", ()), "LecunNormal": ("lecun_normal", ()),
    "orthogonal": ("orthogonal", ("gain",)), "Orthogonal": ("orthogonal", ("gain",)),
    "zeros": ("zeros", ()), "Zeros": ("zeros", ()), "ones": ("ones", ()), "Ones": ("ones", ()),
    "constant": ("constant", ("value",)), "Constant": ("constant", ("value",)),
    "random_normal": ("random_normal", ("mean", "stddev")), "RandomNormal": ("random_normal", ("mean", "stddev")),
    "normal": ("random_normal", ()),
    "random_uniform": ("random_uniform", ("minval", "maxval")),
    "RandomUniform": ("random_uniform", ("minval", "maxval")), "uniform": ("random_uniform", ()),
    "truncated_normal": ("truncated_normal", ("mean", "stddev")),
    "TruncatedNormal": ("truncated_normal", ("mean", "stddev")),
    "identity": ("identity", ("gain",)), "Identity": ("identity", ("gain",)),
}


def initializer(node: cst.BaseExpression, resolve) -> tuple[str, list[tuple[str, cst.BaseExpression]]]:
    """A Keras initializer argument as (keras_initializer name, keyword config); Unsupported if unknown."""
    try:
        value = literal(node)
    except ValueError:
        value = None
    if isinstance(value, str) and value in INITIALIZERS:
        return INITIALIZERS[value][0], []
    key = resolve(node.func) if isinstance(node, cst.Call) and resolve else None
    name = key.rsplit(".", 1)[-1] if key and key.startswith("keras.initializers.") else None
    if name is None or name not in INITIALIZERS or not isinstance(node, cst.Call):
        raise Unsupported(f"initializer `{cst.Module([]).code_for_node(node)[:40]}` has no rule")
    target, order = INITIALIZERS[name]
    config = []
    for i, arg in enumerate(node.args):
        keyword = arg.keyword.value if arg.keyword else (order[i] if i < len(order) else "")
        if keyword == "seed":
            continue  # random streams differ across frameworks anyway
        if keyword not in order:
            raise Unsupported(f"{name}({keyword or 'argument'}=...) is not supported")
        config.append((keyword, arg.value))
    return target, config
