"""Builds the nn.Module class for one Keras Sequential model from its layer calls and the rules."""

from __future__ import annotations

import keyword
import re
from collections import Counter
from dataclasses import dataclass, field, replace

import libcst as cst

from . import hooks, walk
from .hooks import LayerContext, Unsupported
from .ir import CHANNELS_FIRST, CHANNELS_LAST, LayerMap, ModelInfo
from .rules import REQUIRED, Mapping, RuleSet
from .shapes import SHAPES, Shape, code, literal, shape_from_node

# Arguments every Keras layer takes; they shape the model but map to no torch argument.
BASE_ARGS = {"name", "input_shape", "input_dim", "batch_input_shape", "batch_size", "dtype"}
RESERVED = {"forward", "training", "layers", "modules", "parameters", "buffers", "train", "eval",
            "to", "type", "float", "double", "half", "cuda", "cpu", "apply", "state_dict"}


class LayerError(Unsupported):
    """A layer the rules cannot translate; carries the CST node to point the diagnostic at."""

    def __init__(self, message: str, node: cst.CSTNode):
        super().__init__(message)
        self.node = node


def snake_case(name: str) -> str:
    """Keras' automatic layer-name stem for a class name (Conv2D -> conv2d, ReLU -> re_lu)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def bind(call: cst.Call, signature: tuple[tuple[str, str], ...], renames: dict[str, str],
         keywords: dict[str, str]) -> dict[str, cst.BaseExpression]:
    """Binds a call's arguments to keyword names by the Keras signature (positional first)."""
    names = [n for n, _ in signature]
    bound: dict[str, cst.BaseExpression] = {}
    for i, arg in enumerate(call.args):
        if arg.star:
            raise LayerError("`*args`/`**kwargs` in a Keras call cannot be bound statically", arg)
        if arg.keyword is None:
            if i >= len(names):
                raise LayerError("too many positional arguments", arg)
            bound[names[i]] = arg.value
        else:
            key = arg.keyword.value
            key = renames.get(key, keywords.get(key, key))
            bound[key] = arg.value
    return bound


@dataclass
class LayerStep:
    """One layer as the builder emits it: its `self.attr = ...` lines and what follows from it."""

    lm: LayerMap
    init: list[cst.BaseStatement]
    permute: bool | None  # permute the input first: True to channels first, False back to last
    out_shape: Shape | None
    layout: str  # torch layout the output is held in (what the next layer receives)
    given: dict[str, cst.BaseExpression]
    warnings: list[tuple[str, str, cst.CSTNode]]
    penalties: list[cst.BaseExpression] = field(default_factory=list)  # regularizer terms
    state_shapes: list[Shape] = field(default_factory=list)  # return_state: its extra outputs' shapes


@dataclass
class ModelBuild:
    """The emitted class for one model and what parity and summary need to know of it."""

    class_def: cst.ClassDef
    info: ModelInfo
    params: tuple[str, ...]  # constructor parameters (names local to a building function)
    warnings: list[tuple[str, str, cst.CSTNode]] = field(default_factory=list)
    outputs: tuple[str, ...] = ()  # Keras output names of a model with several outputs
    regularized: bool = False  # kernel/bias regularizers: the loss adds model.regularization()
    out_shape: object = None  # the output shape (one output), for the model used as a layer


def _call(func: str, args: list[tuple[str, cst.BaseExpression]], positional: int) -> cst.Call:
    out = []
    for i, (kw, value) in enumerate(args):
        if i < positional and all(k for k, _ in args[:i]):
            out.append(cst.Arg(value))
        else:
            out.append(cst.Arg(value, keyword=cst.Name(kw), equal=cst.AssignEqual(
                whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))))
    return cst.Call(cst.parse_expression(func), args=out)


def _same_value(a: str, b: str) -> bool:
    """Whether two argument source texts mean the same value (3 == (3, 3) for sizes)."""
    if a == b:
        return True
    try:
        va, vb = literal(cst.parse_expression(a)), literal(cst.parse_expression(b))
    except (ValueError, cst.ParserSyntaxError):
        return False
    if isinstance(va, int) and isinstance(vb, tuple):
        va, vb = vb, va
    if isinstance(va, tuple) and isinstance(vb, int):
        return all(v == vb for v in va)
    return va == vb and type(va) is type(vb) or (isinstance(va, float | int) and va == vb
                                                   and not isinstance(va, bool))


