"""Static Keras shape inference (channels last, batch axis left out) over ints or user expressions."""

from __future__ import annotations

import ast
import math
from collections.abc import Callable

import libcst as cst

from . import walk

Dim = int | cst.BaseExpression | None  # an int, the user's expression, or unknown
Shape = tuple[Dim, ...]

_EMPTY = cst.Module([])


def code(node: cst.CSTNode) -> str:
    return _EMPTY.code_for_node(node)


_CONSTANTS = {"True": True, "False": False, "None": None}
_NUMBERS = (cst.Integer, cst.Float, cst.Imaginary)
#: expressions that are never literals, whatever they hold
_NEVER = (cst.Call, cst.Attribute, cst.Subscript, cst.Lambda, cst.ListComp, cst.SetComp, cst.DictComp,
          cst.GeneratorExp, cst.IfExp, cst.BooleanOperation, cst.Comparison, cst.Await, cst.Yield,
          cst.NamedExpr, cst.FormattedString)


class NotLiteral(ValueError):
    """Raised by `literal`; its text, the expression's code, is printed only when asked for."""

    def __init__(self, node: cst.CSTNode):
        super().__init__()
        self.node = node

    def __str__(self) -> str:
        return code(self.node)


class _NotPlain(Exception):
    """Not a plain literal: printed and read by ast.literal_eval instead."""


def _plain_literal(node: cst.BaseExpression):
    """The value of the literals scripts write most (numbers, strings, True/False/None, and tuples
    or lists of them), read from the node without printing it; NotLiteral for expressions that
    cannot be literals (calls, attributes, other names, ...)."""
    kind = type(node)
    if kind in _NUMBERS or kind is cst.SimpleString:
        return ast.literal_eval(node.value)  # type: ignore[attr-defined]
    if kind is cst.Name:
        if node.value in _CONSTANTS:  # type: ignore[attr-defined]
            return _CONSTANTS[node.value]  # type: ignore[attr-defined]
        raise NotLiteral(node)
    if kind in _NEVER:
        raise NotLiteral(node)
    if kind is cst.UnaryOperation and type(node.operator) is cst.Minus \
            and type(node.expression) in _NUMBERS:  # type: ignore[attr-defined]
        return -ast.literal_eval(node.expression.value)  # type: ignore[attr-defined]
    if kind is cst.Tuple or kind is cst.List:
        if any(type(e) is not cst.Element for e in node.elements):  # type: ignore[attr-defined]
            raise _NotPlain
        values = [_plain_literal(e.value) for e in node.elements]  # type: ignore[attr-defined]
        return tuple(values) if kind is cst.Tuple else values
    raise _NotPlain


def literal(node: cst.BaseExpression):
    """The Python value of a literal expression; raises ValueError when it is not one."""
    try:
        return _plain_literal(node)
    except NotLiteral:
        raise NotLiteral(node) from None
    except _NotPlain:
        pass
    try:
        return ast.literal_eval(code(node))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise NotLiteral(node) from exc


def as_node(dim: Dim) -> cst.BaseExpression:
    if isinstance(dim, int) and not isinstance(dim, bool):
        return cst.Integer(str(dim)) if dim >= 0 else cst.parse_expression(str(dim))
    if dim is None:
        raise ValueError("unknown dimension")
    if not isinstance(dim, cst.BaseExpression):  # True, 2.5, [3]: a wrong-typed argument
        raise ValueError(f"not a size: {dim!r}")  # noqa: TRY004 - callers catch ValueError
    return dim


def _wrap(dim: cst.BaseExpression) -> cst.BaseExpression:
    simple = (cst.Name, cst.Attribute, cst.Subscript, cst.Call, cst.Integer)
    return dim if isinstance(dim, simple) else dim.with_changes(
        lpar=[cst.LeftParen()], rpar=[cst.RightParen()]
    )


