"""The named escape hatches rules/ may call for mappings that plain data cannot express."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import libcst as cst
from libcst.helpers import parse_template_expression

from .shapes import Shape, int_tuple, literal, zero_pad_amounts


class Unsupported(Exception):
    """This use of a Keras API has no faithful translation; the message says why."""


@dataclass
class LayerContext:
    """What a hook may read about one layer call, and the modules it may put before it."""

    args: dict[str, cst.BaseExpression]  # bound Keras arguments, defaults filled in
    in_shape: Shape | None
    target: str = ""
    prefix: list[cst.BaseExpression] = field(default_factory=list)

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
    if padding == "valid":
        return []
    if padding != "same":
        raise Unsupported(f"padding={padding!r} has no torch equivalent here")
    sizes = ctx.spatial()
    kernel = int_tuple(ctx.value("pool_size"), len(sizes))
    strides_value = ctx.value("strides")
    strides = kernel if strides_value is None else int_tuple(strides_value, len(sizes))
    pads = _tf_same_pads(sizes, kernel, strides)
    extra: list[tuple[str, cst.BaseExpression]] = []
    if all(b == a for b, a in pads):
        if any(b for b, _ in pads):
            extra.append(("padding", expr(repr(tuple(b for b, _ in pads)))))
    elif all(b == 0 for b, _ in pads):
        # only trailing padding: a ceil-mode window that runs past the edge is the same
        torch_out = [math.ceil((n - k) / s) + 1 for n, k, s in zip(sizes, kernel, strides, strict=True)]
        if torch_out != [math.ceil(n / s) for n, s in zip(sizes, strides, strict=True)]:
            raise Unsupported("this 'same' pooling has no torch equivalent")
        extra.append(("ceil_mode", expr("True")))
    else:
        raise Unsupported("asymmetric 'same' pooling has no torch equivalent")
    if "Avg" in ctx.target:
        extra.append(("count_include_pad", expr("False")))  # Keras excludes padded cells
    return extra


def betas(ctx: LayerContext) -> list[tuple[str, cst.BaseExpression]]:
    return [("betas", parse_template_expression(
        "({b1}, {b2})", b1=ctx.args["beta_1"], b2=ctx.args["beta_2"]))]


def reshape(ctx: LayerContext) -> cst.BaseExpression:
    target = ctx.args["target_shape"]
    if ctx.in_shape is not None and len(ctx.in_shape) == 1:
        return parse_template_expression("nn.Unflatten(1, {t})", t=target)
    return parse_template_expression("nn.Sequential(nn.Flatten(), nn.Unflatten(1, {t}))", t=target)


def relu(ctx: LayerContext) -> cst.BaseExpression:
    max_value, slope, threshold = ctx.value("max_value"), ctx.value("negative_slope"), ctx.value("threshold")
    if threshold:
        raise Unsupported("ReLU(threshold=...) has no torch module")
    if max_value is None:
        return expr("nn.ReLU()") if not slope else expr(f"nn.LeakyReLU({slope!r})")
    if slope:
        raise Unsupported("ReLU with both max_value and negative_slope has no torch module")
    return expr("nn.ReLU6()") if max_value == 6 else expr(f"nn.Hardtanh(0.0, {float(max_value)!r})")


def _keep_rate_to_update_rate(node: cst.BaseExpression) -> str:
    try:
        return repr(round(1 - float(literal(node)), 10))
    except ValueError:
        return f"1 - ({cst.Module([]).code_for_node(node)})"


def batchnorm(ctx: LayerContext) -> cst.BaseExpression:
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
    return parse_template_expression(
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
    return parse_template_expression(
        f"nn.LayerNorm({{c}}{', ' if args else ''}{', '.join(args)})", c=_dim(ctx.in_shape[-1]))


def zero_padding(ctx: LayerContext) -> cst.BaseExpression:
    try:
        (t, b), (left, r) = zero_pad_amounts(ctx.value("padding"))
    except (TypeError, ValueError):
        raise Unsupported("ZeroPadding2D padding must be literal ints") from None
    return expr(f"nn.ZeroPad2d({(left, r, t, b)!r})")


def _dim(d) -> cst.BaseExpression:
    return cst.Integer(str(d)) if isinstance(d, int) else d


ARG_HOOKS: dict[str, Callable[[LayerContext], list[tuple[str, cst.BaseExpression]]]] = {
    "conv_padding": conv_padding,
    "pool_padding": pool_padding,
    "betas": betas,
}

MODULE_HOOKS: dict[str, Callable[[LayerContext], cst.BaseExpression]] = {
    "reshape": reshape,
    "relu": relu,
    "batchnorm": batchnorm,
    "layernorm": layernorm,
    "zero_padding": zero_padding,
}