def map_args(rule: Mapping, ctx: LayerContext, positional: int) -> tuple[list, int]:
    """The target call's arguments for a rule, elided where they equal the target default."""
    out: list[tuple[str, cst.BaseExpression]] = []
    used_positional = positional
    for i, spec in enumerate(rule.args):
        if spec.source.startswith("!"):
            pairs = hooks.ARG_HOOKS[spec.source[1:]](ctx)
            if spec.target:
                pairs = [(spec.target, v) for _, v in pairs]
            out.extend(p for p in pairs if spec.default is None or not _same_value(code(p[1]), spec.default))
            continue
        if spec.source == "@channels":
            dim = ctx.in_shape[-1] if ctx.in_shape else None
            if dim is None:
                raise Unsupported("lazy")
            if not isinstance(dim, (int, cst.BaseExpression)) or isinstance(dim, bool):
                raise Unsupported(f"{dim!r} is not a size")  # input_shape=(True,): a wrong type
            value: cst.BaseExpression = cst.parse_expression(str(dim)) if isinstance(dim, int) else dim
        elif spec.source.startswith("="):
            value = cst.parse_expression(spec.source[1:])
        else:
            value = ctx.args[spec.source]
        if spec.default is not None and _same_value(code(value), spec.default):
            used_positional = min(used_positional, i)
            continue
        out.append((spec.target, value))
    return out, used_positional


