"""Turns the script's subclassed keras.Model / keras.layers.Layer classes into nn.Module classes.

Keras builds a subclassed model on its first call, so the input sizes of its layers are written
nowhere. A size that follows from an earlier layer inside `call` (a Dense after a Dense) is
propagated statically; the others use torch's lazy modules (nn.LazyLinear, ...), and a custom
layer's `build(input_shape)` weights become nn.UninitializedParameter that the first batch shapes:
the same moment Keras builds, and an optimizer created before it already holds those parameters.
Keras tensor functions in the bodies (keras.ops, keras.backend, tf) map through rules/ops.toml.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import libcst as cst

from . import hooks, support, walk
from .hooks import LayerContext, Unsupported
from .ir import CHANNELS_FIRST, CHANNELS_LAST, LayerMap, ModelInfo
from .model import LayerError, ModelBuild, SequentialBuilder, bind, snake_case
from .names import dotted
from .report import NOTE, TODO, WARNING, Stats
from .rules import REQUIRED, RULES_DIR, ArgSpec, Mapping, RuleError, _args
from .shapes import Shape, code, literal

# Layer methods that only describe the layer to Keras (serialisation, symbolic shapes): they
# change no result, so the translation leaves them out.
DESCRIPTIVE = {"get_config", "from_config", "compute_output_shape", "compute_output_spec",
               "get_build_config", "build_from_config", "get_compile_config", "compile_from_config"}
# Methods that hook into Keras' own training loop: no torch counterpart in the translated loop.
TRAINING_HOOKS = {"train_step", "test_step", "predict_step", "compute_loss", "compute_metrics",
                  "compile", "fit", "evaluate", "predict", "make_train_function", "metrics"}
# Layer APIs with no torch counterpart inside a module.
KERAS_ONLY_METHODS = {"add_loss", "add_metric", "add_update", "add_variable", "get_weights",
                      "set_weights", "compute_mask", "add_metric_result"}
KERAS_DECORATORS = ("keras.saving.register_keras_serializable", "keras.utils.register_keras_serializable")
TODO_MARK = "TODO(keras2torch)"
DEFAULT_MARK = "__keras2torch_default__"  # an argument a Sequential's custom layer was not given
SIZE_MARK = "__keras2torch_size__"  # a size the first batch gives
DTYPES = {"float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8", "bool"}
TF_INITIALIZERS = {"random_normal_initializer": ("random_normal", ("mean", "stddev")),
                   "random_uniform_initializer": ("random_uniform", ("minval", "maxval")),
                   "zeros_initializer": ("zeros", ()), "ones_initializer": ("ones", ()),
                   "constant_initializer": ("constant", ("value",))}
ADD_WEIGHT = (("shape", "None"), ("initializer", "None"), ("dtype", "None"), ("trainable", "True"),
              ("name", "None"))
ADD_WEIGHT_KERAS2 = (("name", "None"), ("shape", "None"), ("dtype", "None"), ("initializer", "None"),
                     ("regularizer", "None"), ("trainable", "True"), ("constraint", "None"))
ADD_WEIGHT_IGNORED = {"autocast", "aggregation", "synchronization", "use_resource", "overwrite_with_gradient",
                      "partitioner", "caching_device"}
TO_FIRST = "Keras feeds channels last; torch convolves channels first"
TO_LAST = "back to channels last, as Keras orders the axes"


# --- rules/ops.toml ----------------------------------------------------------------------------

@dataclass(frozen=True)
class OpRule:
    """One Keras tensor function (under all its spellings) and the torch expression it becomes."""

    id: str
    keys: tuple[str, ...]
    signature: tuple[tuple[str, str], ...]
    renames: tuple[tuple[str, str], ...] = ()
    ignore: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()
    convert: tuple[tuple[str, str], ...] = ()
    torch: str = ""
    args: tuple[ArgSpec, ...] = ()
    template: str = ""
    hook: str = ""
    shape: str = ""  # "same": the result has the first argument's shape
    examples: tuple[dict, ...] = ()


@dataclass(frozen=True)
class OpTable:
    calls: dict[str, OpRule]  # canonical key -> rule
    attributes: dict[str, str]  # canonical key -> torch expression
    model_bases: frozenset[str]
    layer_bases: frozenset[str]
    rules: tuple[OpRule, ...]


@functools.cache
def load_ops() -> OpTable:
    """Reads and validates rules/ops.toml once per process."""
    with open(RULES_DIR / "ops.toml", "rb") as f:
        import tomllib

        raw = tomllib.load(f)
    calls: dict[str, OpRule] = {}
    rules = []
    for entry in raw["op"]:
        if not entry.get("example"):
            raise RuleError(f"ops.toml: op {entry.get('id')!r} has no example")
        forms = [k for k in ("torch", "template", "hook") if k in entry]
        if len(forms) != 1:
            raise RuleError(f"ops.toml: op {entry['id']!r} needs exactly one of torch, template, hook")
        if entry.get("hook") and entry["hook"] not in OP_HOOKS:
            raise RuleError(f"ops.toml: op {entry['id']!r}: unknown hook {entry['hook']!r}")
        for converter in entry.get("convert", {}).values():
            if converter not in CONVERTERS:
                raise RuleError(f"ops.toml: op {entry['id']!r}: unknown converter {converter!r}")
        rule = OpRule(
            id=entry["id"], keys=tuple(entry["keras"]), signature=tuple(entry.get("signature", {}).items()),
            renames=tuple(entry.get("renames", {}).items()), ignore=tuple(entry.get("ignore", [])),
            unsupported=tuple(entry.get("unsupported", [])), convert=tuple(entry.get("convert", {}).items()),
            torch=entry.get("torch", ""), args=_args(entry.get("args", [])), template=entry.get("template", ""),
            hook=entry.get("hook", ""), shape=entry.get("shape", ""), examples=tuple(entry["example"]))
        for key in rule.keys:
            if key in calls:
                raise RuleError(f"ops.toml: {key} is mapped twice")
            calls[key] = rule
        rules.append(rule)
    return OpTable(calls, dict(raw.get("attribute", {})), frozenset(raw["bases"]["model"]),
                   frozenset(raw["bases"]["layer"]), tuple(rules))


def _atom(node: cst.BaseExpression) -> bool:
    return bool(node.lpar) or isinstance(node, (
        cst.Name, cst.Attribute, cst.Subscript, cst.Call, cst.Integer, cst.Float, cst.Imaginary,
        cst.SimpleString, cst.ConcatenatedString, cst.FormattedString, cst.List, cst.Tuple, cst.Dict,
        cst.Set, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp))


def parens(node: cst.BaseExpression) -> cst.BaseExpression:
    """The expression, parenthesised unless it is an atom (`a + b` -> `(a + b)`, `x` -> `x`)."""
    return node if _atom(node) else node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill(template: str, args: dict[str, cst.BaseExpression]) -> cst.BaseExpression:
    """A template over bound arguments; an argument that is not a whole call argument is
    parenthesised where precedence could change its meaning (`{x}.to(...)`, `-{x}`)."""
    wrap = set()
    for m in _PLACEHOLDER.finditer(template):
        before = template[:m.start()].rstrip()[-1:]
        after = template[m.end():].lstrip()[:1]
        if not (before in ("(", ",", "=", "[", "") and after in (")", ",", "]", "")):
            wrap.add(m.group(1))
    used = set(_PLACEHOLDER.findall(template))
    values = {k: parens(v) if k in wrap else v for k, v in args.items() if k in used}
    return walk.fill(template, **values)


def _literal_number(node: cst.BaseExpression) -> bool:
    try:
        value = literal(node)
    except ValueError:
        return False
    return isinstance(value, int | float) and not isinstance(value, bool)


def _clamp(args: dict, bound: str, pairwise: str) -> cst.BaseExpression:
    x, y = args["x"], args["y"]
    if _literal_number(y):
        return fill(f"torch.{bound}({{x}}, {{y}})", {"x": x, "y": y})
    if _literal_number(x):
        return fill(f"torch.{bound}({{y}}, {{x}})", {"x": x, "y": y})
    return fill(f"torch.{pairwise}({{x}}, {{y}})", {"x": x, "y": y})


def _flag(node: cst.BaseExpression, what: str) -> bool:
    try:
        value = literal(node)
    except ValueError:
        raise Unsupported(f"`{what}` must be a literal here") from None
    return bool(value)


def _matmul(args: dict, call: cst.Call, key: str) -> cst.BaseExpression:
    a = fill("{a}.transpose(-2, -1)", args) if _flag(args["transpose_a"], "transpose_a") else args["a"]
    b = fill("{b}.transpose(-2, -1)", args) if _flag(args["transpose_b"], "transpose_b") else args["b"]
    return fill("torch.matmul({a}, {b})", {"a": a, "b": b})


def _transpose(args: dict, call: cst.Call, key: str) -> cst.BaseExpression:
    if code(args["perm"]) == "None":
        return fill("{x}.permute(*reversed(range({x}.dim())))", args)
    return fill("{x}.permute({perm})", args)


def _l2_normalize(args: dict, call: cst.Call, key: str) -> cst.BaseExpression:
    epsilon = args["epsilon"]
    if code(args["axis"]) == "None":  # Keras' own formula over the whole tensor
        return fill("{x} * torch.rsqrt(torch.clamp_min(torch.sum(torch.square({x})), {epsilon}))",
                    {"x": args["x"], "epsilon": epsilon})
    try:  # sqrt(max(sum(x**2), epsilon)) = max(norm, sqrt(epsilon))
        eps: cst.BaseExpression = cst.parse_expression(repr(math.sqrt(float(literal(epsilon)))))
    except (ValueError, TypeError):
        eps = fill("{e} ** 0.5", {"e": epsilon})
    return fill("F.normalize({x}, dim={axis}, eps={eps})", {"x": args["x"], "axis": args["axis"], "eps": eps})


def _normalize(args: dict, call: cst.Call, key: str) -> cst.BaseExpression:
    eps = args["epsilon"] if code(args["epsilon"]) != "None" else cst.parse_expression("1e-07")
    order = "" if code(args["order"]) == "2" else "p={order}, "
    return fill(f"F.normalize({{x}}, {order}dim={{axis}}, eps={{eps}})", {**args, "eps": eps})


def _initializer(args: dict, call: cst.Call, key: str) -> cst.BaseExpression:
    """A Keras initializer object as keras_weight() reads it: its name, or a dict with its config."""
    name = key.rsplit(".", 1)[-1]
    if name in TF_INITIALIZERS:
        target, order = TF_INITIALIZERS[name]
        config = []
        for i, arg in enumerate(call.args):
            keyword = arg.keyword.value if arg.keyword else (order[i] if i < len(order) else "")
            if keyword == "seed":
                continue
            if keyword not in order:
                raise Unsupported(f"{name}({keyword or 'argument'}=...) is not supported")
            config.append((keyword, arg.value))
    else:
        target, config = hooks.initializer(call, lambda node: key)
    if not config:
        return cst.SimpleString(repr(target))
    return cst.Call(cst.Name("dict"), args=[_kwarg("name", cst.SimpleString(repr(target)))]
                    + [_kwarg(k, v) for k, v in config])


def _einsum(args: dict, call: cst.Call, key: str) -> cst.BaseExpression:
    operands = [a for a in call.args if not (a.keyword and a.keyword.value == "name")]
    if any(a.keyword is not None for a in operands) or not operands:
        raise Unsupported("einsum with keyword arguments is not supported")
    return call.with_changes(func=cst.parse_expression("torch.einsum"), args=operands)


OP_HOOKS = {
    "einsum": _einsum,
    "maximum": lambda args, call, key: _clamp(args, "clamp_min", "maximum"),
    "minimum": lambda args, call, key: _clamp(args, "clamp_max", "minimum"),
    "matmul": _matmul,
    "transpose": _transpose,
    "l2_normalize": _l2_normalize,
    "normalize": _normalize,
    "initializer": _initializer,
}


def _dtype(node: cst.BaseExpression) -> cst.BaseExpression:
    if dotted(node) in {f"torch.{d}" for d in DTYPES} or code(node) == "None":
        return node  # tf.float32 was already rewritten
    try:
        value = literal(node)
    except ValueError:
        raise Unsupported(f"dtype `{code(node)}` must be a literal") from None
    if value not in DTYPES:
        raise Unsupported(f"dtype {value!r} has no torch rule")
    return cst.parse_expression(f"torch.{value}")


def _gelu_approximate(node: cst.BaseExpression) -> cst.BaseExpression:
    try:
        return cst.SimpleString("'tanh'" if literal(node) else "'none'")
    except ValueError:
        return fill("'tanh' if {a} else 'none'", {"a": node})


CONVERTERS = {"dtype": _dtype, "gelu_approximate": _gelu_approximate}


def _kwarg(name: str, value: cst.BaseExpression) -> cst.Arg:
    return cst.Arg(value, keyword=cst.Name(name), equal=cst.AssignEqual(
        whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")))


def _same_text(value: cst.BaseExpression, default: str) -> bool:
    if code(value) == default:
        return True
    try:
        a, b = literal(value), literal(cst.parse_expression(default))
    except (ValueError, cst.ParserSyntaxError):
        return False
    return a == b and type(a) is type(b)


def op_expression(rule: OpRule, call: cst.Call, key: str) -> cst.BaseExpression:
    """The torch expression for one call of a Keras tensor function; Unsupported when it has none."""
    if not rule.signature and rule.hook:
        return OP_HOOKS[rule.hook]({}, call, key)
    args = bind(call, rule.signature, dict(rule.renames), {})
    name = key.rsplit(".", 1)[-1]
    signature = dict(rule.signature)
    for arg in args:
        if arg in rule.unsupported or (arg not in signature and arg not in rule.ignore):
            raise Unsupported(f"{name}({arg}=...) is not supported")
    for arg, default in rule.signature:
        if arg not in args:
            if default == REQUIRED:
                raise Unsupported(f"{name}() needs `{arg}`")
            args[arg] = cst.parse_expression(default)
    for arg in rule.ignore:
        args.pop(arg, None)
    for arg, converter in rule.convert:
        args[arg] = CONVERTERS[converter](args[arg])
    if rule.hook:
        return OP_HOOKS[rule.hook](args, call, key)
    if rule.template:
        return fill(rule.template, args)
    out = []
    for spec in rule.args:
        value = cst.parse_expression(spec.source[1:]) if spec.source.startswith("=") else args[spec.source]
        if spec.default is not None and _same_text(value, spec.default):
            continue
        out.append(cst.Arg(value) if not spec.target else _kwarg(spec.target, value))
    return cst.Call(cst.parse_expression(rule.torch), args=out)


# --- the script's classes ----------------------------------------------------------------------

@dataclass
class CustomClass:
    """A class the script derives from keras.Model or keras.layers.Layer (or from such a class)."""

    name: str
    node: cst.ClassDef
    kind: str  # "model" or "layer"
    parent: str | None  # the script's own class it derives from; None for a Keras base
    translated: cst.BaseStatement | None = None
    ok: bool = False  # translated into an nn.Module (possibly with TODOs inside)
    keras_name: str = ""
    layers: tuple[LayerMap, ...] = ()  # its sub-layers, in Keras' tracking order
    weights: tuple = ()  # LayerMap recipes: its own add_weight weights, then its sub-layers'
    signature: tuple[tuple[str, str], ...] = ()  # __init__ parameters after self
    summary: bool = False
    reason: str = ""  # why it was left in Keras


def record_class(an, node: cst.ClassDef) -> None:
    """Analyzer hook: remembers a class derived from a Keras model or layer base."""
    ops = load_ops()
    for base in node.bases:
        if base.keyword is not None:
            continue
        key = an.names.resolve(base.value) or an.names.resolve_star(
            base.value, set(ops.model_bases | ops.layer_bases))
        if key in ops.model_bases or key in ops.layer_bases:
            kind = "model" if key in ops.model_bases else "layer"
            an.classes[node.name.value] = CustomClass(node.name.value, node, kind, None)
            return
        if isinstance(base.value, cst.Name) and base.value.value in an.classes:
            parent = an.classes[base.value.value]
            an.classes[node.name.value] = CustomClass(node.name.value, node, parent.kind, parent.name)
            return


def model_class_of(an, value: cst.BaseExpression) -> CustomClass | None:
    """The script's model class a `MyModel(...)` call instantiates, or None."""
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Name):
        cls = an.classes.get(value.func.value)
        if cls is not None and cls.kind == "model":
            return cls
    return None