def combine(op: str, a: Dim, b: Dim) -> Dim:
    """a <op> b on dims: computed when both are ints, an expression when one is the user's."""
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        if op == "//":
            return a // b if b else None  # a zero divisor (a zero stride): shape unknown
        return {"*": a * b, "+": a + b, "-": a - b}[op]
    if (op in ("+", "-") and b == 0) or (op in ("*", "//") and b == 1):
        return a  # x + 0, x // 1: the user's expression as it is
    if (op == "+" and a == 0) or (op == "*" and a == 1):
        return b
    template = f"{{a}} {op} {{b}}"
    return walk.fill(template, a=_wrap(as_node(a)), b=_wrap(as_node(b)))


def ceil_div(a: Dim, b: int) -> Dim:
    if isinstance(a, int):
        return math.ceil(a / b)
    return combine("//", combine("+", a, b - 1), b)


def shape_from_node(node: cst.BaseExpression, constants: dict[str, int] | None = None) -> Shape | None:
    """A Keras shape argument (`(28, 28, 1)`, `(x.shape[1],)`, `[784]`) as dims, or None.

    A name the script binds once to an int (`N_STEPS = 32`) counts as that int.
    """
    constants = constants or {}
    if isinstance(node, (cst.Tuple, cst.List)):
        dims: list[Dim] = []
        for el in node.elements:
            if isinstance(el, cst.StarredElement):
                return None
            if isinstance(el.value, cst.Name) and isinstance(constants.get(el.value.value), int):
                dims.append(constants[el.value.value])
                continue
            try:
                value = literal(el.value)
                dims.append(value if isinstance(value, int) else None)
            except ValueError:
                dims.append(el.value)
        return tuple(dims)
    if isinstance(node, cst.Name) and isinstance(constants.get(node.value), tuple):
        return constants[node.value]  # `input_shape = (28, 28, 1)` at module level
    try:
        value = literal(node)
    except ValueError:
        return None
    if isinstance(value, int):
        return (value,)
    return None


def int_tuple(value, rank: int) -> tuple[int, ...]:
    """Keras' int-or-tuple arguments (kernel_size=3) as one int per spatial axis."""
    if isinstance(value, int):
        return (value,) * rank
    if isinstance(value, (tuple, list)) and len(value) == rank and all(isinstance(v, int) for v in value):
        return tuple(value)
    raise ValueError(f"expected an int or {rank} ints, got {value!r}")


ShapeFn = Callable[[Shape, dict], Shape]


def _dense(shape: Shape, args: dict) -> Shape:
    return (*shape[:-1], args["units"])


def _same(shape: Shape, args: dict) -> Shape:
    return shape


def _unknown(shape: Shape, args: dict) -> Shape | None:
    return None  # a layer hook gives the shape when it knows it


def _flatten(shape: Shape, args: dict) -> Shape:
    total: Dim = 1
    for d in shape:
        total = combine("*", total, d)
    return (total,)


def _reshape(shape: Shape, args: dict) -> Shape:
    target = list(args["target_shape"])
    if -1 in target:
        known = math.prod(d for d in target if d != -1)
        flat = _flatten(shape, args)[0]
        target[target.index(-1)] = flat // known if isinstance(flat, int) else None
    return tuple(target)


def _spatial(shape: Shape, args: dict, kernel: tuple[int, ...], strides: tuple[int, ...],
             dilation: tuple[int, ...], padding: str) -> list[Dim]:
    out: list[Dim] = []
    for size, k, s, d in zip(shape[:-1], kernel, strides, dilation, strict=True):
        if padding == "same":
            out.append(ceil_div(size, s))
        else:
            span = d * (k - 1) + 1
            out.append(combine("+", combine("//", combine("-", size, span), s), 1))
    return out


def _conv(shape: Shape, args: dict) -> Shape:
    rank = len(shape) - 1
    kernel = int_tuple(args["kernel_size"], rank)
    strides = int_tuple(args["strides"], rank)
    dilation = int_tuple(args["dilation_rate"], rank)
    return (*_spatial(shape, args, kernel, strides, dilation, args["padding"]), args["filters"])


def _pool(shape: Shape, args: dict) -> Shape:
    rank = len(shape) - 1
    kernel = int_tuple(args["pool_size"], rank)
    strides = int_tuple(args["strides"], rank) if args["strides"] is not None else kernel
    return (*_spatial(shape, args, kernel, strides, (1,) * rank, args["padding"]), shape[-1])