class SequentialBuilder:
    """Walks a Sequential model's layers in order, tracking Keras shapes and the torch layout."""

    def __init__(self, rules: RuleSet, uids: Counter):
        self.rules = rules
        self.uids = uids
        self.attrs: set[str] = set()
        self.constants: dict[str, int] = {}
        self.submodels: dict[str, tuple] = {}  # translated model variables: (output shape, fold)
        # layers one model shares with another (`encoder = Model(inp, encoded)` inside an
        # autoencoder): id(layer call) -> (owning model's function, variable, its step)
        self.built_layers: dict[int, tuple[str | None, str, LayerStep]] = {}
        self.model: tuple[str | None, str] | None = None  # (function, variable) being built
        self.last_shape: Shape | None = None  # the output shape of the last model built
        # layer objects kept beside the model (rules' layer_object): variable -> (Keras class,
        # the call that makes it, or None when a building function is given several)
        self.objects: dict[str, tuple[str, cst.Call | None]] = {}
        self.object_calls: dict[int, str] = {}  # id() of such an object's construction -> variable

    def layer_name(self, keras_class: str, args: dict) -> str:
        if "name" in args:
            try:
                return str(literal(args["name"]))
            except ValueError:
                pass
        stem = snake_case(keras_class)
        n = self.uids[stem]
        self.uids[stem] += 1
        return stem if n == 0 else f"{stem}_{n}"

    def attribute(self, name: str) -> str:
        attr = re.sub(r"\W", "_", name)
        if not attr or attr[0].isdigit() or keyword.iskeyword(attr) or attr in RESERVED:
            attr = f"layer_{attr}"
        while attr in self.attrs:
            attr += "_"
        self.attrs.add(attr)
        return attr

    def activation(self, node: cst.BaseExpression | None, resolve) -> tuple[str, str]:
        """A Keras activation argument as (name, torch module source); ("", "") for none."""
        if node is None:
            return "", ""
        try:
            value = literal(node)
        except ValueError:
            key = resolve(node)
            if isinstance(node, cst.Name) and isinstance(self.constants.get(node.value), str):
                value = self.constants[node.value]  # `activation_function = 'relu'` at module level
            elif key and key.rsplit(".", 1)[0] in ("keras.activations", "tensorflow.nn", "tensorflow.math"):
                value = key.rsplit(".", 1)[-1]
            else:
                raise Unsupported(f"activation `{code(node)}` is not a known Keras activation") from None
        if value is None:
            return "", ""
        if not isinstance(value, str) or value not in self.rules.activations:
            raise Unsupported(f"activation {value!r} has no rule")
        return value, self.rules.activations[value]

    def build(self, variable: str, class_name: str, keras_name: str, layers: list[tuple[cst.Call, str]],
              input_shape: Shape | None, fold: str, resolve, doc: str,
              with_summary: bool, input_name: str | None = None) -> ModelBuild:
        init: list[cst.BaseStatement] = []
        forward: list[cst.BaseStatement] = []
        maps: list[LayerMap] = []
        summary_rows: list[cst.BaseExpression] = []
        warnings: list[tuple[str, str, cst.CSTNode]] = []
        penalties: list[cst.BaseExpression] = []
        shape = first_shape = input_shape
        layout = CHANNELS_LAST
        masked_by = ""
        for index, (call, key) in enumerate(layers):
            if key == "@model":  # a translated model used as a layer: the same module, shared weights
                var = call.value  # type: ignore[attr-defined]
                if layout == CHANNELS_FIRST and shape is not None and len(shape) >= 2:
                    forward.append(_permute_stmt(len(shape) + 1, to_first=False))
                    layout = CHANNELS_LAST
                attr = self.attribute(var)
                init.append(_assign_self(attr, cst.Name(var), "the Keras model used as a layer"))
                inner_shape, inner_fold = self.submodels[var]
                forward.append(cst.parse_statement(
                    f"x = keras_output(self.{attr}, self.{attr}(x))" if inner_fold else f"x = self.{attr}(x)"))
                maps.append(LayerMap(keras_name=var, keras_class="Sequential", attribute=attr,
                                     layout_in=CHANNELS_LAST, layout_out=CHANNELS_LAST, folded=None, weights=()))
                if with_summary:
                    summary_rows.append(_summary_row(attr, "Sequential", inner_shape))
                shape = inner_shape
                continue
            if key == "@object":  # a layer object the script also uses outside: the same module
                var = call.value  # type: ignore[attr-defined]
                keras_class, made = self.objects[var]
                if index == 0 and shape is None and made is not None:
                    shape = first_shape = self.first_shape(made, f"keras.layers.{keras_class}")
                if layout == CHANNELS_FIRST and shape is not None and len(shape) >= 2:
                    forward.append(_permute_stmt(len(shape) + 1, to_first=False))
                    layout = CHANNELS_LAST
                name_arg = next((a.value for a in made.args if a.keyword and a.keyword.value == "name"),
                                None) if made is not None else None
                name = self.layer_name(keras_class, {} if name_arg is None else {"name": name_arg})
                attr = self.attribute(name)
                init.append(_assign_self(attr, cst.Name(var), f"the script's layer object `{var}` itself"))
                forward.append(cst.parse_statement(f"x = self.{attr}(x)"))
                maps.append(LayerMap(keras_name=name, keras_class=keras_class, attribute=attr,
                                     layout_in=CHANNELS_LAST, layout_out=CHANNELS_LAST,
                                     weights=adapted_weights(made, shape)))
                if with_summary:
                    summary_rows.append(_summary_row(attr, keras_class, shape))
                continue
            if index == 0 and shape is None:
                shape = first_shape = self.first_shape(call, key)
            is_last = index == len(layers) - 1
            step = self.step(call, key, shape, layout, fold if is_last else "", resolve)
            if step.permute is not None:
                forward.append(_permute_stmt(len(shape) + 1, to_first=step.permute))  # type: ignore[arg-type]
            keras_class = step.lm.keras_class
            if keras_class == "Embedding" and code(step.given.get("mask_zero", cst.Name("False"))) != "False":
                masked_by = step.lm.keras_name
            elif masked_by and keras_class in hooks.MASK_READERS:
                warnings.append(("mask-zero", (
                    f"{masked_by}(mask_zero=True): Keras skips the padded (zero) steps in "
                    f"{keras_class}; the translation computes over them, so results differ "
                    "wherever a sequence is padded"), step.given.get("mask_zero", call)))
                masked_by = ""
            init.extend(step.init)
            penalties.extend(step.penalties)
            forward.append(cst.parse_statement(f"x = self.{step.lm.attribute}(x)"))
            maps.append(step.lm)
            warnings.extend(step.warnings)
            if with_summary:
                summary_rows.append(_summary_row(step.lm.attribute, keras_class, step.out_shape))
            shape, layout = step.out_shape, step.layout
        if layout == CHANNELS_FIRST and shape is not None and len(shape) >= 2:
            forward.append(_permute_stmt(len(shape) + 1, to_first=False))
        forward.append(cst.parse_statement("return x"))
        self.last_shape = shape
        if with_summary and input_name is not None:  # functional models list their Input first
            summary_rows.insert(0, _summary_row(input_name, "InputLayer", first_shape))
        class_def = _class_def(class_name, doc, init, forward, fold if any(m.folded for m in maps) else "",
                               keras_name if with_summary else None, summary_rows)
        info = ModelInfo(variable=variable, class_name=class_name, layers=tuple(maps),
                         input_shape=None if first_shape is None else tuple(
                             d if isinstance(d, int) else None for d in first_shape))
        if penalties:
            class_def = with_regularization(class_def, penalties)
        return ModelBuild(class_def, info, (), warnings, regularized=bool(penalties))

    def first_shape(self, call: cst.Call, key: str) -> Shape | None:
        """The model's input shape read from its first layer's arguments (input_shape=, input_dim=)."""
        keras_class = key.rsplit(".", 1)[-1]
        rule = self.rules.layers[keras_class]
        try:
            given = bind(call, rule.signature, dict(rule.renames), self.rules.keywords)
        except Unsupported:
            return None
        if keras_class == "Embedding":  # its input_dim is the vocabulary, not a shape
            return _input_shape_of({k: v for k, v in given.items() if k != "input_dim"}, self.constants) or (None,)
        return _input_shape_of(given, self.constants, _rank_of(keras_class))

    def step(self, call: cst.Call, key: str, shape: Shape | None, layout: str, fold: str,
             resolve, states: bool = False) -> LayerStep:
        """One layer applied to an input of `shape` held in torch `layout`: its module and facts.
        `states`: a graph passes the call initial_state tensors or unpacks its return_state list."""
        owner = self.built_layers.get(id(call)) if self.model is not None else None
        if owner is not None and owner[:2] != self.model:
            return self._shared_step(call, owner, shape, layout, fold)
        step = self._step(call, key, shape, layout, fold, resolve, states)
        if self.model is not None and id(call) not in self.built_layers:
            self.built_layers[id(call)] = (*self.model, step)
        return step

    def _shared_step(self, call: cst.Call, owner: tuple, shape: Shape | None, layout: str, fold: str) -> LayerStep:
        """A layer another model built: this model holds the same module, so the weights stay shared."""
        function, variable, step = owner
        if function is not None and function != self.model[0]:  # type: ignore[index]
            raise LayerError(f"a layer shared with model `{variable}` built in `{function}()`", call)
        folded = step.lm.folded
        if fold and folded != fold or not fold and folded not in (None, "softmax", "sigmoid"):
            raise LayerError(f"a layer shared with model `{variable}` whose output activation differs", call)
        source = f"{variable}.{step.lm.attribute}"
        lm = step.lm
        if folded and not fold:  # the owner's activation went into its loss: this model applies it
            act = "nn.Softmax(dim=-1)" if folded == "softmax" else "nn.Sigmoid()"
            source = f"nn.Sequential({source}, {act})"
            lm = replace(lm, folded=None, weights=tuple((k, "0." + t, *rest) for k, t, *rest in lm.weights))
        attr = self.attribute(step.lm.attribute)
        lm = replace(lm, attribute=attr)
        init = [_assign_self(attr, cst.parse_expression(source), f"the layer `{variable}` has: the same weights")]
        permute = None
        if shape is not None and len(shape) >= 2 and lm.layout_in != layout:
            permute = lm.layout_in == CHANNELS_FIRST
        return LayerStep(lm=lm, init=init, permute=permute, out_shape=step.out_shape, layout=step.layout,
                         given=step.given, warnings=[], state_shapes=step.state_shapes)

    def _step(self, call: cst.Call, key: str, shape: Shape | None, layout: str, fold: str,
              resolve, states: bool = False) -> LayerStep:
        keras_class = key.rsplit(".", 1)[-1]
        rule = self.rules.layers[keras_class]
        renames = dict(rule.renames)
        args = bind(call, rule.signature, renames, self.rules.keywords)
        regularizers = {k: args.pop(k) for k in REGULARIZED if k in args}
        activity = args.pop("activity_regularizer", None)  # every Keras layer takes one
        if activity is not None and code(activity) == "None":
            activity = None
        given = dict(args)
        for arg_name, default in rule.signature:
            if arg_name not in args:
                if default == REQUIRED:
                    raise LayerError(f"{keras_class} needs `{arg_name}`", call)
                args[arg_name] = cst.parse_expression(default)
        known = {n for n, _ in rule.signature} | BASE_ARGS | set(rule.ignore)
        for arg_name, node in given.items():
            if arg_name not in known:
                raise LayerError(f"{keras_class}({arg_name}=...) is not supported", node)
            if arg_name in rule.unsupported:
                raise LayerError(f"{keras_class}({arg_name}=...) is not supported", node)
        name = self.layer_name(keras_class, given)
        attr = self.attribute(name)
        try:
            act_name, act_module = self.activation(args.get("activation"), resolve) if (
                "activation" in args and not rule.own_activation) else ("", "")
        except LayerError:
            raise
        except Unsupported as exc:  # e.g. activation=(3, 3) or a lambda
            raise LayerError(f"{keras_class}: {exc}", call) from None
        head = rule.fold or act_name
        folded = fold if fold and self.rules.folds.get(head) == fold else None
        rank = len(shape) if shape is not None else None
        needs = rule.layout
        if act_name == "softmax" and not folded:
            if needs == "first":  # a convolution's softmax runs over the channels: torch's dim 1
                act_module = "nn.Softmax(dim=1)"
            else:
                needs = "last"
        permute = None
        if rank is not None and rank >= 2:
            if needs == "first" and layout == CHANNELS_LAST:
                permute, layout = True, CHANNELS_FIRST
            elif needs == "last" and layout == CHANNELS_FIRST:
                permute, layout = False, CHANNELS_LAST
        layout_in = layout
        ctx = LayerContext(args=args, in_shape=shape, target=rule.torch, resolve=resolve, states=states)
        values = {}
        for arg_name, node in args.items():
            try:
                values[arg_name] = literal(node)
            except ValueError:  # a module-level constant (`num_classes = 10`) counts as its value
                values[arg_name] = self.constants.get(node.value, node) if isinstance(node, cst.Name) else node
        try:
            modules = self._modules(rule, ctx, folded, act_module, act_name)
        except (Unsupported, ValueError, TypeError) as exc:  # also wrong-typed arguments
            raise LayerError(f"{keras_class}: {exc}", call) from None
        try:
            out_shape = SHAPES[rule.shape](shape, values) if shape is not None else None
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            out_shape = None  # AttributeError: a float where a size belongs
        out_shape = ctx.out_shape if ctx.out_shape is not None else out_shape
        if out_shape is not None and not all(
                d is None or (isinstance(d, int) and not isinstance(d, bool))
                or isinstance(d, cst.BaseExpression) for d in out_shape):
            out_shape = None  # units=[3], a float...: a wrong-typed argument, size unknown
        warnings = [(rule_id, message, call) for rule_id, message in ctx.warnings]
        module, weight_prefix = modules
        penalty_paths = [f"[{weight_prefix[:-1]}]" if weight_prefix else ""] if ctx.penalty else []
        if activity is not None:  # Keras regularizes the layer's output, after its activation
            if folded or ctx.state_shapes:
                raise LayerError(f"{keras_class}(activity_regularizer=...) on "
                                 + ("the output layer, whose activation goes into the loss" if folded
                                    else "a layer with several outputs") + " is not supported", activity)
            try:
                regularizer = _activity_module(activity, resolve)
            except Unsupported as exc:
                raise LayerError(f"{keras_class}(activity_regularizer=...): {exc}", activity) from None
            if weight_prefix:  # already an nn.Sequential: the regularizer goes last
                module = module.with_changes(args=[*module.args, cst.Arg(regularizer)])  # type: ignore[attr-defined]
            else:
                module, weight_prefix = cst.Call(cst.parse_expression("nn.Sequential"),
                                                 args=[cst.Arg(module), cst.Arg(regularizer)]), "0."
            penalty_paths.append(f"[{len(module.args) - 1}]")  # type: ignore[attr-defined]
        comment = f"{folded} folded into the loss; predict() applies it" if folded else None
        init = [_assign_self(attr, module, comment)]
        layout_out = layout if out_shape is not None and len(out_shape) >= 2 else CHANNELS_LAST
        lm = LayerMap(
            keras_name=name, keras_class=keras_class, attribute=attr, layout_in=layout_in,
            layout_out=layout_out, folded=folded,
            weights=tuple((k, weight_prefix + t, *steps) for k, t, *steps in (
                rule.weights if ctx.weights is None else ctx.weights)),
        )
        init.extend(self._initializers(keras_class, given, lm, resolve, warnings))
        penalties = [cst.parse_expression(f"self.{attr}{path}.penalty") for path in penalty_paths]
        for arg_name, node in regularizers.items():
            try:
                penalties.extend(_penalties(node, REGULARIZED[arg_name], lm, resolve))
            except Unsupported as exc:
                raise LayerError(f"{keras_class}({arg_name}=...): {exc}", node) from None
        if out_shape is not None and len(out_shape) < 2:
            layout = CHANNELS_LAST
        return LayerStep(lm=lm, init=init, permute=permute, out_shape=out_shape, layout=layout,
                         given=given, warnings=warnings, penalties=penalties, state_shapes=ctx.state_shapes)

    def _initializers(self, keras_class: str, given: dict, lm: LayerMap, resolve,
                      warnings: list) -> list[cst.BaseStatement]:
        """`keras_initializer(self.dense.weight, "he_normal")` for each initializer the script names."""
        out: list[cst.BaseStatement] = []
        for arg, weight in hooks.INITIALIZED_WEIGHT.items():
            if arg not in given:
                continue
            targets = [(path, steps) for k, path, _, *steps in lm.weights if k == weight]
            try:
                name, config = hooks.initializer(given[arg], resolve)
                if not targets or any(dict(s[0] if s else ()).get("reshape") for _, s in targets):
                    raise Unsupported("its torch weight is laid out differently")
            except Unsupported as exc:
                warnings.append(("initializer", (
                    f"{keras_class}({arg}=...) is not reproduced ({exc}): torch initialises its "
                    "own way (weights differ, training does not)"), given[arg]))
                continue
            for path, _ in targets:
                parts = [f"[{p}]" if p.isdigit() else f".{p}" for p in path.split(".")]
                call = f"keras_initializer(self.{lm.attribute}{''.join(parts)}, {name!r})"
                stmt = cst.parse_statement(call + "\n")
                if config:
                    expr_stmt = stmt.body[0]  # type: ignore[attr-defined]
                    extra = [cst.Arg(v, keyword=cst.Name(k), equal=cst.AssignEqual(
                        whitespace_before=cst.SimpleWhitespace(""),
                        whitespace_after=cst.SimpleWhitespace(""))) for k, v in config]
                    new_call = expr_stmt.value.with_changes(args=[*expr_stmt.value.args, *extra])
                    stmt = stmt.with_changes(body=[expr_stmt.with_changes(value=new_call)])
                out.append(stmt)
        return out

    def _modules(self, rule: Mapping, ctx: LayerContext, folded: str | None,
                 act_module: str, act_name: str) -> tuple[cst.BaseExpression, str]:
        parts: list[cst.BaseExpression] = []
        main: cst.BaseExpression | None = None
        if rule.hook:
            main = hooks.MODULE_HOOKS[rule.hook](ctx)
        elif rule.module:
            main = cst.parse_expression(rule.module)
        elif rule.torch:
            try:
                args, positional = map_args(rule, ctx, rule.positional)
                func = ctx.target  # an argument hook may name a support module instead
            except Unsupported as exc:
                if str(exc) != "lazy":
                    raise
                lazy = rule.torch.replace("nn.", "nn.Lazy")
                ctx.warnings.append(("lazy-module", (
                    f"the input size of this layer is not known statically: {lazy} infers it on the "
                    "first batch (give the model an input shape to get explicit sizes)")))
                trimmed = Mapping(**{**rule.__dict__, "args": tuple(a for a in rule.args if a.source != "@channels")})
                args, positional = map_args(trimmed, ctx, rule.positional - 1)
                func = lazy
            main = _call(func, args, positional)
        if folded and rule.fold:
            main = cst.parse_expression("nn.Identity()")  # the whole layer is the folded head
        parts.extend(ctx.prefix)
        weight_index = len(parts)
        if main is not None:
            parts.append(main)
        if act_module and not folded:
            if act_name in self.rules.in_place and isinstance(main, cst.Call) \
                    and code(main.func).startswith(self.rules.in_place_after):
                act_module = self.rules.in_place[act_name]  # over the layer's own fresh output
            parts.append(cst.parse_expression(act_module))
        if not parts:
            return cst.parse_expression("nn.Identity()"), ""
        if len(parts) == 1:
            return parts[0], ""
        seq = cst.Call(cst.parse_expression("nn.Sequential"), args=[cst.Arg(p) for p in parts])
        return seq, f"{weight_index}."