def layer_key(t, call: cst.Call) -> str | None:
    """`_layer_calls` hook: a call of one of the script's translated layer classes inside a
    Sequential resolves to its own layer rule."""
    if isinstance(call.func, cst.Name):
        cls = t.an.classes.get(call.func.value)
        rule = t.rules.layers.get(call.func.value)
        if cls is not None and cls.ok and rule is not None and rule.id == f"script-{cls.name}":
            return f"keras.layers.{cls.name}"
    return None


def visit_class(t, node: cst.ClassDef) -> bool:
    """Translator hook: the script's Keras classes are rewritten whole, not statement by statement."""
    cls = t.an.classes.get(node.name.value)
    return not (cls is not None and cls.node is node)  # one left in Keras stays whole


def leave_class(t, original: cst.ClassDef, updated: cst.BaseStatement) -> cst.BaseStatement:
    cls = t.an.classes.get(original.name.value)
    if cls is None or cls.node is not original:
        return updated
    if cls.ok and cls.translated is not None:
        return cls.translated
    return t._mark(updated, cls.reason) if cls.reason else updated


def prepare(t) -> None:
    """Translator hook, before Sequential models are built: translates every recorded class and
    registers the instances of model classes as models (compile/fit/... then translate as usual)."""
    classes = t.an.classes
    if not classes:
        return
    for c in t.an.class_models:
        cls = classes[c.node.func.value]
        cls.summary = cls.summary or id(c) in t.an.summaries
    for cls in classes.values():
        ClassWriter(t, cls).write()
        if cls.ok and cls.name not in t.rules.layers:  # usable as a layer inside a Sequential model
            t.rules = replace(t.rules, layers={**t.rules.layers, cls.name: _layer_rule(cls)})
    for c in t.an.class_models:
        cls = classes[c.node.func.value]
        if not cls.ok:
            t.failed.add(id(c))
            continue
        info = ModelInfo(variable=c.variable, class_name=cls.name, layers=cls.layers)
        t.builds[id(c)] = ModelBuild(cls.translated, info, ())  # type: ignore[arg-type]
        t.models.append(info)


