"""The Functional API beyond a single chain: a graph of layer calls with branches, merges, shared
layers, several inputs and several outputs, emitted as an nn.Module whose `forward` reads like it."""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field

import libcst as cst

from .hooks import MASK_READERS, Unsupported
from .ir import CHANNELS_FIRST, CHANNELS_LAST, MERGE_ARGS, MERGE_LAYERS, LayerMap, ModelInfo
from .model import (
    LayerError,
    ModelBuild,
    SequentialBuilder,
    _class_def,
    _summary_row,
    adapted_weights,
    with_regularization,
)
from .shapes import Shape, code, literal


@dataclass(eq=False)
class Node:
    """A symbolic Keras tensor in a functional graph."""

    var: str  # the script variable bound to it ("" for a call nested in another)
    value: cst.BaseExpression | None  # the assigned expression (its statement is removed)
    key: str  # "input", or the layer class: "Dense", "Concatenate", ...
    layer: cst.Call | None = None  # the layer's construction call (for merge functions: built here)
    inputs: list[Node] = field(default_factory=list)
    input_call: cst.Call | None = None  # keras.Input(...)
    shared: str = ""  # the variable of a layer object applied more than once
    inlined: bool = False  # computed inside a helper function inlined into the graph
    op: bool = False  # an operation on tensors (`a + b`, `relu(x)`): Keras keeps no layer for it
    seq: int = 0  # the order Keras creates the node's layer in (its automatic name follows it)
    states: int = 0  # how many of `inputs`, after the first, are the layer's initial_state tensors
    # a layer call whose list of outputs is unpacked (`out, h, c = lstm(x)`): a "@item" node each
    items: list[Node] | None = None
    index: int = 0  # "@item": which of its layer's outputs
    # other statements that bind this node and go with it: `x = inp`, `x = block(x, 64)`
    statements: list[tuple[str, cst.BaseExpression]] = field(default_factory=list)


@dataclass
class Graph:
    inputs: list[Node]
    outputs: list[Node]
    order: list[Node]  # every node, inputs before the layers that read them


def topological(outputs: list[Node], inputs: list[Node]) -> list[Node]:
    """The nodes the outputs depend on, each after its inputs; Unsupported when a path does not end
    in one of the model's inputs."""
    order: list[Node] = []
    state: dict[int, int] = {}
    allowed = {id(n) for n in inputs}
    stack: list[tuple[Node, bool]] = [(n, False) for n in reversed(outputs)]
    while stack:
        node, done = stack.pop()
        if done:
            if state.get(id(node)) != 2:
                state[id(node)] = 2
                order.append(node)
            continue
        if state.get(id(node)) == 2:
            continue
        if node.key == "input" and id(node) not in allowed:
            raise Unsupported(f"`{node.var or code(node.value)}` is an Input the model does not list")
        state[id(node)] = 1
        stack.append((node, True))
        for parent in reversed(node.inputs):
            if state.get(id(parent)) != 2:
                stack.append((parent, False))
    for n in inputs:
        if state.get(id(n)) != 2:
            order.insert(0, n)  # an input no output reads: still a forward argument
    return _creation_order(order)


def _creation_order(order: list[Node]) -> list[Node]:
    """The same nodes, each still after its inputs, otherwise in the order Keras creates their
    layers (Node.seq), so independent branches read, and are named, as the script wrote them."""
    import heapq

    position = {id(n): i for i, n in enumerate(order)}
    waiting = {id(n): sum(1 for p in set(map(id, n.inputs)) if p in position) for n in order}
    readers: dict[int, list[Node]] = {}
    for n in order:
        for p in {id(p): p for p in n.inputs}.values():
            if id(p) in position:
                readers.setdefault(id(p), []).append(n)
    ready = [(n.seq, position[id(n)], n) for n in order if waiting[id(n)] == 0]
    heapq.heapify(ready)
    out: list[Node] = []
    while ready:
        _, _, n = heapq.heappop(ready)
        out.append(n)
        for r in readers.get(id(n), ()):
            waiting[id(r)] -= 1
            if waiting[id(r)] == 0:
                heapq.heappush(ready, (r.seq, position[id(r)], r))
    return out if len(out) == len(order) else order