def _input_shape_of(given: dict[str, cst.BaseExpression], constants: dict[str, int],
                    rank: int = 1) -> Shape | None:
    if "input_shape" in given:
        return shape_from_node(given["input_shape"], constants) or _opaque_shape(given["input_shape"], rank)
    if "input_length" in given:  # Keras 2's Embedding(input_length=...)
        return shape_from_node(given["input_length"], constants) or (given["input_length"],)
    if "input_dim" in given:
        node = given["input_dim"]
        try:
            return (int(literal(node)),)
        except (ValueError, TypeError):
            return (node,)
    if "batch_input_shape" in given:
        shape = shape_from_node(given["batch_input_shape"], constants)
        return shape[1:] if shape else None
    return None


#: Keras regularizer arguments -> the Keras weight they penalise.
REGULARIZED = {"kernel_regularizer": "kernel", "bias_regularizer": "bias"}
#: Keras 3 regularizers: name -> ((factor keyword, default), ...); a string name uses the defaults.
REGULARIZERS = {"l1": (("l1", "0.01"),), "L1": (("l1", "0.01"),), "l2": (("l2", "0.01"),),
                "L2": (("l2", "0.01"),), "l1_l2": (("l1", "0.0"), ("l2", "0.0")),
                "L1L2": (("l1", "0.0"), ("l2", "0.0"))}