def build_call(t, var: str, call: cst.Call) -> cst.BaseExpression:
    """`model.build(input_shape)`: one call on zeros of that shape sizes every lazy layer."""
    t.support.add("keras_build")
    t.stats = t.stats + Stats(calls=1)
    return cst.Call(cst.Name("keras_build"), args=[cst.Arg(cst.Name(var)), call.args[0].with_changes(
        keyword=None, equal=cst.MaybeSentinel.DEFAULT, comma=cst.MaybeSentinel.DEFAULT)])


def _layer_rule(cls: CustomClass) -> Mapping:
    """A layer rule for one of the script's layer classes: constructed as the script wrote it."""
    return Mapping(id=f"script-{cls.name}", kind="layer", keras=cls.name,
                   signature=tuple((n, d if d == REQUIRED else DEFAULT_MARK) for n, d in cls.signature),
                   torch=cls.name, hook="script_layer", shape="script", layout="last",
                   weights=cls.weights, own_activation=True)


def _script_layer(ctx: LayerContext) -> cst.BaseExpression:
    return cst.Call(cst.Name(ctx.target), args=[
        _kwarg(k, v) for k, v in ctx.args.items() if not (isinstance(v, cst.Name) and v.value == DEFAULT_MARK)])


hooks.MODULE_HOOKS["script_layer"] = _script_layer


# --- one class ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tail:
    """A shape of unknown rank whose last axis is known: what a Dense gives for any input."""

    last: object  # an int or the user's expression


def _known_rank(shape) -> bool:
    return shape is not None and not isinstance(shape, Tail)


@dataclass
class Slot:
    """A layer the class creates in __init__ (`self.dense1 = layers.Dense(64)`)."""

    attr: str
    call: cst.Call
    stmt: cst.BaseStatement
    keras_class: str
    keras_name: str
    key: str | None = None  # keras.layers.X: built by the layer rules
    script_class: CustomClass | None = None  # one of the script's own layer classes
    built: list[cst.BaseStatement] | None = None
    lm: LayerMap | None = None
    in_shape: Shape | Tail | None = None
    out_shape: Shape | Tail | None = None
    layout: str = "last"  # what the module needs: "first", "last" or "any"
    used: bool = False  # its first call site fixed its layouts
    error: LayerError | None = None
    nested: list[tuple[cst.Call, str]] | None = None  # a keras.Sequential's layers


@dataclass
class LayerList:
    """Layers the class keeps in a list attribute: Keras tracks each; torch needs nn.ModuleList."""

    attr: str
    value: cst.List | cst.ListComp
    stmt: cst.BaseStatement
    slots: list[Slot]  # one per element; a comprehension has one for all its elements
    count: int | None  # how many layers (None: a comprehension over an unknown range)
    keras_names: list[str]


def _range_count(for_in: cst.CompFor, constants: dict) -> int | None:
    """How many times `for _ in range(n)` runs, when n is a literal or a module constant."""
    if for_in.inner_for_in is not None or for_in.ifs:
        return None
    it = for_in.iter
    if isinstance(it, cst.Call) and isinstance(it.func, cst.Name) and it.func.value == "range" \
            and len(it.args) == 1 and it.args[0].keyword is None:
        node = it.args[0].value
        if isinstance(node, cst.Name) and isinstance(constants.get(node.value), int):
            return constants[node.value]
        try:
            value = literal(node)
        except ValueError:
            return None
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    return None


@dataclass
class Weight:
    """A weight the class creates with add_weight."""

    attr: str
    keras_name: str
    trainable: bool
    in_build: bool


@dataclass
class Problem:
    node: cst.CSTNode
    rule: str
    message: str


def _self_attr(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self":
        return node.attr.value
    return None


def _self_assignment(stmt: cst.BaseStatement) -> tuple[str, cst.BaseExpression] | None:
    """`self.attr = value` as (attr, value)."""
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Assign):
        assign = stmt.body[0]
        if len(assign.targets) == 1:
            attr = _self_attr(assign.targets[0].target)
            if attr is not None:
                return attr, assign.value
    return None


def _is_self_method_call(node: cst.BaseExpression, method: str) -> bool:
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
        and _self_attr(node.func) == method


def _super_call(stmt: cst.BaseStatement, method: str) -> cst.Call | None:
    """`super().method(...)` or `super(Cls, self).method(...)` as an expression statement."""
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr):
        call = stmt.body[0].value
        if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) \
                and call.func.attr.value == method and isinstance(call.func.value, cst.Call) \
                and isinstance(call.func.value.func, cst.Name) and call.func.value.func.value == "super":
            return call
    return None


def _param_names(func: cst.FunctionDef) -> list[str]:
    p = func.params
    names = [x.name.value for x in (*p.posonly_params, *p.params, *p.kwonly_params)]
    for star in (p.star_arg, p.star_kwarg):
        if isinstance(star, cst.Param):
            names.append(star.name.value)
    return names


def _assigned(node: cst.CSTNode) -> set[str]:
    found: set[str] = set()

    class V(cst.CSTVisitor):
        def visit_AssignTarget(self, n: cst.AssignTarget) -> None:
            found.update(_target_names(n.target))

        def visit_AugAssign(self, n: cst.AugAssign) -> None:
            found.update(_target_names(n.target))

        def visit_AnnAssign(self, n: cst.AnnAssign) -> None:
            found.update(_target_names(n.target))

        def visit_For(self, n: cst.For) -> None:
            found.update(_target_names(n.target))

    walk.visit(node, V())
    return found


def _target_names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for el in target.elements for n in _target_names(el.value)]
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    return []