def _dot_shape(shapes: list[Shape | None], axes) -> Shape | None:
    """Keras' Dot output shape: each input without its summed axis (the second also without its
    batch axis), at least one value per sample. `axes` count the batch axis, as in Keras."""
    if len(shapes) != 2 or any(s is None for s in shapes):
        return None
    pair = axes if isinstance(axes, (list, tuple)) else (axes, axes)
    if len(pair) != 2 or not all(isinstance(a, int) and not isinstance(a, bool) for a in pair):
        return None
    out: list = []
    for shape, axis in zip(shapes, pair):
        rank = len(shape) + 1  # type: ignore[arg-type]
        ax = axis % rank
        if ax == 0:
            return None
        out += [d for i, d in enumerate(shape, start=1) if i != ax]  # type: ignore[arg-type]
    return tuple(out) if out else (1,)


def _merge_shape(op: str, shapes: list[Shape | None], axis) -> Shape | None:
    if op == "dot":
        return _dot_shape(shapes, axis)
    if any(s is None for s in shapes):
        return None
    first = shapes[0]
    if op != "concatenate":
        return first
    if not isinstance(axis, int) or not first:
        return None
    ax = axis if axis >= 0 else len(first) + 1 + axis
    if not 1 <= ax <= len(first):
        return None
    dims = [s[ax - 1] for s in shapes]  # type: ignore[index]
    total = sum(dims) if all(isinstance(d, int) for d in dims) else None
    return (*first[:ax - 1], total, *first[ax:])