def _regularizer_factors(node: cst.BaseExpression, resolve) -> tuple[str, dict[str, cst.BaseExpression]]:
    """A Keras regularizer (a name, or a keras.regularizers call) as (its name, its factors)."""
    try:
        value = literal(node)
    except ValueError:
        value = None
    if isinstance(value, str):
        name, factors = value, {}
    elif isinstance(node, cst.Call):
        key = resolve(node.func) or ""
        if not key.startswith("keras.regularizers."):
            raise Unsupported(f"regularizer `{code(node)}` has no rule")
        name = key.rsplit(".", 1)[-1]
        if name not in REGULARIZERS:
            raise Unsupported(f"regularizer `{name}` has no rule")
        factors = bind(node, REGULARIZERS[name], {}, {})
    else:
        raise Unsupported(f"regularizer `{code(node)}` has no rule")
    if name not in REGULARIZERS:
        raise Unsupported(f"regularizer {name!r} has no rule")
    return name, factors


def _activity_module(node: cst.BaseExpression, resolve) -> cst.BaseExpression:
    """`activity_regularizer=l2(0.01)` as `KerasActivityRegularization(l2=0.01)`: the output passes
    unchanged, its penalty goes into model.regularization()."""
    name, factors = _regularizer_factors(node, resolve)
    given = [(kw, factors.get(kw, cst.parse_expression(default))) for kw, default in REGULARIZERS[name]]
    return hooks._support_call("KerasActivityRegularization",
                               [(kw, f) for kw, f in given if not _same_value(code(f), "0.0")])