def _names_in(node: cst.CSTNode) -> set[str]:
    found: set[str] = set()

    class V(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            found.add(n.value)

        def visit_Attribute(self, n: cst.Attribute) -> bool:
            walk.visit(n.value, self)
            return False

    walk.visit(node, V())
    return found


def _statement(text: str, comment: str | None = None) -> cst.SimpleStatementLine:
    stmt = cst.parse_statement(text + "\n")
    if comment:
        stmt = stmt.with_changes(trailing_whitespace=cst.TrailingWhitespace(
            whitespace=cst.SimpleWhitespace("  "), comment=cst.Comment(f"# {comment}")))
    return stmt  # type: ignore[return-value]


def _with_lines(new: list[cst.BaseStatement], old: cst.BaseStatement) -> list[cst.BaseStatement]:
    """The original statement's leading comments and blank lines stay in front of its replacement."""
    if not new:
        return new
    first = new[0]
    return [first.with_changes(leading_lines=[*old.leading_lines, *first.leading_lines]), *new[1:]]


class _LazyLayerNorm(cst.CSTTransformer):
    """`nn.LayerNorm(<unknown size>, ...)` -> `LazyLayerNorm(...)`."""

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        if code(updated_node.func) == "nn.LayerNorm" and updated_node.args \
                and code(updated_node.args[0].value) == SIZE_MARK:
            return updated_node.with_changes(func=cst.Name("LazyLayerNorm"), args=updated_node.args[1:])
        return updated_node


class _RenameSelfAttr(cst.CSTTransformer):
    def __init__(self, old: str, new: str):
        self.old, self.new = old, new

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        if _self_attr(original_node) == self.old:
            return updated_node.with_changes(attr=cst.Name(self.new))
        return updated_node


class ClassWriter:
    """Translates one class: its layers, weights, forward pass and other methods."""

    def __init__(self, t, cls: CustomClass):
        self.t = t
        self.cls = cls
        self.ops = load_ops()
        self.slots: dict[str, Slot] = {}
        self.lists: dict[str, LayerList] = {}
        self.order: list[str] = []  # layer attributes in the order Keras tracks them
        self.module_names: set[str] = set()  # loop variables that run over a layer list
        self.weights: list[Weight] = []
        self.lazy: list[str] = []
        self.constants: dict = {}
        self.training_param = False

    # -- diagnostics ---------------------------------------------------------------------------
    def todo(self, stmt: cst.BaseStatement, problems: Sequence[Problem]) -> cst.BaseStatement:
        for p in problems:
            self.t.diag(p.node, TODO, p.rule, p.message)
        return self.t._mark(stmt, problems[0].message) if problems else stmt

    # -- the class -----------------------------------------------------------------------------
    def write(self) -> None:
        t, cls = self.t, self.cls
        node = cls.node
        methods = {s.name.value: s for s in node.body.body if isinstance(s, cst.FunctionDef)}
        if "call" not in methods and cls.parent is None:
            what = "a Keras 1 layer (get_output)" if "get_output" in methods else "a class without call()"
            cls.reason = f"`{cls.name}` is {what}: left in Keras"
            t.diag(node, TODO, "subclass", cls.reason)
            return
        init = methods.get("__init__")
        if init is not None:
            self.constants = {k: v for k, v in t.an.constants.items()
                              if k not in set(_param_names(init)) | _assigned(init)}
            self._find_slots(init)
        else:
            self.constants = dict(t.an.constants)
        build = methods.get("build")
        self._find_weights(init, in_build=False)
        self._find_weights(build, in_build=True)
        self.module_names = self._list_loop_names(node)
        forward = self._forward(methods["call"]) if "call" in methods else None
        for slot in self.slots.values():  # layers `call` never reaches: built without a shape
            if slot.built is None and slot.error is None:
                self._build_slot(slot, None)
        for group in self.lists.values():
            for slot in group.slots:
                self._build_slot(slot, None)
        body: list[cst.BaseStatement] = []
        for stmt in node.body.body:
            if not isinstance(stmt, cst.FunctionDef):
                body.append(self._plain_statement(stmt))
                continue
            name = stmt.name.value
            if name == "__init__":
                body.append(self._init(stmt).with_changes(decorators=self._decorators(stmt)))
            elif name == "call" and forward is not None:
                body.append(forward.with_changes(decorators=self._decorators(stmt)))
            elif name == "build":
                body.append(self._build(stmt).with_changes(decorators=self._decorators(stmt)))
            elif name in DESCRIPTIVE:
                t.diag(stmt, NOTE, "subclass", f"{cls.name}.{name}() only describes the layer to Keras; "
                       "left out (it changes no result)")
            elif name in TRAINING_HOOKS:
                t.diag(stmt, TODO, "subclass-training-step",
                       f"{cls.name}.{name}() customises Keras' training loop: not translated")
                body.append(t._mark(stmt, f"{name}() customises Keras' training loop: not translated"))
            else:
                body.append(self._method(stmt).with_changes(decorators=self._decorators(stmt)))
        if init is None and self.weights:
            at = self._after_docstring(body)
            body.insert(at, self._synthesized_init())
            if at + 1 < len(body) and not body[at + 1].leading_lines:
                body[at + 1] = body[at + 1].with_changes(leading_lines=[cst.EmptyLine(indent=False)])
        if not body:
            body = [cst.SimpleStatementLine([cst.Pass()])]
        base = cls.parent or ("KerasLayer" if build is not None else "nn.Module")
        decorators = self._decorators(node)
        if cls.summary and cls.kind == "model":
            at = self._after_docstring(body)
            attributes = self._summary_attributes()
            body[at:at] = attributes
            after = at + len(attributes)
            if after < len(body) and not body[after].leading_lines:
                body[after] = body[after].with_changes(leading_lines=[cst.EmptyLine(indent=False)])
        new = node.with_changes(bases=[cst.Arg(cst.parse_expression(base))], keywords=[],
                                decorators=decorators, body=node.body.with_changes(body=body))
        cls.translated = new
        cls.ok = True
        cls.keras_name = cls.keras_name or snake_case(cls.name)
        cls.layers = tuple(self._layer_maps())
        own = [w for w in self.weights if w.trainable] + [w for w in self.weights if not w.trainable]
        recipes = [(w.keras_name, w.attr, None) for w in own]
        for lm in cls.layers:
            recipes.extend((k, f"{lm.attribute}.{path}", *rest) for k, path, *rest in lm.weights)
        cls.weights = tuple(recipes)
        cls.signature = self._signature(init)
        if self.lazy:
            t.diag(node, NOTE, "lazy-module", (
                f"{cls.name}: Keras builds the layers on the first call, so the input sizes of "
                f"{', '.join(dict.fromkeys(self.lazy))} come from the first batch "
                "(torch lazy modules / parameters)"))
        t.imports.add("nn")
        used = _names_in(new)
        t.support |= used & support.names()
        t.imports.update(n for n in ("torch", "F") if n in used)
        t.stats = t.stats + Stats(layers=len(self.slots))

    def _layer_maps(self) -> list[LayerMap]:
        """The layer map in Keras' tracking order: attributes as assigned, list elements in place."""
        maps = []
        for attr in self.order:
            if attr in self.slots:
                if self.slots[attr].lm is not None:
                    maps.append(self.slots[attr].lm)
                continue
            group = self.lists[attr]
            if group.count is None or any(s.lm is None for s in group.slots):
                continue
            for k in range(group.count):
                slot = group.slots[k if isinstance(group.value, cst.List) else 0]
                maps.append(replace(slot.lm, attribute=f"{attr}.{k}", keras_name=group.keras_names[k]))
        return maps

    def _list_loop_names(self, node: cst.ClassDef) -> set[str]:
        """Names a `for layer in self.blocks:` loop binds to the layers of a list attribute."""
        lists = self.lists
        found: set[str] = set()

        class V(cst.CSTVisitor):
            def visit_For(self, n: cst.For) -> None:
                if _self_attr(n.iter) in lists and isinstance(n.target, cst.Name):
                    found.add(n.target.value)

        walk.visit(node, V())
        return found

    def _list_module(self, group: LayerList) -> cst.BaseExpression:
        exprs = []
        for slot in group.slots:
            if slot.error is not None:
                raise slot.error
            assign = slot.built[0].body[0]  # type: ignore[index, union-attr]
            exprs.append(assign.value)  # type: ignore[union-attr]
            if len(slot.built or []) > 1:
                self.t.diag(slot.call, NOTE, "initializer", f"{slot.keras_class} in a list: its "
                            "initializers are not reproduced (weights differ, training does not)")
        if isinstance(group.value, cst.List):
            inner: cst.BaseExpression = group.value.with_changes(
                elements=[el.with_changes(value=e) for el, e in zip(group.value.elements, exprs, strict=True)])
        else:
            inner = group.value.with_changes(elt=exprs[0])
        return cst.Call(cst.parse_expression("nn.ModuleList"), args=[cst.Arg(inner)])

    @staticmethod
    def _after_docstring(body: list[cst.BaseStatement]) -> int:
        if body and isinstance(body[0], cst.SimpleStatementLine) and isinstance(body[0].body[0], cst.Expr) \
                and isinstance(body[0].body[0].value, (cst.SimpleString, cst.ConcatenatedString)):
            return 1
        return 0

    def _signature(self, init: cst.FunctionDef | None) -> tuple[tuple[str, str], ...]:
        if init is None:
            return ()
        out = []
        for p in init.params.params[1:]:
            out.append((p.name.value, REQUIRED if p.default is None else code(p.default)))
        for p in init.params.kwonly_params:
            out.append((p.name.value, REQUIRED if p.default is None else code(p.default)))
        return tuple(out)

    def _summary_attributes(self) -> list[cst.BaseStatement]:
        rows = []
        for slot in self.slots.values():
            shape = slot.out_shape if _known_rank(slot.out_shape) else ()
            dims = ", ".join(str(d) if isinstance(d, int) else "None" for d in shape)
            if len(shape) == 1:
                dims += ","
            rows.append(f"({slot.attr!r}, {slot.keras_class!r}, ({dims}))")
        name = self.cls.keras_name or snake_case(self.cls.name)
        text = f"keras_name = {name!r}\nkeras_layers = ({', '.join(rows)}{',' if len(rows) == 1 else ''})\n"
        return list(cst.parse_module(text).body)

    # -- layers and weights --------------------------------------------------------------------
    def _find_slots(self, init: cst.FunctionDef) -> None:
        for stmt in init.body.body:
            found = _self_assignment(stmt)
            if found is None:
                continue
            attr, value = found
            if isinstance(value, cst.Call):
                slot = self._slot_for(attr, value, stmt)
                if slot is not None:
                    self.slots[attr] = slot
                    self.order.append(attr)
            elif isinstance(value, (cst.List, cst.ListComp)):
                group = self._layer_list(attr, value, stmt)
                if group is not None:
                    self.lists[attr] = group
                    self.order.append(attr)

    def _slot_for(self, attr: str, call: cst.BaseExpression, stmt: cst.BaseStatement) -> Slot | None:
        t = self.t
        if not isinstance(call, cst.Call):
            return None
        key = t.names.resolve(call.func)
        if key is None:
            key = t.names.resolve_star(call.func, {f"keras.layers.{k}" for k in t.rules.layers})
        script = t.an.classes.get(call.func.value) if isinstance(call.func, cst.Name) else None
        if script is not None and script.ok:  # the script's own layer (or model) class
            return Slot(attr, call, stmt, script.name, self._keras_name(script.name, call), script_class=script)
        if key and key.startswith("keras.layers.") and key.rsplit(".", 1)[-1] in t.rules.layers:
            keras_class = key.rsplit(".", 1)[-1]
            return Slot(attr, call, stmt, keras_class, self._keras_name(keras_class, call), key=key,
                        layout=t.rules.layers[keras_class].layout)
        if key == "keras.Sequential":
            nested = self._sequential_layers(call)
            if nested is not None:
                for inner, inner_key in nested:  # Keras names the inner layers first
                    self._keras_name(inner_key.rsplit(".", 1)[-1], inner)
                return Slot(attr, call, stmt, "Sequential", self._keras_name("Sequential", call), nested=nested)
        return None

    def _sequential_layers(self, call: cst.Call) -> list[tuple[cst.Call, str]] | None:
        """The layers of `keras.Sequential([...])` written out in the call, when all have rules."""
        t = self.t
        args = [a for a in call.args if not (a.keyword and a.keyword.value == "name")]
        if len(args) != 1 or (args[0].keyword and args[0].keyword.value != "layers") \
                or not isinstance(args[0].value, (cst.List, cst.Tuple)):
            return None
        out = []
        for el in args[0].value.elements:
            key = t.names.resolve(el.value.func) if isinstance(el.value, cst.Call) else None
            if isinstance(el, cst.StarredElement) or not key or not key.startswith("keras.layers.") \
                    or key.rsplit(".", 1)[-1] not in t.rules.layers:
                return None
            out.append((el.value, key))
        return out or None

    def _build_sequential(self, slot: Slot, in_shape) -> None:
        """A Sequential kept as an attribute: nn.Sequential of the translated layers."""
        t = self.t
        first = t.rules.layers[slot.nested[0][1].rsplit(".", 1)[-1]]  # type: ignore[index]
        chain = all(t.rules.layers[k.rsplit(".", 1)[-1]].shape in ("dense", "same") for _, k in slot.nested)
        proxy = in_shape if _known_rank(in_shape) else (in_shape.last,) if isinstance(in_shape, Tail) \
            else (None,) if first.shape == "dense" else None
        builder = SequentialBuilder(t.rules, Counter())
        builder.constants = self.constants
        try:
            build = builder.build("", "_", slot.keras_name, slot.nested, proxy, "",  # type: ignore[arg-type]
                                  t.names.resolve, "", False)
        except LayerError as exc:
            slot.error = exc
            return
        init = next(s for s in build.class_def.body.body
                    if isinstance(s, cst.FunctionDef) and s.name.value == "__init__")
        forward = next(s for s in build.class_def.body.body
                       if isinstance(s, cst.FunctionDef) and s.name.value == "forward")
        steps = [code(s).strip() for s in forward.body.body]
        modules = [s.body[0].value for s in init.body.body[1:]  # type: ignore[attr-defined]
                   if isinstance(s.body[0], cst.Assign)]  # type: ignore[attr-defined]
        if len(modules) != len(build.info.layers) or len(init.body.body) - 1 != len(modules) \
                or steps != [f"x = self.{lm.attribute}(x)" for lm in build.info.layers] + ["return x"]:
            slot.error = LayerError("a Sequential attribute whose layers need channels moved or "
                                    "initializers is not translated yet", slot.call)
            return
        if any(rule == "lazy-module" for rule, _, _ in build.warnings):
            self.lazy.append(slot.attr)
        for rule_id, message, node in build.warnings:
            if rule_id != "lazy-module":
                t.diag(node, NOTE if rule_id == "initializer" else WARNING, rule_id, message)
        module = cst.Call(cst.parse_expression("nn.Sequential"), args=[cst.Arg(m) for m in modules])
        slot.built = [cst.SimpleStatementLine([cst.Assign(
            [cst.AssignTarget(cst.parse_expression(f"self.{slot.attr}"))], module)])]
        weights = tuple((k, f"{i}.{path}", *rest) for i, lm in enumerate(build.info.layers)
                        for k, path, *rest in lm.weights)
        slot.lm = LayerMap(slot.keras_name, "Sequential", slot.attr, CHANNELS_LAST, CHANNELS_LAST, weights=weights)
        out = builder.last_shape
        slot.out_shape = out if _known_rank(in_shape) else Tail(out[-1]) if chain and out else None

    def _layer_list(self, attr: str, value: cst.List | cst.ListComp, stmt: cst.BaseStatement) -> LayerList | None:
        """`self.blocks = [Dense(8), Dense(8)]` or `[Dense(8) for _ in range(3)]`: an nn.ModuleList."""
        if isinstance(value, cst.List):
            if any(isinstance(el, cst.StarredElement) for el in value.elements):
                return None
            calls = [el.value for el in value.elements]
            count: int | None = len(calls)
        else:
            calls = [value.elt]
            count = _range_count(value.for_in, self.constants)
        slots = []
        for i, call in enumerate(calls):
            slot = self._slot_for(f"{attr}.{i}", call, stmt)
            if slot is None or slot.layout == "first":  # channels cannot move around a loop's calls
                return None
            slots.append(slot)
        names = [s.keras_name for s in slots]
        if isinstance(value, cst.ListComp) and count is not None:
            names += [self._keras_name(slots[0].keras_class, slots[0].call) for _ in range(count - 1)]
        return LayerList(attr, value, stmt, slots, count, names)

    def _keras_name(self, keras_class: str, call: cst.Call) -> str:
        for arg in call.args:
            if arg.keyword and arg.keyword.value == "name":
                try:
                    return str(literal(arg.value))
                except ValueError:
                    break
        stem = snake_case(keras_class)
        n = self.t.uids[stem]
        self.t.uids[stem] += 1
        return stem if n == 0 else f"{stem}_{n}"

    def _find_weights(self, func: cst.FunctionDef | None, in_build: bool) -> None:
        if func is None:
            return
        for stmt in func.body.body:
            found = _self_assignment(stmt)
            if found is None or not _is_self_method_call(found[1], "add_weight"):
                continue
            try:
                args = self._add_weight_args(found[1])  # type: ignore[arg-type]
            except Unsupported:
                continue  # reported where the statement is translated
            name = "variable"
            if "name" in args:
                try:
                    name = str(literal(args["name"]))
                except ValueError:
                    pass
            trainable = "trainable" not in args or bool(literal(args["trainable"]))
            self.weights.append(Weight(found[0], name, trainable, in_build))

    def _add_weight_args(self, call: cst.Call) -> dict[str, cst.BaseExpression]:
        keras2 = bool(call.args) and call.args[0].keyword is None and isinstance(call.args[0].value, cst.SimpleString)
        args = bind(call, ADD_WEIGHT_KERAS2 if keras2 else ADD_WEIGHT, {}, {})
        known = {n for n, _ in ADD_WEIGHT_KERAS2} | ADD_WEIGHT_IGNORED
        for k, v in args.items():
            if k not in known:
                raise Unsupported(f"add_weight({k}=...) is not supported")
            if k in ("regularizer", "constraint") and code(v) != "None":
                raise Unsupported(f"add_weight({k}=...) changes training in Keras: not translated")
            if k == "dtype" and code(v) not in ("None", "'float32'", '"float32"'):
                raise Unsupported("add_weight(dtype=...) other than float32 is not supported")
            if k == "trainable":
                try:
                    literal(v)
                except ValueError:
                    raise Unsupported("add_weight(trainable=...) must be a literal") from None
        return args

    def _weight_expression(self, call: cst.Call, declared: cst.BaseExpression) -> cst.BaseExpression:
        args = self._add_weight_args(call)
        shape = args.get("shape", cst.parse_expression("()"))
        if code(shape) == "None":
            shape = cst.parse_expression("()")  # Keras: a scalar
        out = [cst.Arg(declared), cst.Arg(self._rewrite_expression(shape))]
        init = args.get("initializer")
        if init is not None and code(init) != "None":
            try:
                value = literal(init)
            except ValueError:
                value = None
            if isinstance(value, str):
                if value not in hooks.INITIALIZERS:
                    raise Unsupported(f"initializer {value!r} has no rule")
                name = hooks.INITIALIZERS[value][0]
                if name != "glorot_uniform":
                    out.append(cst.Arg(cst.SimpleString(repr(name))))
            else:
                out.append(cst.Arg(self._rewrite_expression(init)))
        return cst.Call(cst.Name("keras_weight"), args=out)

    def _build_slot(self, slot: Slot, in_shape: Shape | None) -> None:
        t = self.t
        slot.in_shape = in_shape
        if slot.script_class is not None:
            slot.built = [cst.SimpleStatementLine([cst.Assign(
                [cst.AssignTarget(cst.parse_expression(f"self.{slot.attr}"))], slot.call)])]
            slot.lm = LayerMap(slot.keras_name, slot.keras_class, slot.attr, CHANNELS_LAST, CHANNELS_LAST,
                               weights=slot.script_class.weights)
            return
        if slot.nested is not None:
            self._build_sequential(slot, in_shape)
            return
        rule = t.rules.layers[slot.keras_class]
        rank = _conv_rank(slot.keras_class)
        tail = rule.shape == "dense" or (rule.shape == "same" and rule.layout == "last")
        proxy: Shape | None = None
        if isinstance(in_shape, Tail):  # only the last axis matters to these layers
            proxy = (in_shape.last,) if tail else None
        elif in_shape is None and rank:
            proxy = (None,) * rank  # the layer fixes the rank: channels can still move first
        elif in_shape is None and rule.shape == "dense":
            proxy = (None,)
        else:
            proxy = in_shape
        lazy_norm = slot.keras_class == "LayerNormalization" and (proxy is None or proxy[-1] is None)
        if lazy_norm:  # torch has no lazy LayerNorm: the support code's takes its size on the first call
            proxy = (cst.Name(SIZE_MARK),)
        builder = SequentialBuilder(t.rules, Counter())
        builder.constants = self.constants
        try:
            build = builder.build("", "_", "_", [(slot.call, slot.key)], proxy, "",  # type: ignore[list-item]
                                  t.names.resolve, "", False)
        except LayerError as exc:
            slot.error = exc
            return
        if lazy_norm:
            build = replace(build, class_def=build.class_def.visit(_LazyLayerNorm()))
            proxy = None
        lm = build.info.layers[0]
        init = next(s for s in build.class_def.body.body
                    if isinstance(s, cst.FunctionDef) and s.name.value == "__init__")
        rename = _RenameSelfAttr(lm.attribute, slot.attr if slot.attr.isidentifier() else lm.attribute)
        stmts = [s.visit(rename) for s in init.body.body[1:]]
        lazy = any(rule == "lazy-module" for rule, _, _ in build.warnings) or "Lazy" in code(stmts[0])
        if lazy:
            self.lazy.append(slot.attr)
            if len(stmts) > 1:
                t.diag(slot.call, NOTE, "initializer", (
                    f"{slot.keras_class}: its initializers are not reproduced: the input size "
                    "comes from the first batch (weights differ, training does not)"))
                stmts = stmts[:1]
        for rule_id, message, node in build.warnings:
            if rule_id != "lazy-module":
                t.diag(node, NOTE if rule_id == "initializer" else WARNING, rule_id, message)
        slot.built = stmts
        slot.lm = replace(lm, attribute=slot.attr, keras_name=slot.keras_name)
        out = builder.last_shape
        if lazy_norm:
            slot.out_shape = in_shape
        elif tail and not _known_rank(in_shape) and out:
            slot.out_shape = Tail(out[-1])
        elif rule.shape == "same" and rule.layout == "any":
            slot.out_shape = in_shape
        else:
            slot.out_shape = out

    # -- methods -------------------------------------------------------------------------------
    def _decorators(self, node: cst.ClassDef | cst.FunctionDef) -> list[cst.Decorator]:
        """Decorators that only concern Keras or TensorFlow go; other framework ones are TODOs."""
        t = self.t
        kept = []
        for d in node.decorators:
            key = t.names.resolve(d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator)
            if key in KERAS_DECORATORS or key == "tensorflow.function":
                what = "tf.function compiles a TensorFlow graph; torch runs the method as written" \
                    if key == "tensorflow.function" else "Keras' serialisation registry has no torch counterpart"
                t.diag(d, NOTE, "subclass", f"{what}: decorator left out")
                continue
            if key is not None:
                t.diag(d, TODO, "untranslated", f"decorator `{code(d.decorator)}` has no rule")
                d = d.with_changes(trailing_whitespace=cst.TrailingWhitespace(
                    whitespace=cst.SimpleWhitespace("  "),
                    comment=cst.Comment(f"# {TODO_MARK}: decorator `{code(d.decorator)}` has no rule")))
            kept.append(d)
        return kept

    def _init(self, func: cst.FunctionDef) -> cst.FunctionDef:
        t = self.t
        out: list[cst.BaseStatement] = []
        declared = False
        for stmt in func.body.body:
            t.current_stmt = stmt
            sup = _super_call(stmt, "__init__")
            if sup is not None and self.cls.parent is None:
                for arg in sup.args:
                    if arg.keyword and arg.keyword.value == "name":
                        try:
                            self.cls.keras_name = str(literal(arg.value))
                        except ValueError:
                            pass
                    elif arg.keyword is None and not arg.star:
                        t.diag(arg, TODO, "subclass", "a functional model built in __init__ is not translated")
                new = _statement("super().__init__()")
                out.extend(_with_lines([new, *self._declarations()], stmt))
                declared = True
                continue
            if sup is not None:
                out.append(self._plain_statement(stmt))
                out.extend(self._declarations())
                declared = True
                continue
            found = _self_assignment(stmt)
            if found is not None and found[0] in self.slots and found[1] is self.slots[found[0]].call:
                slot = self.slots[found[0]]
                if slot.error is not None:
                    t.diag(slot.error.node, TODO, "unsupported-layer", f"{slot.error}")
                    out.append(t._mark(stmt, str(slot.error)))
                else:
                    out.extend(_with_lines(slot.built or [], stmt))
                continue
            if found is not None and found[0] in self.lists and found[1] is self.lists[found[0]].value:
                try:
                    module = self._list_module(self.lists[found[0]])
                except LayerError as exc:
                    t.diag(exc.node, TODO, "unsupported-layer", str(exc))
                    out.append(t._mark(stmt, str(exc)))
                    continue
                line = stmt.body[0]  # type: ignore[attr-defined]
                out.append(stmt.with_changes(body=[line.with_changes(value=module)]))  # type: ignore[attr-defined]
                continue
            if found is not None and _is_self_method_call(found[1], "add_weight"):
                trainable = next((w.trainable for w in self.weights if w.attr == found[0]), True)
                param = "nn.UninitializedParameter()" if trainable else \
                    "nn.UninitializedParameter(requires_grad=False)"
                out.append(self._weight_statement(stmt, found, cst.parse_expression(param)))
                continue
            out.append(self._plain_statement(stmt))
        if not declared:
            out = [*self._declarations(), *out]
        return func.with_changes(body=func.body.with_changes(body=out))

    def _declarations(self) -> list[cst.BaseStatement]:
        out = []
        for w in self.weights:
            if w.in_build:
                param = "nn.UninitializedParameter()" if w.trainable else \
                    "nn.UninitializedParameter(requires_grad=False)"
                out.append(_statement(f"self.{w.attr} = {param}", "shaped by build() on the first call, as in Keras"))
        return out

    def _synthesized_init(self) -> cst.FunctionDef:
        func = cst.parse_statement("def __init__(self, **kwargs):\n    super().__init__()\n")
        body = [*func.body.body, *self._declarations()]  # type: ignore[attr-defined]
        return func.with_changes(body=func.body.with_changes(body=body))  # type: ignore[attr-defined]

    def _weight_statement(self, stmt: cst.BaseStatement, found: tuple[str, cst.BaseExpression],
                          declared: cst.BaseExpression) -> cst.BaseStatement:
        call = found[1]
        try:
            value = self._weight_expression(call, declared)  # type: ignore[arg-type]
        except Unsupported as exc:
            return self.todo(stmt, [Problem(call, "subclass", str(exc))])
        line = stmt.body[0]  # type: ignore[attr-defined]
        return stmt.with_changes(body=[line.with_changes(value=value)])  # type: ignore[attr-defined]

    def _build(self, func: cst.FunctionDef) -> cst.FunctionDef:
        t = self.t
        out: list[cst.BaseStatement] = []
        for stmt in func.body.body:
            t.current_stmt = stmt
            if _super_call(stmt, "build") is not None or self._is_built_flag(stmt):
                continue  # Keras' bookkeeping: the layer counts as built
            found = _self_assignment(stmt)
            if found is not None and _is_self_method_call(found[1], "add_weight"):
                out.append(self._weight_statement(stmt, found, cst.parse_expression(f"self.{found[0]}")))
                continue
            if found is not None and isinstance(found[1], cst.Call) and (
                    t.names.resolve(found[1].func) or "").startswith("keras.layers."):
                out.append(self.todo(stmt, [Problem(found[1], "subclass", (
                    "a layer created in build() would escape the optimizer in torch: create it in __init__"))]))
                continue
            out.append(self._plain_statement(stmt))
        if not out:
            out = [cst.SimpleStatementLine([cst.Pass()])]
        return func.with_changes(body=func.body.with_changes(body=out))

    @staticmethod
    def _is_built_flag(stmt: cst.BaseStatement) -> bool:
        found = _self_assignment(stmt)
        return found is not None and found[0] == "built" and code(found[1]) == "True"

    def _forward(self, func: cst.FunctionDef) -> cst.FunctionDef:
        new_params = _without_training(func.params)
        self.training_param = new_params is not func.params
        shapes: dict[str, Shape | None] = {}
        body = Forward(self, training=self.training_param).block(func.body.body, shapes)
        return func.with_changes(name=cst.Name("forward"), params=new_params,
                                 body=func.body.with_changes(body=body))

    def _method(self, func: cst.FunctionDef) -> cst.FunctionDef:
        body = Forward(self, training=False).block(func.body.body, {})
        return func.with_changes(body=func.body.with_changes(body=body))

    # -- statements ----------------------------------------------------------------------------
    def _rewrite_expression(self, node: cst.BaseExpression) -> cst.BaseExpression:
        rewriter = BodyRewriter(self, training=False)
        new = node.visit(rewriter)
        if rewriter.problems:
            raise Unsupported(rewriter.problems[0].message)
        return new  # type: ignore[return-value]

    def _plain_statement(self, stmt: cst.BaseStatement, training: bool = False) -> cst.BaseStatement:
        """A statement with its Keras functions rewritten; what stays Keras is marked TODO."""
        self.t.current_stmt = stmt
        rewriter = BodyRewriter(self, training)
        new = stmt.visit(rewriter)
        reported = {code(p.node.func) for p in rewriter.problems if isinstance(p.node, cst.Call)}
        problems = rewriter.problems + [Problem(n, "untranslated", f"`{code(n)}` has no rule")
                                        for n in self._framework_refs(new) if code(n) not in reported]
        return self.todo(new, problems)  # type: ignore[arg-type]

    def _star_known(self) -> set[str]:
        """The Keras names a star import can bring into a class body."""
        return ({f"keras.layers.{k}" for k in self.t.rules.layers} | set(self.ops.calls)
                | set(self.ops.model_bases) | set(self.ops.layer_bases) | {"keras.Sequential", "keras.Input"})

    def _framework_refs(self, node: cst.CSTNode) -> list[cst.CSTNode]:
        names = self.t.names
        found: list[cst.CSTNode] = []
        starred = self._star_known() if names.star_modules else set()

        class V(cst.CSTVisitor):
            def visit_Attribute(self, n: cst.Attribute) -> bool:
                if dotted(n) is not None:
                    if names.full_path(n) is not None:
                        found.append(n)
                    return False
                return True

            def visit_Name(self, n: cst.Name) -> None:
                if n.value in names.bindings or (starred and names.resolve_star(n, starred)):
                    found.append(n)

            def visit_Arg(self, n: cst.Arg) -> bool:
                walk.visit(n.value, self)
                return False

            def visit_Param(self, n: cst.Param) -> bool:
                return False

        walk.visit(node, V())
        return found


def _without_training(params: cst.Parameters) -> cst.Parameters:
    """The parameters without Keras' `training` (the module's own self.training replaces it)."""
    kept = [p for p in params.params if p.name.value != "training"]
    kw = [p for p in params.kwonly_params if p.name.value != "training"]
    if len(kept) == len(params.params) and len(kw) == len(params.kwonly_params):
        return params
    star_arg = params.star_arg
    if not kw and isinstance(star_arg, cst.ParamStar):
        star_arg = cst.MaybeSentinel.DEFAULT  # a bare `*` needs a keyword-only parameter after it
    ordered = [*kept, *([star_arg] if isinstance(star_arg, cst.Param | cst.ParamStar) else []), *kw]
    if isinstance(params.star_kwarg, cst.Param):
        ordered.append(params.star_kwarg)
    if ordered:  # no dangling comma after the last parameter left
        last = ordered[-1]
        fixed = last.with_changes(comma=cst.MaybeSentinel.DEFAULT)
        kept = [fixed if p is last else p for p in kept]
        kw = [fixed if p is last else p for p in kw]
        if star_arg is last:
            star_arg = fixed
    star_kwarg = params.star_kwarg
    if star_kwarg is not None and star_kwarg is ordered[-1]:
        star_kwarg = star_kwarg.with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return params.with_changes(params=kept, kwonly_params=kw, star_arg=star_arg, star_kwarg=star_kwarg)


def _conv_rank(keras_class: str) -> int:
    """The input rank (without the batch axis) a convolution-like class implies: Conv2D -> 3."""
    match = re.search(r"([123])D(Transpose)?$", keras_class)
    return int(match.group(1)) + 1 if match else 0


class BodyRewriter(cst.CSTTransformer):
    """Rewrites Keras tensor functions, `training` and Keras-only layer calls in one statement."""

    def __init__(self, w: ClassWriter, training: bool, skip_blocks: bool = False):
        self.w = w
        self.training = training
        self.skip_blocks = skip_blocks
        self.problems: list[Problem] = []

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> bool:
        return not self.skip_blocks

    def visit_Param(self, node: cst.Param) -> bool:
        return False

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        return updated_node.with_changes(keyword=original_node.keyword)

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        if self.training and original_node.value == "training":
            return cst.parse_expression("self.training")  # nn.Module.train() / eval() set it
        return updated_node

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        updated_node = updated_node.with_changes(attr=original_node.attr)
        key = self.w.t.names.resolve(original_node)
        if key in self.w.ops.attributes:
            return cst.parse_expression(self.w.ops.attributes[key])
        return updated_node

    def leave_AugAssign(self, original_node: cst.AugAssign, updated_node: cst.AugAssign):
        # a Keras tensor is immutable: `x -= m` rebinds x; in torch it would write into the
        # caller's tensor
        if not isinstance(updated_node.target, cst.Name):
            return updated_node
        op = code(updated_node.operator).strip()[:-1]
        value = fill(f"{{a}} {op} {{b}}", {"a": updated_node.target, "b": updated_node.value})
        return cst.Assign([cst.AssignTarget(updated_node.target)], value)

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        w = self.w
        func = original_node.func
        attr = _self_attr(func) if isinstance(func, cst.Attribute) else None
        in_list = (isinstance(func, cst.Name) and func.value in w.module_names) or (
            isinstance(func, cst.Subscript) and _self_attr(func.value) in w.lists)
        if (attr is not None and attr in w.slots) or in_list:
            args = [a for a in updated_node.args if not (a.keyword and a.keyword.value == "training")]
            if args and args[-1].comma is not cst.MaybeSentinel.DEFAULT:
                args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            return updated_node.with_changes(args=args)
        if isinstance(func, cst.Attribute) and func.attr.value == "call" and isinstance(func.value, cst.Call) \
                and code(func.value.func) == "super":  # the parent's call() is its forward() now
            args = [a for a in updated_node.args if not (a.keyword and a.keyword.value == "training")]
            if args and args[-1].comma is not cst.MaybeSentinel.DEFAULT:
                args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            return updated_node.with_changes(func=updated_node.func.with_changes(attr=cst.Name("forward")),
                                             args=args)
        if attr in KERAS_ONLY_METHODS:
            self.problems.append(Problem(original_node, "subclass", f"self.{attr}() has no torch counterpart"))
            return updated_node
        key = w.t.names.resolve(func)
        if key is None:
            return updated_node
        rule = w.ops.calls.get(key)
        if rule is None:
            return updated_node
        try:
            expr = op_expression(rule, updated_node, key)
        except Unsupported as exc:
            self.problems.append(Problem(original_node, "unsupported-op", str(exc)))
            return updated_node
        w.t.stats = w.t.stats + Stats(calls=1)
        return expr


class _BlockSwap(cst.CSTTransformer):
    def __init__(self, blocks: dict[int, list[cst.BaseStatement]]):
        self.blocks = blocks

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> bool:
        return False

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock):
        body = self.blocks.get(id(original_node))
        return updated_node if body is None else updated_node.with_changes(body=body)