def _global_pool(shape: Shape, args: dict) -> Shape:
    return (shape[-1],)


def zero_pad_amounts(padding) -> tuple[tuple[int, int], tuple[int, int]]:
    """ZeroPadding2D's padding argument as ((top, bottom), (left, right))."""
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    a, b = padding
    if isinstance(a, int) and isinstance(b, int):
        return ((a, a), (b, b))
    return (tuple(a), tuple(b))  # type: ignore[return-value]


def _zero_pad(shape: Shape, args: dict) -> Shape:
    (t, b), (left, r) = zero_pad_amounts(args["padding"])
    return (combine("+", shape[0], t + b), combine("+", shape[1], left + r), shape[2])


def _embedding(shape: Shape, args: dict) -> Shape:
    return (*shape, args["output_dim"])


def _recurrent(shape: Shape, args: dict) -> Shape:
    return (shape[0], args["units"]) if args["return_sequences"] else (args["units"],)


def _repeat(shape: Shape, args: dict) -> Shape:
    return (args["n"], *shape)


def _permute(shape: Shape, args: dict) -> Shape:
    return tuple(shape[d - 1] for d in args["dims"])


def _conv_transpose(shape: Shape, args: dict) -> Shape:
    rank = len(shape) - 1
    kernel = int_tuple(args["kernel_size"], rank)
    strides = int_tuple(args["strides"], rank)
    out: list[Dim] = []
    for size, k, s in zip(shape[:-1], kernel, strides, strict=True):
        grown = combine("*", size, s)
        out.append(grown if args["padding"] == "same" else combine("+", grown, max(k - s, 0)))
    return (*out, args["filters"])


def _depthwise(shape: Shape, args: dict) -> Shape:
    rank = len(shape) - 1
    kernel = int_tuple(args["kernel_size"], rank)
    strides = int_tuple(args["strides"], rank)
    dilation = int_tuple(args["dilation_rate"], rank)
    filters = args.get("filters") or combine("*", shape[-1], args["depth_multiplier"])
    return (*_spatial(shape, args, kernel, strides, dilation, args["padding"]), filters)


def _upsample(shape: Shape, args: dict) -> Shape:
    sizes = int_tuple(args["size"], len(shape) - 1)
    return (*(combine("*", d, s) for d, s in zip(shape[:-1], sizes, strict=True)), shape[-1])


def crop_amounts(cropping, rank: int) -> tuple[tuple[int, int], ...]:
    """Keras' cropping argument (an int, one int per axis, or (before, after) pairs) as pairs."""
    if isinstance(cropping, int):
        return ((cropping, cropping),) * rank
    if rank == 1 and len(cropping) == 2 and all(isinstance(c, int) for c in cropping):
        return (tuple(cropping),)  # type: ignore[return-value]
    pairs = tuple((c, c) if isinstance(c, int) else tuple(c) for c in cropping)
    if len(pairs) != rank or any(len(p) != 2 or not all(isinstance(v, int) for v in p) for p in pairs):
        raise ValueError(f"cannot read cropping {cropping!r}")
    return pairs  # type: ignore[return-value]


def _cropping(shape: Shape, args: dict) -> Shape:
    pairs = crop_amounts(args["cropping"], len(shape) - 1)
    return (*(combine("-", d, a + b) for d, (a, b) in zip(shape[:-1], pairs, strict=True)), shape[-1])


SHAPES: dict[str, ShapeFn] = {
    "conv_transpose": _conv_transpose,
    "depthwise": _depthwise,
    "upsample": _upsample,
    "cropping": _cropping,
    "embedding": _embedding,
    "recurrent": _recurrent,
    "repeat": _repeat,
    "permute": _permute,
    "dense": _dense,
    "same": _same,
    "unknown": _unknown,
    "flatten": _flatten,
    "reshape": _reshape,
    "conv": _conv,
    "pool": _pool,
    "global_pool": _global_pool,
    "zero_pad": _zero_pad,
}