def _penalties(node: cst.BaseExpression, weight: str, lm: LayerMap, resolve) -> list[cst.BaseExpression]:
    """Keras' regularizer on one weight as loss terms: `0.01 * self.dense.weight.square().sum()`."""
    if isinstance(node, cst.Name) and node.value == "None":
        return []
    name, factors = _regularizer_factors(node, resolve)
    targets = [path for k, path, _, *steps in lm.weights if k == weight and not dict(steps[0] if steps else ()).get("row")]
    if len(targets) != 1:
        raise Unsupported(f"its `{weight}` is not one torch weight")
    parts = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in targets[0].split("."))
    out = []
    for kw, default in REGULARIZERS[name]:
        factor = factors.get(kw, cst.parse_expression(default))
        if _same_value(code(factor), "0.0"):
            continue
        op = "abs()" if kw == "l1" else "square()"
        out.append(walk.fill(f"{{f}} * self.{lm.attribute}{parts}.{op}.sum()", f=factor))
    return out


def with_regularization(cls: cst.ClassDef, terms: list[cst.BaseExpression]) -> cst.ClassDef:
    """Adds `regularization()`: the sum of the regularizer terms Keras adds to the loss."""
    total = terms[0]
    for t in terms[1:]:
        total = cst.BinaryOperation(total, cst.Add(), t)
    method = cst.parse_statement(
        "def regularization(self):\n"
        "    \"\"\"Keras' regularizers (kernel, bias, activity), added to the loss as Keras adds them.\"\"\"\n"
        "    return 0\n")
    ret = cst.SimpleStatementLine([cst.Return(total)])
    method = method.with_changes(body=method.body.with_changes(body=[method.body.body[0], ret]),
                                 leading_lines=[cst.EmptyLine(indent=False)])
    return cls.with_changes(body=cls.body.with_changes(body=[*cls.body.body, method]))