class _OwnBlocks(cst.CSTVisitor):
    """The indented blocks of one compound statement (not those of statements nested in them)."""

    def __init__(self) -> None:
        self.blocks: list[cst.IndentedBlock] = []

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> bool:
        self.blocks.append(node)
        return False


class Forward:
    """A method body: layer calls stay `x = self.dense(x)`, channels move first only around the
    layers that need it (torch convolves NCHW, Keras holds NHWC), Keras functions become torch."""

    def __init__(self, w: ClassWriter, training: bool):
        self.w = w
        self.training = training

    # -- layer calls ---------------------------------------------------------------------------
    def _slot_of(self, node: cst.BaseExpression) -> Slot | None:
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            attr = _self_attr(node.func)
            if attr is not None and attr in self.w.slots and node.args and node.args[0].keyword is None \
                    and not node.args[0].star:
                return self.w.slots[attr]
        return None

    def shape_of(self, node: cst.BaseExpression, shapes: dict):
        """The Keras shape of an expression's value where the code fixes it, else None."""
        if isinstance(node, cst.Name):
            return shapes.get(node.value)
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, (cst.Minus, cst.Plus)):
            return self.shape_of(node.expression, shapes)
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, ELEMENTWISE):
            return _broadcast(node.left, self.shape_of(node.left, shapes),
                              node.right, self.shape_of(node.right, shapes))
        if isinstance(node, cst.Call) and node.args and node.args[0].keyword is None:
            rule = self.w.ops.calls.get(self.w.t.names.resolve(node.func) or "")
            if rule is not None and rule.shape == "same":
                return self.shape_of(node.args[0].value, shapes)
        slot = self._slot_of(node)
        if slot is not None and slot.built is not None:
            arg = self.shape_of(node.args[0].value, shapes)  # type: ignore[attr-defined]
            if (arg is None and slot.in_shape is None) or (
                    arg is not None and slot.in_shape is not None and _shape_text(arg) == _shape_text(slot.in_shape)):
                return slot.out_shape  # the layer's first call saw this input shape
        return None

    def discover(self, stmt: cst.CSTNode, shapes: dict) -> None:
        """Builds each layer at its first call, with the input shape known there (inner calls first)."""
        forward = self

        class V(cst.CSTVisitor):
            def leave_Call(self, node: cst.Call) -> None:
                slot = forward._slot_of(node)
                if slot is not None and slot.built is None and slot.error is None:
                    forward.w._build_slot(slot, forward.shape_of(node.args[0].value, shapes))

            def visit_IndentedBlock(self, node: cst.IndentedBlock) -> bool:
                return False

        walk.visit(stmt, V())

    def _needs_first(self, slot: Slot, shape) -> bool:
        return slot.layout == "first" and not (_known_rank(shape) and len(shape) < 2)

    def _out_first(self, slot: Slot, first_in: bool) -> bool:
        if slot.layout == "any":
            return first_in
        if slot.layout != "first":
            return False
        return not (_known_rank(slot.out_shape) and len(slot.out_shape) < 2)

    def _mark_use(self, slot: Slot, first_in: bool, first_out: bool) -> None:
        if slot.used or slot.lm is None:
            return
        slot.used = True
        slot.lm = replace(slot.lm, layout_in=CHANNELS_FIRST if first_in else CHANNELS_LAST,
                          layout_out=CHANNELS_FIRST if first_out else CHANNELS_LAST)

    def lay(self, node: cst.BaseExpression, cf: set[str], shapes: dict) -> tuple[cst.BaseExpression, bool]:
        """An expression with channels moved around the layers inside it; True when its value is
        channels first."""
        slot = self._slot_of(node)
        if slot is None:
            return node.visit(_LastFixer(self, cf, shapes)), False  # type: ignore[return-value]
        call: cst.Call = node  # type: ignore[assignment]
        arg, first = self.lay(call.args[0].value, cf, shapes)
        if isinstance(call.args[0].value, cst.Name) and call.args[0].value.value in cf:
            first = True
        if self._needs_first(slot, slot.in_shape):
            if not first:
                arg = fill("{x}.movedim(-1, 1)", {"x": arg})
            first = True
        elif slot.layout == "last" and first:
            arg = fill("{x}.movedim(1, -1)", {"x": arg})
            first = False
        out_first = self._out_first(slot, first)
        self._mark_use(slot, first, out_first)
        rest = [a.visit(_LastFixer(self, cf, shapes)) for a in call.args[1:]]
        return call.with_changes(args=[call.args[0].with_changes(value=arg), *rest]), out_first

    # -- statements ----------------------------------------------------------------------------
    def block(self, stmts: Sequence[cst.BaseStatement], shapes: dict) -> list[cst.BaseStatement]:
        w = self.w
        out: list[cst.BaseStatement] = []
        cf: dict[str, None] = {}  # names holding a channels-first tensor, in the order they became so
        for stmt in stmts:
            w.t.current_stmt = stmt
            self.discover(stmt, shapes)
            if isinstance(stmt, cst.BaseCompoundStatement) and isinstance(getattr(stmt, "body", None),
                                                                          cst.IndentedBlock):
                pre = self._flush(list(cf), stmt)
                cf.clear()
                branches: list[dict] = []
                out.extend(_lines_first(pre, self._compound(stmt, shapes, branches)))
                for name in _assigned(stmt):  # a shape every branch agrees on survives the statement
                    seen = {_shape_text(b[name]) if b.get(name) is not None else None
                            for b in [shapes, *branches]}
                    if len(seen) != 1:
                        shapes[name] = None
                continue
            new = self._rewrite(stmt)
            simple = self._simple_layer_call(new)
            if simple is not None:
                target, slot, source = simple
                pre: list[cst.BaseStatement] = []
                shape = shapes.get(source)
                if self._needs_first(slot, shape if shape is not None else slot.in_shape):
                    if source not in cf:
                        pre.append(_statement(f"{source} = {source}.movedim(-1, 1)", TO_FIRST))
                        cf[source] = None
                    first = True
                elif slot.layout == "last" and source in cf:
                    pre.append(_statement(f"{source} = {source}.movedim(1, -1)", TO_LAST))
                    del cf[source]
                    first = False
                else:
                    first = source in cf
                out_first = self._out_first(slot, first)
                self._mark_use(slot, first, out_first)
                cf.pop(target, None)
                if out_first:
                    cf[target] = None
                out.extend(_lines_first(pre, new))
                shapes[target] = self.shape_of(stmt.body[0].value, shapes)  # type: ignore[attr-defined]
                continue
            used = [n for n in cf if n in _names_in(new)]
            pre = self._flush(used, stmt)
            for n in used:
                del cf[n]
            new = self._lay_statement(new, set(cf), shapes)
            target = _simple_target(stmt)
            value_shape = self.shape_of(stmt.body[0].value, shapes) if target else None  # type: ignore[attr-defined]
            for name in _assigned(stmt):
                cf.pop(name, None)
                shapes[name] = None
            if target is not None:
                shapes[target] = value_shape
            out.extend(_lines_first(pre, new))
        if cf and not (out and _ends_flow(out[-1])):
            out.extend(self._flush(list(cf), None))
        return out

    def _flush(self, names: list[str], stmt) -> list[cst.BaseStatement]:
        return [_statement(f"{n} = {n}.movedim(1, -1)", TO_LAST) for n in names]

    def _rewrite(self, stmt: cst.BaseStatement) -> cst.BaseStatement:
        return self.w._plain_statement(stmt, self.training)

    def _lay_statement(self, stmt: cst.BaseStatement, cf: set[str], shapes: dict) -> cst.BaseStatement:
        return stmt.visit(_LastFixer(self, cf, shapes))  # type: ignore[return-value]

    def _simple_layer_call(self, stmt: cst.BaseStatement) -> tuple[str, Slot, str] | None:
        """`y = self.layer(x)` as (y, the layer, x)."""
        target = _simple_target(stmt)
        if target is None:
            return None
        value = stmt.body[0].value  # type: ignore[attr-defined]
        slot = self._slot_of(value)
        if slot is None or len(value.args) != 1 or not isinstance(value.args[0].value, cst.Name):
            return None
        return target, slot, value.args[0].value.value

    def _compound(self, stmt: cst.BaseCompoundStatement, shapes: dict, branches: list[dict]) -> cst.BaseStatement:
        rewriter = BodyRewriter(self.w, self.training, skip_blocks=True)
        head = stmt.visit(rewriter)
        problems = rewriter.problems + [Problem(n, "untranslated", f"`{code(n)}` has no rule")
                                        for n in self._head_refs(head)]
        finder = _OwnBlocks()
        for child in walk.children(stmt):
            walk.visit(child, finder)
        blocks = {}
        for b in finder.blocks:
            branches.append(dict(shapes))
            blocks[id(b)] = self.block(b.body, branches[-1])
        new = head.visit(_BlockSwap(blocks))
        new = _lay_head(self, new)
        return self.w.todo(new, problems)  # type: ignore[arg-type]

    def _head_refs(self, node: cst.CSTNode) -> list[cst.CSTNode]:
        refs = []
        for child in node.children:
            if isinstance(child, cst.IndentedBlock):
                continue
            if isinstance(child, (cst.Else, cst.If, cst.ExceptHandler, cst.Finally)):
                refs.extend(self._head_refs(child))
                continue
            refs.extend(self.w._framework_refs(child))
        return refs