class GraphBuilder:
    """Emits one functional graph with the Sequential builder's per-layer step."""

    def __init__(self, builder: SequentialBuilder, resolve, dead: list[Node] | None = None):
        self.b = builder
        self.resolve = resolve
        self.dead = dead if dead is not None else []  # nodes of no model, in creation order (shared)

    def build(self, variable: str, class_name: str, keras_name: str, graph: Graph,
              input_info: list[tuple[str, Shape | None]], fold: str, doc: str,
              with_summary: bool) -> ModelBuild:
        init: list[cst.BaseStatement] = []
        forward: list[cst.BaseStatement] = []
        maps: list[LayerMap] = []
        rows: list[cst.BaseExpression] = []
        warnings: list[tuple[str, str, cst.CSTNode]] = []
        penalties: list[cst.BaseExpression] = []
        names: dict[int, str] = {}  # node -> its variable in forward
        layer_names: dict[int, str] = {}  # node -> the Keras name of the layer computing it
        shapes: dict[int, Shape | None] = {}
        layouts: dict[int, str] = {}
        permuted: dict[tuple[int, str], str] = {}
        shared: dict[str, tuple[str, Shape | None]] = {}  # layer object -> (attribute, output shape)
        taken: set[str] = {"self"}
        uses: dict[str, int] = {}
        for n in graph.order:
            if n.var:
                uses[n.var] = uses.get(n.var, 0) + 1

        def fresh(stem: str) -> str:
            stem = re.sub(r"\W", "_", stem) or "t"
            if stem[0].isdigit() or keyword.iskeyword(stem):
                stem = f"t_{stem}"
            name, i = stem, 2
            while name in taken:
                name, i = f"{stem}_{i}", i + 1
            taken.add(name)
            return name

        def in_layout(node: Node, want: str) -> str:
            """The variable holding `node` in torch layout `want` (permuting once if needed)."""
            have, shape = layouts[id(node)], shapes[id(node)]
            if have == want or shape is None or len(shape) < 2:
                return names[id(node)]
            if (id(node), want) not in permuted:
                rank = len(shape) + 1
                dims = (0, rank - 1, *range(1, rank - 1)) if want == CHANNELS_FIRST else (0, *range(2, rank), 1)
                var = fresh(f"{names[id(node)]}_{'cf' if want == CHANNELS_FIRST else 'cl'}")
                forward.append(cst.parse_statement(f"{var} = {names[id(node)]}.permute{dims}\n"))
                permuted[(id(node), want)] = var
            return permuted[(id(node), want)]

        def emit_call(node: Node, stem: str, attr: str, source: str, out_shape: Shape | None, layout: str,
                      state_shapes: list[Shape], keras_name: str) -> str:
            """`out = self.attr(x)`, with initial states after `x` and unpacked outputs."""
            call = f"self.{attr}({', '.join([source, *(in_layout(s, CHANNELS_LAST) for s in node.inputs[1:])])})"
            if node.items is None:
                out = fresh(stem or attr)
                forward.append(cst.parse_statement(f"{out} = {call}\n"))
                return out
            if len(node.items) != 1 + len(state_shapes):
                raise LayerError(f"{node.key} returns {1 + len(state_shapes)} tensors here; the script "
                                 f"unpacks {len(node.items)}", node.value)
            targets = []
            for item, item_shape in zip(node.items, [out_shape, *state_shapes]):
                if id(item) not in in_graph:
                    targets.append("_")
                    continue
                targets.append(fresh(item.var))
                names[id(item)], shapes[id(item)] = targets[-1], item_shape
                layouts[id(item)] = layout if item.index == 0 else CHANNELS_LAST
                layer_names[id(item)] = keras_name
            forward.append(cst.parse_statement(f"{', '.join(targets)} = {call}\n"))
            return ""

        params = []
        input_names = []
        for node, (keras_input, shape) in zip(graph.inputs, input_info):
            var = fresh(node.var or keras_input)
            names[id(node)], shapes[id(node)], layouts[id(node)] = var, shape, CHANNELS_LAST
            params.append(var)
            input_names.append(keras_input)
            if with_summary:
                rows.append(_summary_row(keras_input, "InputLayer", shape))
        outputs = {id(n) for n in graph.outputs}
        in_graph = {id(n) for n in graph.order}
        masked: dict[int, str] = {}  # node -> the Embedding(mask_zero=True) whose mask reaches it
        ops: set[str] = set()  # attributes of operations Keras keeps no layer for
        for node in graph.order:
            while self.dead and self.dead[0].seq < node.seq:  # layers no model uses still take a name
                dead = self.dead.pop(0)
                if dead.layer is not None and not dead.op and dead.key not in ("@model", "input"):
                    self.b.layer_name(dead.key, {a.keyword.value: a.value for a in dead.layer.args if a.keyword})
            if node.key in ("input", "@item"):
                continue  # an @item is named where its layer's call unpacks it
            stem = node.var if node.var and uses.get(node.var) == 1 and node.var not in params else ""
            if node.key in MERGE_LAYERS:
                op = MERGE_LAYERS[node.key]
                known = MERGE_ARGS.get(node.key, ())
                args = {a.keyword.value: a.value for a in node.layer.args if a.keyword} if node.layer else {}
                positional = [a.value for a in node.layer.args if a.keyword is None] if node.layer else []
                if len(positional) > (1 if known else 0) or any(a.star for a in node.layer.args or ()):  # type: ignore[union-attr]
                    raise LayerError(f"{node.key}: write its arguments as keywords", node.layer)
                if positional:  # Concatenate(1), Dot(1)
                    args[known[0]] = positional[0]
                extra = set(args) - {*known, "name"}
                if extra:
                    raise LayerError(f"{node.key}({', '.join(sorted(extra))}=...) is not supported",
                                     node.layer or node.value)
                try:
                    values = {k: literal(v) for k, v in args.items() if k != "name"}
                except ValueError:
                    raise LayerError(f"{node.key}: write its arguments as literals", node.layer) from None
                if op == "dot" and "axes" not in values:
                    raise LayerError("Dot needs `axes`", node.layer or node.value)
                axis = values.get("axes", values.get("axis", -1))
                name = self.b.layer_name(node.key, args)
                attr = self.b.attribute(name)
                sources = [in_layout(p, CHANNELS_LAST) for p in node.inputs]
                if op == "dot":
                    if len(node.inputs) != 2:
                        raise LayerError("Dot takes exactly two tensors", node.layer or node.value)
                    module = f"KerasDot({axis!r}, normalize=True)" if values.get("normalize") else f"KerasDot({axis!r})"
                elif op == "concatenate":
                    module = f"Merge('concatenate', axis={axis})"
                else:
                    module = f"Merge({op!r})"
                init.append(cst.parse_statement(f"self.{attr} = {module}\n"))
                out = fresh(stem or attr)
                forward.append(cst.parse_statement(f"{out} = self.{attr}({', '.join(sources)})\n"))
                shape = _merge_shape(op, [shapes[id(p)] for p in node.inputs], axis)
                maps.append(LayerMap(keras_name=name, keras_class=node.key, attribute=attr,
                                     layout_in=CHANNELS_LAST, layout_out=CHANNELS_LAST))
                if node.op:
                    ops.add(attr)
                names[id(node)], shapes[id(node)], layouts[id(node)] = out, shape, CHANNELS_LAST
                layer_names[id(node)] = name
                if with_summary:
                    rows.append(_summary_row(attr, node.key, shape))
                continue
            if len(node.inputs) != 1 + node.states:
                raise LayerError(f"{node.key} called on several tensors", node.layer or node.value)
            parent = node.inputs[0]

            if node.key == "@model":  # a translated model used as a layer: the same module, shared weights
                inner_shape, inner_fold = self.b.submodels[node.shared]
                if node.shared not in shared:
                    attr = self.b.attribute(node.shared)
                    init.append(cst.parse_statement(f"self.{attr} = {node.shared}  # the Keras model used as a layer\n"))
                    shared[node.shared] = (attr, inner_shape, [])
                    maps.append(LayerMap(keras_name=node.shared, keras_class="Functional", attribute=attr,
                                         layout_in=CHANNELS_LAST, layout_out=CHANNELS_LAST, folded=None, weights=()))
                    if with_summary:
                        rows.append(_summary_row(attr, "Functional", inner_shape))
                attr = shared[node.shared][0]
                out = fresh(stem or attr)
                call = f"keras_output(self.{attr}, self.{attr}({in_layout(parent, CHANNELS_LAST)}))" if inner_fold \
                    else f"self.{attr}({in_layout(parent, CHANNELS_LAST)})"
                forward.append(cst.parse_statement(f"{out} = {call}\n"))
                names[id(node)], shapes[id(node)], layouts[id(node)] = out, inner_shape, CHANNELS_LAST
                layer_names[id(node)] = node.shared
                continue
            if node.shared and node.shared in shared:  # a layer object applied again: the same module
                attr, shape, state_shapes = shared[node.shared]
                lm = next(m for m in maps if m.attribute == attr)
                source = in_layout(parent, lm.layout_in)
                out = emit_call(node, stem, attr, source, shape, lm.layout_out, state_shapes, lm.keras_name)
                names[id(node)], shapes[id(node)], layouts[id(node)] = out, shape, lm.layout_out
                layer_names[id(node)] = lm.keras_name
                continue
            var = self.b.object_calls.get(id(node.layer)) if node.layer is not None else None
            if var is not None and node.items is None and not node.states:  # a layer object kept beside
                shape = shapes[id(parent)]
                if var not in shared:
                    name = self.b.layer_name(node.key, {a.keyword.value: a.value for a in node.layer.args  # type: ignore[union-attr]
                                                        if a.keyword and a.keyword.value == "name"})
                    attr = self.b.attribute(name)
                    init.append(cst.parse_statement(f"self.{attr} = {var}  # the script's layer object `{var}` itself\n"))
                    maps.append(LayerMap(keras_name=name, keras_class=node.key, attribute=attr,
                                         layout_in=CHANNELS_LAST, layout_out=CHANNELS_LAST,
                                         weights=adapted_weights(node.layer, shape)))
                    shared[var] = (attr, shape, [])
                    if with_summary:
                        rows.append(_summary_row(attr, node.key, shape))
                attr = shared[var][0]
                out = fresh(stem or attr)
                forward.append(cst.parse_statement(f"{out} = self.{attr}({in_layout(parent, CHANNELS_LAST)})\n"))
                names[id(node)], shapes[id(node)], layouts[id(node)] = out, shape, CHANNELS_LAST
                layer_names[id(node)] = next(m.keras_name for m in maps if m.attribute == attr)
                continue
            head_fold = fold if id(node) in outputs and len(graph.outputs) == 1 else ""
            key = f"keras.layers.{node.key}"
            step = self.b.step(node.layer, key, shapes[id(parent)], layouts[id(parent)], head_fold,  # type: ignore[arg-type]
                               self.resolve, states=node.items is not None or node.states > 0)
            want = step.lm.layout_in
            source = in_layout(parent, want) if step.permute is not None else names[id(parent)]
            init.extend(step.init)
            penalties.extend(step.penalties)
            out = emit_call(node, stem, step.lm.attribute, source, step.out_shape, step.layout,
                            step.state_shapes, step.lm.keras_name)
            keras_class = step.lm.keras_class
            masked_by = masked.get(id(parent), "")
            if keras_class == "Embedding" and code(step.given.get("mask_zero", cst.Name("False"))) != "False":
                masked[id(node)] = step.lm.keras_name
            elif masked_by and keras_class in MASK_READERS:
                warnings.append(("mask-zero", (
                    f"{masked_by}(mask_zero=True): Keras skips the padded (zero) steps in "
                    f"{keras_class}; the translation computes over them, so results differ "
                    "wherever a sequence is padded"), node.layer or node.value))
            elif masked_by:
                masked[id(node)] = masked_by  # the mask passes on to the layers after this one
            maps.append(step.lm)
            if node.op:
                ops.add(step.lm.attribute)
            warnings.extend(step.warnings)
            if with_summary:
                rows.append(_summary_row(step.lm.attribute, step.lm.keras_class, step.out_shape))
            names[id(node)], shapes[id(node)], layouts[id(node)] = out, step.out_shape, step.layout
            layer_names[id(node)] = step.lm.keras_name
            if node.shared:
                shared[node.shared] = (step.lm.attribute, step.out_shape, step.state_shapes)
        results = [in_layout(n, CHANNELS_LAST) for n in graph.outputs]
        forward.append(cst.parse_statement(f"return {', '.join(results)}\n"))
        folded = fold if any(m.folded for m in maps) else ""
        class_def = _class_def(class_name, doc, init, forward, folded,
                               keras_name if with_summary else None, rows)
        output_names = [layer_names.get(id(n), names[id(n)]) for n in graph.outputs]
        class_def = _with_signature(class_def, params, input_names if len(params) > 1 else None,
                                    output_names if len(graph.outputs) > 1 else None)
        first = input_info[0][1] if input_info else None
        info = ModelInfo(variable=variable, class_name=class_name,
                         layers=tuple(m for m in maps if m.attribute not in ops),
                         input_shape=None if first is None or len(input_info) > 1 else tuple(
                             d if isinstance(d, int) else None for d in first))
        if penalties:
            class_def = with_regularization(class_def, penalties)
        return ModelBuild(class_def, info, (), warnings,
                          tuple(output_names) if len(graph.outputs) > 1 else (), bool(penalties),
                          shapes.get(id(graph.outputs[0])) if len(graph.outputs) == 1 else None)


def _with_signature(cls: cst.ClassDef, params: list[str], input_names: list[str] | None,
                    output_names: list[str] | None) -> cst.ClassDef:
    body = []
    for stmt in cls.body.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == "forward":
            new = [cst.Param(cst.Name("self"))] + [cst.Param(cst.Name(p)) for p in params]
            stmt = stmt.with_changes(params=stmt.params.with_changes(params=new))
        body.append(stmt)
    extra = []
    if input_names:
        extra.append(cst.parse_statement(
            f"input_names = {tuple(input_names)!r}  # Keras' Input names: fit() also takes a dict\n"))
    if output_names:
        extra.append(cst.parse_statement(
            f"output_names = {tuple(output_names)!r}  # one loss per output, as Keras logs them\n"))
    doc_end = 1
    body = body[:doc_end] + extra + body[doc_end:]
    return cls.with_changes(body=cls.body.with_changes(body=body))