def _rank_of(keras_class: str) -> int:
    """The input rank (without the batch axis) a layer class implies: Conv2D -> 3; 1 if unknown."""
    if keras_class in ("LSTM", "GRU", "SimpleRNN", "Bidirectional", "TimeDistributed"):
        return 2  # (timesteps, features)
    match = re.search(r"([123])D(Transpose)?$", keras_class)
    return int(match.group(1)) + 1 if match else 1


def _opaque_shape(node: cst.BaseExpression, rank: int = 1) -> Shape | None:
    """`input_shape=x.shape[1:]`: dims read from that expression (`x.shape[1:][0]`, ...).

    A Dense layer needs only the last axis; a convolution needs every axis of its rank.
    """
    if rank == 1:
        return (walk.fill("{s}[-1]", s=node),)
    return tuple(walk.fill(f"{{s}}[{i}]", s=node) for i in range(rank))


def _permute_stmt(rank: int, to_first: bool) -> cst.SimpleStatementLine:
    if to_first:
        dims = (0, rank - 1, *range(1, rank - 1))
        note = "Keras feeds channels last; torch convolves channels first"
    else:
        dims = (0, *range(2, rank), 1)
        note = "back to channels last, as Keras orders the axes"
    stmt = cst.parse_statement(f"x = x.permute{dims}  # {note}\n")
    return stmt  # type: ignore[return-value]