def _lay_head(forward: Forward, stmt: cst.CSTNode) -> cst.CSTNode:
    """Layer calls in a compound statement's own expressions (an `if` test): channels last."""
    class Head(cst.CSTTransformer):
        def visit_IndentedBlock(self, node: cst.IndentedBlock) -> bool:
            return False

        def visit_Call(self, node: cst.Call) -> bool:
            return forward._slot_of(node) is None

        def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
            if forward._slot_of(original_node) is None:
                return updated_node
            expr, first = forward.lay(original_node, set(), {})
            return fill("{x}.movedim(1, -1)", {"x": expr}) if first else expr

    return stmt.visit(Head())


class _LastFixer(cst.CSTTransformer):
    """Every layer call inside an expression hands its parent a channels-last value."""

    def __init__(self, forward: Forward, cf: set[str], shapes: dict):
        self.forward, self.cf, self.shapes = forward, cf, shapes

    def visit_Call(self, node: cst.Call) -> bool:
        return self.forward._slot_of(node) is None

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if self.forward._slot_of(original_node) is None:
            return updated_node
        expr, first = self.forward.lay(original_node, self.cf, self.shapes)
        return fill("{x}.movedim(1, -1)", {"x": expr}) if first else expr


def _lines_first(pre: list[cst.BaseStatement], stmt: cst.BaseStatement) -> list[cst.BaseStatement]:
    """Statements inserted before `stmt` take over its leading comments and blank lines."""
    if not pre:
        return [stmt]
    return [pre[0].with_changes(leading_lines=stmt.leading_lines), *pre[1:],
            stmt.with_changes(leading_lines=[])]


def _simple_target(stmt: cst.BaseStatement) -> str | None:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Assign):
        assign = stmt.body[0]
        if len(assign.targets) == 1 and isinstance(assign.targets[0].target, cst.Name):
            return assign.targets[0].target.value
    return None


def _ends_flow(stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and isinstance(
        stmt.body[-1], (cst.Return, cst.Raise, cst.Continue, cst.Break))


ELEMENTWISE = (cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.Power, cst.FloorDivide, cst.Modulo)


def _broadcast(a_node: cst.BaseExpression, a, b_node: cst.BaseExpression, b):
    """The shape of an elementwise operation's result, as far as broadcasting fixes it."""
    if _literal_number(b_node):
        return a
    if _literal_number(a_node):
        return b
    if _known_rank(a) and _known_rank(b) and _shape_text(a) == _shape_text(b):
        return a
    last_a = a.last if isinstance(a, Tail) else (a[-1] if a else None)
    last_b = b.last if isinstance(b, Tail) else (b[-1] if b else None)
    known = [d for d in (last_a, last_b) if d is not None and d != 1]
    if len(known) == 1 or (len(known) == 2 and code(parens(_dim_node(known[0]))) == code(
            parens(_dim_node(known[1])))):
        # the other side's last axis is 1 or the same: broadcasting keeps this one
        if (last_a is None or last_b is None) and 1 in (last_a, last_b):
            return None
        return Tail(known[0])
    return None


def _dim_node(d) -> cst.BaseExpression:
    return d if isinstance(d, cst.BaseExpression) else cst.parse_expression(repr(d))


def _shape_text(shape) -> tuple:
    if isinstance(shape, Tail):
        return ("...", _shape_text((shape.last,)))
    return tuple(d if isinstance(d, int) or d is None else code(d) for d in shape)


__all__ = ["ClassWriter", "CustomClass", "OpRule", "leave_class", "load_ops", "model_class_of",
           "op_expression", "prepare", "record_class", "visit_class"]