def _assign_self(attr: str, value: cst.BaseExpression, comment: str | None) -> cst.SimpleStatementLine:
    target = cst.AssignTarget(cst.Attribute(cst.Name("self"), cst.Name(attr)))
    trailing = cst.TrailingWhitespace(
        whitespace=cst.SimpleWhitespace("  " if comment else ""),
        comment=cst.Comment(f"# {comment}") if comment else None,
    )
    return cst.SimpleStatementLine([cst.Assign([target], value)], trailing_whitespace=trailing)


def adapted_weights(made: cst.Call | None, shape: Shape | None) -> tuple:
    """Parity recipes for an adapted Normalization's weights: Keras keeps one mean and variance per
    kept index, the support module the broadcast shape; its count has no torch counterpart."""
    axis = next((a.value for a in made.args if (a.keyword and a.keyword.value == "axis") or
                 (a.keyword is None and made.args.index(a) == 0)), None) if made is not None else None
    try:
        value = -1 if axis is None else literal(axis)
    except ValueError:
        return ()
    if shape is None or value not in (-1, None):
        return ()
    target = [1] * len(shape) + ([-1] if value == -1 else [1])
    steps = (("reshape", tuple(target)), ("computed", True))
    return (("mean", "mean", None, steps), ("variance", "variance", None, steps), ("count", "", None, ()))


def _summary_row(attr: str, keras_class: str, shape: Shape | None) -> cst.BaseExpression:
    if shape is None:  # not known statically (a model with no input shape): Keras prints "?"
        return cst.parse_expression(f"({attr!r}, {keras_class!r}, None)")
    dims = ", ".join(str(d) if isinstance(d, int) else "None" for d in shape)
    if len(shape) == 1:
        dims += ","
    return cst.parse_expression(f"({attr!r}, {keras_class!r}, ({dims}))")


def _class_def(name: str, doc: str, init: list, forward: list, fold: str,
               keras_name: str | None, summary_rows: list) -> cst.ClassDef:
    body: list[cst.BaseStatement] = [cst.parse_statement(f'"""{doc}"""\n')]
    if fold:
        activation = "torch.sigmoid" if fold == "sigmoid" else "functools.partial(torch.softmax, dim=-1)"
        body.append(cst.parse_statement(
            f"output_activation = {activation}  # folded into the loss; predict() applies it\n"))
    if keras_name is not None:
        body.append(cst.parse_statement(f"keras_name = {keras_name!r}\n"))
        rows = cst.Tuple([cst.Element(r) for r in summary_rows] + [], lpar=[cst.LeftParen()],
                         rpar=[cst.RightParen()])
        body.append(cst.SimpleStatementLine([cst.Assign(
            [cst.AssignTarget(cst.Name("keras_layers"))], rows)]))
    init_def = cst.parse_statement("def __init__(self):\n    super().__init__()\n")
    init_def = init_def.with_changes(body=init_def.body.with_changes(body=[*init_def.body.body, *init]))
    fwd_def = cst.parse_statement("def forward(self, x):\n    pass\n")
    fwd_def = fwd_def.with_changes(body=fwd_def.body.with_changes(body=forward))
    cls = cst.parse_statement(f"class {name}(nn.Module):\n    pass\n")
    blank = cst.EmptyLine(indent=False)
    init_def = init_def.with_changes(leading_lines=[blank])
    fwd_def = fwd_def.with_changes(leading_lines=[blank])
    return cls.with_changes(body=cls.body.with_changes(body=[*body, init_def, fwd_def]))
