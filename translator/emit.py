"""Rewrites a parsed Keras script into the equivalent PyTorch script, keeping the user's own code."""

from __future__ import annotations

import ast
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from . import fastai_target, flow, support, walk
from .hooks import LayerContext, Unsupported
from .ir import MERGE_FUNCTIONS, MERGE_LAYERS, ModelInfo
from .model import BASE_ARGS, LayerError, ModelBuild, SequentialBuilder, bind, map_args, snake_case
from .names import NameTable, dotted
from .report import NOTE, TODO, WARNING, Diagnostic, Stats
from .rules import REQUIRED, RuleSet, no_equivalent, no_equivalent_reason
from .shapes import code, literal, shape_from_node

if TYPE_CHECKING:
    from . import graph, subclass


def _graph():
    """The functional-model builder, loaded only for a script that builds a functional model."""
    from . import graph
    return graph


def _subclass():
    """The subclassed-model writer, loaded only for a script that defines classes."""
    from . import subclass
    return subclass

SEQUENTIAL = "keras.Sequential"
MODEL = "keras.Model"
INPUT_KEYS = {"keras.Input", "keras.layers.InputLayer"}
TODO_MARK = "TODO(keras2torch)"
FIT_ARGS = ("x", "y", "batch_size", "epochs", "verbose", "callbacks", "validation_split",
            "validation_data", "shuffle", "class_weight", "sample_weight", "initial_epoch",
            "steps_per_epoch", "validation_steps", "validation_batch_size", "validation_freq")
FIT_SUPPORTED = {"x", "y", "batch_size", "epochs", "verbose", "callbacks", "validation_split",
                 "validation_data", "shuffle", "initial_epoch", "steps_per_epoch", "validation_steps"}
EVAL_ARGS = ("x", "y", "batch_size", "verbose", "sample_weight", "steps", "callbacks", "return_dict")
EVAL_SUPPORTED = {"x", "y", "batch_size", "verbose", "steps", "return_dict"}
PREDICT_ARGS = ("x", "batch_size", "verbose", "steps", "callbacks")
PREDICT_SUPPORTED = {"x", "batch_size", "verbose", "steps"}
# Keras 2's Model.fit_generator, evaluate_generator and predict_generator, in their positional order
FIT_GENERATOR_ARGS = ("generator", "steps_per_epoch", "epochs", "verbose", "callbacks", "validation_data",
                      "validation_steps", "validation_freq", "class_weight", "max_queue_size", "workers",
                      "use_multiprocessing", "shuffle", "initial_epoch")
EVAL_GENERATOR_ARGS = ("generator", "steps", "callbacks", "max_queue_size", "workers", "use_multiprocessing",
                       "verbose")
# how many threads or processes load batches, and their queue (with Keras 1's names): no effect on results
LOADER_ARGS = {"max_queue_size", "workers", "use_multiprocessing", "max_q_size", "nb_worker", "pickle_safe"}
STEP_ARGS = {"steps_per_epoch", "validation_steps", "steps"}  # these need the loops over batches
# functions that apply an activation to a tensor: `relu(x)` is the node `Activation('relu')(x)`
ACTIVATION_FUNCTION_MODULES = {"keras.activations", "keras.backend", "keras.ops", "tensorflow.nn", "tensorflow",
                               "tensorflow.math"}
# functions that concatenate tensors, with their default axis (None: the axis must be given)
CONCAT_FUNCTIONS = {"tensorflow.concat": None, "keras.ops.concatenate": 0, "keras.backend.concatenate": -1}
LOAD_MODEL = {"keras.models.load_model", "keras.saving.load_model"}
SAVED_SUFFIX = re.compile(r"\.(keras|h5|hdf5)$")
# Keras' weight-file methods: their signature, and the arguments allowed only at their Keras default
WEIGHTS_METHODS = {
    "save_weights": ((("filepath", REQUIRED), ("overwrite", "True"), ("max_shard_size", "None")),
                     {"overwrite": "True", "max_shard_size": "None"}),
    "load_weights": ((("filepath", REQUIRED), ("skip_mismatch", "False")), {"skip_mismatch": "False"}),
}


def _is_call_to(node: cst.BaseExpression, names: NameTable, key: str | set[str]) -> bool:
    keys = {key} if isinstance(key, str) else key
    return isinstance(node, cst.Call) and names.resolve(node.func) in keys


def _single_target(stmt: cst.BaseStatement) -> tuple[str, cst.BaseExpression] | None:
    """`name = value` as (name, value), or None."""
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        small = stmt.body[0]
        if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
            return small.targets[0].target.value, small.value
    return None


def _unpacking(stmt: cst.BaseStatement) -> tuple[list[str], cst.BaseExpression] | None:
    """`a, b, c = value` (names only) as ([a, b, c], value), or None."""
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        small = stmt.body[0]
        if isinstance(small, cst.Assign) and len(small.targets) == 1 \
                and isinstance(small.targets[0].target, (cst.Tuple, cst.List)):
            names = [el.value for el in small.targets[0].target.elements]
            if all(isinstance(n, cst.Name) for n in names):
                return [n.value for n in names], small.value  # type: ignore[attr-defined]
    return None


def _method_call(stmt: cst.BaseStatement) -> tuple[str, str, cst.Call] | None:
    """`var.method(...)` as a whole expression statement."""
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr):
        call = stmt.body[0].value
        if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and isinstance(call.func.value, cst.Name):
            return call.func.value.value, call.func.attr.value, call
    return None


def class_name_for(variable: str, taken: set[str]) -> str:
    base = "".join(part.capitalize() for part in re.split(r"_+", variable) if part) or "Model"
    if not base.endswith(("Model", "Net")):
        base += "Model" if base != "Model" else ""
    name, n = base, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    taken.add(name)
    return name


@dataclass
class Construction:
    """A `var = Sequential(...)` statement and what the rest of the script does with it."""

    variable: str
    node: cst.Call
    function: str | None
    layers: list[cst.Call] = field(default_factory=list)
    adds: list[cst.CSTNode] = field(default_factory=list)  # the .add statements
    loss: cst.BaseExpression | None = None
    head: str = ""
    # the Functional API: `keras.Model(inputs, outputs)` over a chain of layer calls
    input_call: cst.Call | None = None
    graph: list[tuple[str, cst.BaseExpression]] = field(default_factory=list)  # (var, value) to remove
    returned: bool = False  # `return keras.Model(...)`: the function returns the new module
    dag: graph.Graph | None = None  # a functional graph that is not a single chain
    frame: int = 0  # where it was created: the function nesting and the control blocks around it
    blocks: int = 0
    problem: tuple[cst.CSTNode, str] | None = None  # built under run-time control flow: left in Keras


@dataclass
class Tensor:
    """A symbolic Keras tensor: `keras.Input(...)`, or a layer called on another tensor."""

    var: str
    value: cst.BaseExpression  # the assigned expression (kept to remove its statement)
    layers: list[cst.Call]  # the layer calls that produce it from `source`, in order
    source: Tensor | None  # the tensor it is computed from; None for an Input
    input_call: cst.Call | None = None


@dataclass
class ArrayPipeline:
    """`tf.data.Dataset.from_tensor_slices(arrays)[.shuffle(n)].batch(b)[.prefetch(k)][.cache()]`."""

    arrays: cst.BaseExpression  # an array, or a tuple (x, y)
    pair: bool
    batch_size: cst.BaseExpression
    shuffle: bool


def array_pipeline(node: cst.BaseExpression, names: NameTable) -> ArrayPipeline | None:
    """Reads a tf.data pipeline built from in-memory arrays; None for any other expression."""
    steps: list[tuple[str, cst.Call]] = []
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
            and isinstance(node.func.value, cst.Call):
        steps.append((node.func.attr.value, node))
        node = node.func.value
    if not isinstance(node, cst.Call) or names.resolve(node.func) != "tensorflow.data.Dataset.from_tensor_slices":
        return None
    if len(node.args) != 1 or node.args[0].keyword or node.args[0].star:
        return None
    arrays = node.args[0].value
    pair = isinstance(arrays, cst.Tuple) and len(arrays.elements) == 2
    batch_size, shuffle = None, False
    for method, call in reversed(steps):
        if method == "shuffle" and batch_size is None:
            shuffle = True
        elif method == "batch" and batch_size is None and call.args and not call.args[0].keyword \
                and all(a.keyword and a.keyword.value != "drop_remainder" or a is call.args[0]
                        for a in call.args):
            batch_size = call.args[0].value
        elif method not in ("prefetch", "cache"):
            return None
    if batch_size is None:
        return None
    return ArrayPipeline(arrays, pair, batch_size, shuffle)


class Analyzer(cst.CSTVisitor):
    """First pass: imports, model constructions, the functions that return them, compile losses."""

    def __init__(self, rules: RuleSet, names: NameTable):
        self.rules = rules
        self.names = names
        self.functions: list[str] = []
        self.constructions: list[Construction] = []
        self.model_vars: set[str] = set()
        self.model_functions: dict[str, Construction] = {}
        self.var_sources: dict[str, Construction] = {}
        self.losses: dict[str, cst.BaseExpression] = {}
        self.summaries: set[str] = set()
        self.optimizer_vars: set[str] = set()
        self.function_nodes: dict[str, cst.FunctionDef] = {}
        self.constants: dict[str, int] = {}  # module-level names bound once to an int literal
        self.assigned: set[str] = set()
        # in source order: ("assign", name) and ("add", construction, layer call)
        self.events: list[tuple] = []
        self.datasets: dict[str, ArrayPipeline] = {}  # variables bound to a tf.data pipeline over arrays
        self.tensors: dict[tuple[str | None, str], Tensor] = {}  # (function, variable) -> tensor
        self.graph_failures: list[tuple[cst.CSTNode, str]] = []
        # the Functional API as a graph: (function, variable) -> node, and layer objects
        self.nodes: dict[tuple[str | None, str], graph.Node] = {}
        # `states = [state_h, state_c]`: a variable bound to a list of graph tensors, and its list
        self.node_lists: dict[tuple[str | None, str], tuple[list[graph.Node], cst.BaseExpression]] = {}
        self.layer_objects: dict[tuple[str | None, str], cst.Call] = {}  # `shared = layers.Dense(8)`
        self.layer_sources: dict[tuple[str | None, str], cst.BaseExpression] = {}  # `l = m.layers[-1]`
        self.classes: dict[str, subclass.CustomClass] = {}  # the script's keras.Model/Layer subclasses
        self.class_models: list[Construction] = []  # `model = MyModel(...)`: instances of those
        # control flow (see flow.py): per function frame, the run-time blocks around the current
        # statement as (reason, the graph variables bound before the block); None for other blocks
        self.flow: list[list[tuple[str, frozenset] | None]] = [[]]
        self.poisoned: dict[tuple[str | None, str], str] = {}  # graph variables rebound at run time
        self.poison_seen: list[str] = []
        self.origins: dict[int, cst.BaseExpression] = {}  # id(an unrolled or inlined copy) -> source
        self.sequences: dict[str, list] = {}  # module-level names bound once to a literal list
        self.inlining: list[str] = []  # helper functions being inlined, innermost last
        self.inline_returns: list[list[graph.Node | None]] = []
        self.inline_sites: dict[str, list[graph.Node]] = {}  # helper -> the node each call gave
        self.name_reads: Counter = Counter()
        self.calls_of: defaultdict[str, list[tuple[str | None, cst.Call]]] = defaultdict(list)
        self.known: dict[int, graph.Node] = {}  # every graph node made, by id
        self.ticks = 0  # program order of graph nodes and layer constructions (Node.seq)
        self.built_at: dict[int, int] = {}  # id(a keras.layers construction call) -> its tick
        self.unrolled: set[int] = set()  # the loops read once per iteration
        self.node_statements: dict[int, tuple] = {}  # id(value of `v = Layer(..)(t)`) -> (function, var, node)
        # `m = load_model(path)` of a file the script's own model saved: id(call) -> that model's variable
        self.saved: dict[str, str] = {}  # path literal -> model variable (`model.save(path)`)
        self.checkpoints: set[str] = set()  # ModelCheckpoint path literals
        self.last_fit = ""  # the model variable fit most recently
        self.loads: dict[int, str] = {}
        self.tensor_functions: set[str] = set()  # the script's functions used as losses, metrics, Lambdas
        self.values: dict[str, cst.BaseExpression] = {}  # module-level names bound once to a call or list
        self.scopes = 0

    def visit_Import(self, node: cst.Import) -> None:
        self.names.bind_import(node)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        self.names.bind_import(node)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.append(node.name.value)
        self.function_nodes[node.name.value] = node
        self.flow.append([])

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.pop()
        self.flow.pop()

    def visit_Name(self, node: cst.Name) -> None:
        self.name_reads[node.value] += 1

    # -- control flow around model building (flow.py) ---------------------------------------
    def _builds(self, block: cst.CSTNode) -> bool:
        """Whether a block adds layers to a model or rebinds a graph variable made before it."""
        function = self.functions[-1] if self.functions else None
        found = False
        an = self

        class Finder(cst.CSTVisitor):
            def visit_Call(self, node: cst.Call) -> None:
                nonlocal found
                f = node.func
                if isinstance(f, cst.Attribute) and f.attr.value == "add" and isinstance(f.value, cst.Name) \
                        and f.value.value in an.var_sources:
                    found = True

            def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
                nonlocal found
                if isinstance(node.target, cst.Name) and (function, node.target.value) in an.nodes:
                    found = True

            def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
                return False

        walk.visit(block, Finder())
        return found

    def _enter(self, block: cst.CSTNode, reason: str) -> None:
        if self._builds(block):
            function = self.functions[-1] if self.functions else None
            before = frozenset(k for k in self.nodes if k[0] == function)
            self.flow[-1].append((reason, before))
        else:
            self.flow[-1].append(None)

    def _runtime_reason(self, since: int = 0) -> str | None:
        return next((b[0] for b in self.flow[-1][since:] if b is not None), None)

    def _remember_copy(self, copy: cst.CSTNode, original: cst.CSTNode) -> None:
        """Maps the assigned values of a copied block to the source's (to remove the source's statements)."""
        pairs = zip(flow.simple_statements(copy) or [], flow.simple_statements(original) or [], strict=False)
        for c, o in pairs:
            if isinstance(c, cst.Assign) and isinstance(o, cst.Assign):
                self.origins[id(c.value)] = self.origins.get(id(o.value), o.value)

    def visit_For(self, node: cst.For) -> bool:
        for name in _target_names(node.target):
            self.events.append(("assign", name))
        if not self._builds(node.body):
            self.flow[-1].append(None)
            return True
        bindings = flow.loop_bindings(node, {**self.constants, **self.sequences})
        body = flow.simple_statements(node.body)
        if bindings is not None and body is not None and all(
                isinstance(s, (cst.Expr, cst.Pass)) or isinstance(s, cst.Assign) and self._graph_like(s.value)
                for s in body):
            for mapping in bindings:  # unrolled: the body once per value of the loop variable
                copy = flow.substitute(node.body, mapping)
                self._remember_copy(copy, node.body)
                walk.visit(copy, self)
            self.unrolled.add(id(node))
            self.flow[-1].append(None)
            return False
        self._enter(node.body, "a loop whose iterations are known only at run time"
                    if bindings is None else "a loop that does more than build the model")
        return True

    def _graph_like(self, value: cst.BaseExpression) -> bool:
        """Whether an expression computes a graph tensor (a loop that also updates other variables,
        `filters *= 2`, cannot be unrolled by substituting the loop variable alone)."""
        function = self.functions[-1] if self.functions else None
        if isinstance(value, cst.Name):
            return (function, value.value) in self.nodes
        if isinstance(value, cst.BinaryOperation):
            return self._graph_like(value.left) or self._graph_like(value.right)
        if not isinstance(value, cst.Call):
            return False
        if isinstance(value.func, cst.Call):
            return True
        if isinstance(value.func, cst.Name) and ((function, value.func.value) in self.layer_objects
                                                 or value.func.value in self.var_sources
                                                 or value.func.value in self.function_nodes):
            return True
        key = self.names.resolve(value.func) or ""
        return key in CONCAT_FUNCTIONS or key.rpartition(".")[0] in ACTIVATION_FUNCTION_MODULES \
            or key.startswith("keras.layers.")

    def leave_For(self, node: cst.For) -> None:
        self.flow[-1].pop()

    def visit_While(self, node: cst.While) -> None:
        self._enter(node.body, "a `while` loop")

    def leave_While(self, node: cst.While) -> None:
        self.flow[-1].pop()

    def visit_If(self, node: cst.If) -> None:
        self._enter(node, "a condition known only at run time")

    def leave_If(self, node: cst.If) -> None:
        self.flow[-1].pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        _subclass().record_class(self, node)

    def visit_Return(self, node: cst.Return) -> None:
        if self.inlining and self.functions and self.functions[-1] == self.inlining[-1]:
            if node.value is not None:
                self.inline_returns[-1].append(self._node("", node.value))
            return
        if self.functions and isinstance(node.value, cst.Name) and node.value.value in self.var_sources:
            self.model_functions[self.functions[-1]] = self.var_sources[node.value.value]
        elif self.functions and self.classes and _subclass().model_class_of(self, node.value) is not None:  # `return MyModel()`
            c = Construction(f"{self.functions[-1]}()", node.value, self.functions[-1])  # type: ignore[arg-type]
            self.class_models.append(c)
            self.model_functions[self.functions[-1]] = c
        elif self.functions and _is_call_to(node.value, self.names, MODEL):  # `return keras.Model(i, o)`
            c = self._functional(f"{self.functions[-1]}()", node.value)  # type: ignore[arg-type]
            if c is not None:
                c.returned = True
                self.constructions.append(c)
                self.model_functions[self.functions[-1]] = c

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        for name in _target_names(node.target):
            self.events.append(("assign", name))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        for name in _target_names(node.target):
            self.events.append(("assign", name))

    def captures(self) -> dict[int, dict[str, str]]:
        """Names an `.add()` reads that the script rebinds before the model's last `.add()`.

        Keras reads a layer's arguments when the layer is added; the translated model is built
        after the last `.add()`, so such names are captured where each layer is added.
        Keyed by id() of the layer call; each maps a name to its capture variable.
        """
        out: dict[int, dict[str, str]] = {}
        taken = set(self.assigned) | {e[1] for e in self.events if e[0] == "assign"}
        for c in self.constructions:
            adds = [i for i, e in enumerate(self.events) if e[0] == "add" and e[1] is c]
            if not adds:
                continue
            for j, i in enumerate(adds):
                call = self.events[i][2]
                later = {e[1] for e in self.events[i + 1:adds[-1]] if e[0] == "assign"}
                rebound = sorted(_names_used(call) & later)
                if not rebound:
                    continue
                mapping = {}
                for name in rebound:
                    new, n = f"{name}_{j + 1}", 2
                    while new in taken:
                        new, n = f"{name}_{j + 1}_{n}", n + 1
                    taken.add(new)
                    mapping[name] = new
                out[id(call)] = mapping
        return out

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) == 1 and isinstance(node.targets[0].target, (cst.Tuple, cst.List)):
            self._unpack(node.targets[0].target, node.value)
            return
        if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
            return
        var = node.targets[0].target.value
        value = node.value
        self._bind_list(var, value)
        if not self.functions:
            try:
                constant = literal(value)
            except ValueError:
                constant = None
            if var not in self.assigned and (isinstance(constant, (int, str)) and not isinstance(constant, bool) or (
                    isinstance(constant, tuple) and constant
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in constant))):
                self.constants[var] = constant
            else:
                self.constants.pop(var, None)
            if var not in self.assigned and isinstance(value, (cst.Call, cst.List)):
                self.values[var] = value  # `loss_fn = keras.losses.X(...)`, `metrics = [...]`: read by compile
            else:
                self.values.pop(var, None)
            if var not in self.assigned and isinstance(constant, list) and constant and all(
                    isinstance(v, (int, float, str)) for v in constant):
                self.sequences[var] = constant
            else:
                self.sequences.pop(var, None)
            self.assigned.add(var)
        function = self.functions[-1] if self.functions else None
        seen = len(self.poison_seen)
        node = self._node(var, value)
        reason = self._runtime_reason()
        if reason is not None and any(b is not None and (function, var) in b[1] for b in self.flow[-1]):
            reason = f"graph is built in {reason}"  # a graph variable rebound in a loop or a branch
        elif node is None and len(self.poison_seen) > seen:
            reason = self.poison_seen[seen]  # computed from such a variable
        else:
            reason = None
        if reason is not None:
            self.poisoned[(function, var)] = reason
            self.nodes.pop((function, var), None)
            self.tensors.pop((function, var), None)
            self.layer_objects.pop((function, var), None)
            return
        self.poisoned.pop((function, var), None)
        if node is not None and node.var == var and node.value is value and node.key != "input" \
                and not self.inlining:
            self.node_statements[id(self.origins.get(id(value), value))] = (function, var, node)
        if node is not None:
            self.nodes[(function, var)] = node
            if node.var != var or node.value is not value and node.inlined:
                node.statements.append((var, self.origins.get(id(value), value)))  # `x = inp`, `x = block(x)`
        else:
            self.nodes.pop((function, var), None)
        layer_key = self._layer_key(value)
        model_layer = self._model_layer(value)
        if layer_key and layer_key.rsplit(".", 1)[-1] in self.rules.layers:
            self.layer_objects[(function, var)] = value  # type: ignore[assignment]
            self.layer_sources.pop((function, var), None)
        elif model_layer is not None:  # `decoder_layer = autoencoder.layers[-1]`: that model's layer
            self.layer_objects[(function, var)] = model_layer
            self.layer_sources[(function, var)] = value
        else:
            self.layer_objects.pop((function, var), None)
            self.layer_sources.pop((function, var), None)
        tensor = self._tensor(var, value)
        if tensor is not None:
            self.tensors[(function, var)] = tensor
            return
        self.tensors.pop((function, var), None)
        if node is not None:
            return
        if _is_call_to(value, self.names, MODEL):
            c = self._functional(var, value)
            if c is not None:
                self.constructions.append(c)
                self.model_vars.add(var)
                self.var_sources[var] = c
            return
        if _is_call_to(value, self.names, SEQUENTIAL):
            c = Construction(var, value, self.functions[-1] if self.functions else None,
                             frame=len(self.flow), blocks=len(self.flow[-1]))
            self.constructions.append(c)
            self.model_vars.add(var)
            self.var_sources[var] = c
        elif (source := self._loaded_model(value)) is not None:  # `model = load_model('best.keras')`
            self.loads[id(value)] = source
            self.model_vars.add(var)
            self.var_sources[var] = self.var_sources[source]
        elif isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value in self.model_functions:
            self.model_vars.add(var)
            self.var_sources[var] = self.model_functions[value.func.value]
        elif self.classes and _subclass().model_class_of(self, value) is not None:  # `model = MyModel(...)`
            c = Construction(var, value, self.functions[-1] if self.functions else None)  # type: ignore[arg-type]
            self.class_models.append(c)
            self.model_vars.add(var)
            self.var_sources[var] = c
        elif (pipeline := array_pipeline(value, self.names)) is not None:
            self.datasets[var] = pipeline
        elif isinstance(value, cst.Call) and (self.names.resolve(value.func) or "").startswith("keras.optimizers."):
            self.optimizer_vars.add(var)
        elif isinstance(value, (cst.Name, cst.Attribute)):
            self.names.bind_assignment(var, value)

    # -- the Functional API -------------------------------------------------------------------
    def _unpack(self, target: cst.Tuple | cst.List, value: cst.BaseExpression) -> None:
        """`out, state_h, state_c = lstm(x, initial_state=[h, c])`: an "@item" node for each output
        of a layer called on graph tensors; otherwise the names stop being graph tensors."""
        function = self.functions[-1] if self.functions else None
        names = [el.value.value if isinstance(el.value, cst.Name) and not isinstance(el, cst.StarredElement)
                 else None for el in target.elements]
        for name in names:
            if name is not None:
                for table in (self.nodes, self.tensors, self.layer_objects, self.node_lists):
                    table.pop((function, name), None)  # type: ignore[attr-defined]
        if None in names or self._runtime_reason() is not None:
            return
        parent = self._node("", value)
        if parent is None or parent.key in ("input", "@model", "@item", *MERGE_LAYERS) or parent.op:
            return
        parent.items = []
        for i, name in enumerate(names):
            item = _graph().Node(name, value, "@item", None, [parent], index=i, seq=parent.seq)  # type: ignore[arg-type]
            parent.items.append(item)
            self.nodes[(function, name)] = item  # type: ignore[index]

    def _bind_list(self, var: str, value: cst.BaseExpression) -> None:
        """`encoder_states = [state_h, state_c]`: the graph tensors the list holds, bound now."""
        function = self.functions[-1] if self.functions else None
        self.node_lists.pop((function, var), None)
        if isinstance(value, (cst.List, cst.Tuple)) and value.elements and all(
                isinstance(el.value, cst.Name) and (function, el.value.value) in self.nodes for el in value.elements
                if not isinstance(el, cst.StarredElement)):
            nodes = self._node_list(value, 0)
            if nodes is not None:
                self.node_lists[(function, var)] = (nodes, value)

    def _list_nodes(self, value: cst.BaseExpression, statements: list) -> list[graph.Node] | None:
        """The graph tensors of `[a, b]`, of a variable bound to such a list, or of `[a] + states`;
        a list variable's own statement is added to `statements` (it goes with the graph)."""
        function = self.functions[-1] if self.functions else None
        if isinstance(value, cst.Name) and (function, value.value) in self.node_lists:
            nodes, source = self.node_lists[(function, value.value)]
            statements.append((value.value, self.origins.get(id(source), source)))
            return list(nodes)
        if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Add):
            left = self._list_nodes(value.left, statements)
            right = self._list_nodes(value.right, statements) if left is not None else None
            return None if right is None else left + right  # type: ignore[operator]
        return self._node_list(value, 0)

    def _layer_key(self, node: cst.BaseExpression) -> str | None:
        key = self.names.resolve(node.func) if isinstance(node, cst.Call) else None
        return key if key and key.startswith("keras.layers.") else None

    def _model_layer(self, value: cst.BaseExpression) -> cst.Call | None:
        """The layer call behind `model.layers[i]` (i a literal) of a model built here."""
        if not (isinstance(value, cst.Subscript) and isinstance(value.value, cst.Attribute)
                and value.value.attr.value == "layers" and isinstance(value.value.value, cst.Name)
                and len(value.slice) == 1 and isinstance(value.slice[0].slice, cst.Index)):
            return None
        c = self.var_sources.get(value.value.value.value)
        try:
            index = literal(value.slice[0].slice.value)
        except ValueError:
            return None
        if c is None or not isinstance(index, int) or isinstance(index, bool):
            return None
        if c.dag is not None:  # a graph: its last layer only (Keras orders branches by depth)
            out = c.dag.outputs[0]
            entries = [out.layer] if index == -1 and len(c.dag.outputs) == 1 and not out.op \
                and out.key not in ("@model", *MERGE_LAYERS) else []
            index = 0
        elif c.input_call is not None:  # a functional chain: layers[0] is its InputLayer
            entries = [None, *c.layers]
        else:
            entries = [el for el in c.layers if not _is_call_to(el, self.names, INPUT_KEYS)]
        try:
            entry = entries[index]
        except IndexError:
            return None
        return entry if isinstance(entry, cst.Call) and self._layer_key(entry) else None

    def _tensor(self, var: str, value: cst.BaseExpression) -> Tensor | None:
        """`keras.Input(...)` or `Layer(...)(t)` (nested calls too) on a known tensor."""
        function = self.functions[-1] if self.functions else None
        if _is_call_to(value, self.names, INPUT_KEYS - {"keras.layers.InputLayer"}):
            return Tensor(var, value, [], None, value)  # type: ignore[arg-type]
        layers: list[cst.Call] = []
        node = value
        while isinstance(node, cst.Call) and self._layer_key(node.func) and len(node.args) == 1 \
                and node.args[0].keyword is None and not node.args[0].star:
            layers.append(node.func)  # type: ignore[arg-type]
            node = node.args[0].value
        if not layers or not isinstance(node, cst.Name) or (function, node.value) not in self.tensors:
            return None
        return Tensor(var, value, layers[::-1], self.tensors[(function, node.value)])

    def _functional(self, var: str, call: cst.Call) -> Construction | None:
        """`keras.Model(inputs, outputs)` over a chain of layers from one Input to one output."""
        function = self.functions[-1] if self.functions else None
        try:
            args = bind(call, (("inputs", REQUIRED), ("outputs", REQUIRED), ("name", "None")),
                        {"input": "inputs", "output": "outputs"}, {})
        except LayerError:
            return None
        ends = [args.get("inputs"), args.get("outputs")]
        ends = [e.elements[0].value if isinstance(e, (cst.List, cst.Tuple)) and len(e.elements) == 1 else e
                for e in ends]
        found = [self.tensors.get((function, e.value)) if isinstance(e, cst.Name)
                 else self._tensor("", e) if e is not None else None for e in ends]
        if found[0] is None or found[1] is None:
            return self._graph(var, call, args)
        first = found[0]
        tensor: Tensor | None = found[1]
        chain: list[Tensor] = []
        while tensor is not first:
            if tensor is None or tensor.source is None or len(chain) > 100_000:
                return self._graph(var, call, args)
            chain.append(tensor)
            tensor = tensor.source
        c = Construction(var, call, function, input_call=first.input_call)
        c.layers = [layer for tensor in reversed(chain) for layer in tensor.layers]
        c.graph = [(first.var, first.value)] + [(t.var, self.origins.get(id(t.value), t.value)) for t in reversed(chain)]
        return c

    def _node(self, var: str, value: cst.BaseExpression, depth: int = 0) -> graph.Node | None:
        """`value` as a node of a functional graph; None otherwise."""
        if depth > 200:
            return None
        node = self._tensor_op(var, value, depth)
        if node is None:
            node = self._plain_node(var, value, depth)
        if node is not None and id(node) not in self.known:  # made here, not looked up
            # a layer object made earlier keeps its place in Keras' naming order
            node.seq = self.built_at.get(id(node.layer), self.ticks)
            self.ticks += 1
            self.known[id(node)] = node
            node.inlined = bool(self.inlining)
        return node

    def _tensor_op(self, var: str, value: cst.BaseExpression, depth: int) -> graph.Node | None:
        """Graph nodes written as operations on tensors: `a + b`, `relu(x)`, `tf.concat([a, b], 1)`,
        a helper function called on tensors, a model called as a layer."""
        function = self.functions[-1] if self.functions else None
        if isinstance(value, cst.BinaryOperation):
            ops = {cst.Add: "Add", cst.Subtract: "Subtract", cst.Multiply: "Multiply"}
            key = next((k for op, k in ops.items() if isinstance(value.operator, op)), None)
            if key is None:
                return None
            left = self._node("", value.left, depth + 1)
            right = self._node("", value.right, depth + 1) if left is not None else None
            return None if right is None else _graph().Node(var, value, key, cst.Call(cst.Name(key)), [left, right],
                                                         op=True)
        if not isinstance(value, cst.Call):
            return None
        func_key = self.names.resolve(value.func) or ""
        positional = [a for a in value.args if a.keyword is None and not a.star]
        head, _, name = func_key.rpartition(".")
        if head in ACTIVATION_FUNCTION_MODULES and name in self.rules.activations and len(value.args) == 1 \
                and positional:
            parent = self._node("", positional[0].value, depth + 1)
            if parent is None:
                return None
            layer = cst.Call(cst.Name("Activation"), [cst.Arg(cst.SimpleString(repr(name)))])
            return _graph().Node(var, value, "Activation", layer, [parent], op=True)
        if func_key in CONCAT_FUNCTIONS and positional and value.args[0] is positional[0]:
            parents = self._node_list(positional[0].value, depth)
            if parents is None:
                return None
            axis = [a.value for a in value.args[1:2] if a.keyword is None] + [
                a.value for a in value.args[1:] if a.keyword and a.keyword.value in ("axis", "dim")]
            if len(value.args) > 2 or len(axis) != len(value.args) - 1:
                return None
            default = CONCAT_FUNCTIONS[func_key]
            if not axis and default is None:
                return None
            args = [cst.Arg(axis[0] if axis else flow.value_node(default), keyword=cst.Name("axis"))]
            return _graph().Node(var, value, "Concatenate", cst.Call(cst.Name("Concatenate"), args), parents, op=True)
        if not isinstance(value.func, cst.Name) or not value.args:
            return None
        callee = value.func.value
        if callee in self.var_sources and (function, callee) not in self.nodes and len(value.args) == 1 \
                and positional:  # a model used as a layer
            parent = self._node("", positional[0].value, depth + 1)
            return None if parent is None else _graph().Node(var, value, "@model", None, [parent], shared=callee)
        fn = self.function_nodes.get(callee)
        if fn is None or callee in self.inlining or callee in self.functions or not flow.pure_helper(fn):
            return None
        return self._inline(callee, fn, value, depth)

    def _inline(self, callee: str, fn: cst.FunctionDef, call: cst.Call, depth: int) -> graph.Node | None:
        """The node a helper function returns when called on graph tensors, read from its body
        with its parameters bound to the call's arguments."""
        bound = flow.bind_arguments(fn, call)
        if bound is None:
            return None
        tensors = {}
        for param, arg in bound.items():
            n = self._node("", arg, depth + 1)
            if n is not None:
                tensors[param] = n
        if not tensors:
            return None
        local = flow.reads_names(fn.body) | {n for s in flow.simple_statements(fn.body) or []
                                             if isinstance(s, cst.Assign) for n in _target_names(s.targets[0].target)}
        others = {p: a for p, a in bound.items() if p not in tensors}
        if any(flow.reads_names(a) & local - set(bound) for a in others.values()):
            return None  # an argument would read a name the body rebinds
        self.scopes += 1
        scope = f"{callee}@{self.scopes}"
        body = flow.substitute(fn.body, {p: a.deep_clone() for p, a in others.items()})
        self.functions.append(scope)
        self.inlining.append(scope)
        self.flow.append([])
        self.inline_returns.append([])
        for param, n in tensors.items():
            self.nodes[(scope, param)] = n
        try:
            walk.visit(body, self)
        finally:
            self.functions.pop()
            self.inlining.pop()
            self.flow.pop()
            returned = self.inline_returns.pop()
        result = returned[-1] if returned else None
        if result is not None:
            self.inline_sites.setdefault(callee, []).append(result)
        return result

    def _plain_node(self, var: str, value: cst.BaseExpression, depth: int) -> graph.Node | None:
        """An Input, a layer (or layer object) called on a tensor, a merge layer or function called
        on a list of tensors."""
        function = self.functions[-1] if self.functions else None
        if isinstance(value, cst.Name):
            reason = self.poisoned.get((function, value.value))
            if reason is not None:
                self.poison_seen.append(reason)
            return self.nodes.get((function, value.value))
        if not isinstance(value, cst.Call):
            return None
        if _is_call_to(value, self.names, INPUT_KEYS - {"keras.layers.InputLayer"}):
            return _graph().Node(var, value, "input", input_call=value)
        func_key = self.names.resolve(value.func) or ""
        merge_fn = func_key.rsplit(".", 1)[-1] if func_key.startswith("keras.layers.") else ""
        if merge_fn in MERGE_FUNCTIONS:  # layers.concatenate([a, b], axis=-1)
            if not value.args or value.args[0].keyword or value.args[0].star:
                return None
            parents = self._node_list(value.args[0].value, depth)
            if parents is None:
                return None
            layer = cst.Call(cst.Name(MERGE_FUNCTIONS[merge_fn]), args=list(value.args[1:]))
            return _graph().Node(var, value, MERGE_FUNCTIONS[merge_fn], layer, parents)
        states = [a for a in value.args[1:] if a.keyword is not None and a.keyword.value == "initial_state"]
        if len(value.args) != 1 + len(states) or value.args[0].keyword or value.args[0].star:
            return None
        layer_call: cst.Call | None = None
        shared = ""
        if isinstance(value.func, cst.Call):
            layer_call = value.func
        elif isinstance(value.func, cst.Name) and (function, value.func.value) in self.layer_objects:
            layer_call = self.layer_objects[(function, value.func.value)]
            shared = value.func.value
        key = self._layer_key(layer_call) if layer_call is not None else None
        if key is None:
            return None
        cls = key.rsplit(".", 1)[-1]
        if cls in MERGE_LAYERS:
            parents = self._node_list(value.args[0].value, depth)
        else:
            parent = self._node("", value.args[0].value, depth + 1)
            parents = [parent] if parent is not None else None
        statements: list = []
        initial = self._list_nodes(states[0].value, statements) if states and parents is not None else []
        if parents is None or initial is None:
            return None
        return _graph().Node(var, value, cls, layer_call, parents + initial, shared=shared, states=len(initial),
                          statements=statements)

    def _node_list(self, value: cst.BaseExpression, depth: int) -> list[graph.Node] | None:
        if not isinstance(value, (cst.List, cst.Tuple)) or not value.elements:
            return None
        out = []
        for el in value.elements:
            if isinstance(el, cst.StarredElement):
                return None
            n = self._node("", el.value, depth + 1)
            if n is None:
                return None
            out.append(n)
        return out

    def _graph(self, var: str, call: cst.Call, args: dict) -> Construction | None:
        """`keras.Model(inputs, outputs)` over a graph: branches, merges, several inputs or outputs."""
        function = self.functions[-1] if self.functions else None
        ends = []
        lists: list = []  # `encoder_states = [h, c]` read as an end: its statement goes with the graph
        for end in (args.get("inputs"), args.get("outputs")):
            if end is None:
                return None
            items = [e.value for e in end.elements] if isinstance(end, (cst.List, cst.Tuple)) else [end]
            seen = len(self.poison_seen)
            listed = self._list_nodes(end, lists) if isinstance(end, (cst.Name, cst.BinaryOperation)) else None
            nodes = listed if listed is not None else [self._node("", e) for e in items]
            poisoned = [self.poisoned[(function, e.value)] for e in items
                        if isinstance(e, cst.Name) and (function, e.value) in self.poisoned]
            if any(n is None for n in nodes) or not nodes:
                if poisoned or len(self.poison_seen) > seen:
                    self.graph_failures.append((call, f"a functional model whose {(poisoned or self.poison_seen[seen:])[0]}"))
                elif any(n is not None for n in nodes) or ends:
                    self.graph_failures.append((call, ("a functional model whose graph is not written as "
                                                       "layer calls on tensors")))
                return None
            ends.append(nodes)
        inputs, outputs = ends
        if any(n.key != "input" for n in inputs):
            self.graph_failures.append((call, "a functional model whose inputs are not keras.Input tensors"))
            return None
        try:
            order = _graph().topological(outputs, inputs)
        except Unsupported as exc:
            self.graph_failures.append((call, str(exc)))
            return None
        c = Construction(var, call, function, input_call=inputs[0].input_call)
        c.dag = _graph().Graph(inputs, outputs, order)
        used_objects = {n.shared for n in order if n.shared and n.key != "@model" and not n.inlined}
        c.graph = [(n.var, self.origins.get(id(n.value), n.value)) for n in order  # type: ignore[misc]
                   if n.var and n.value is not None and not n.inlined]
        c.graph += [statement for n in order for statement in n.statements] + lists
        c.graph += [(name, self.layer_sources.get((function, name), self.layer_objects[(function, name)]))
                    for name in sorted(used_objects) if (function, name) in self.layer_objects]
        return c

    def _loaded_model(self, value: cst.BaseExpression) -> str | None:
        """The model variable whose saved file `load_model(path)` reads, when the script saved it."""
        if not _is_call_to(value, self.names, LOAD_MODEL) or not value.args or value.args[0].keyword:  # type: ignore[union-attr]
            return None
        if any(a.keyword is None or a.keyword.value not in ("compile", "safe_mode") for a in value.args[1:]):  # type: ignore[union-attr]
            return None
        try:
            path = literal(value.args[0].value)  # type: ignore[union-attr]
        except ValueError:
            return None
        source = self.saved.get(path) if isinstance(path, str) else None
        if source is None and path in self.checkpoints and self.last_fit:
            source = self.last_fit
        return source if source in self.var_sources else None

    def _tensor_functions_in(self, node: cst.BaseExpression) -> None:
        """The script's own functions named in a loss or metrics argument (or a Lambda's function)."""
        items = [node]
        while items:
            item = items.pop()
            if isinstance(item, cst.Name) and item.value in self.function_nodes:
                self.tensor_functions.add(item.value)
            elif isinstance(item, (cst.List, cst.Tuple)):
                items.extend(el.value for el in item.elements)
            elif isinstance(item, cst.Dict):
                items.extend(el.value for el in item.elements if isinstance(el, cst.DictElement))

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name):  # where the script calls its own functions
            self.calls_of[node.func.value].append((self.functions[-1] if self.functions else None, node))
        key = self.names.resolve(node.func) or ""
        if key.startswith("keras.layers.") and id(node) not in self.built_at:
            self.built_at[id(node)] = self.ticks  # a layer made here: Keras names layers in this order
            self.ticks += 1
        if key == "keras.layers.Lambda" and node.args and node.args[0].keyword is None:
            self._tensor_functions_in(node.args[0].value)
        if key.endswith("callbacks.ModelCheckpoint"):
            arg = next((a for a in node.args if a.keyword is None or a.keyword.value == "filepath"), None)
            try:
                if arg is not None:
                    self.checkpoints.add(literal(arg.value))
            except (ValueError, TypeError):  # a path computed at run time, or an unhashable literal
                pass
        if isinstance(node.func, cst.Attribute) and isinstance(node.func.value, cst.Name):
            var, method = node.func.value.value, node.func.attr.value
            if var not in self.var_sources:
                return
            source = self.var_sources[var]
            if method in ("fit", "fit_generator"):
                self.last_fit = var
            if method == "compile":
                for arg in node.args:
                    if arg.keyword is None or arg.keyword.value in ("loss", "metrics"):
                        self._tensor_functions_in(arg.value)
            if method == "save" and node.args and node.args[0].keyword is None:
                try:
                    self.saved[literal(node.args[0].value)] = var
                except (ValueError, TypeError):
                    pass
            if method == "add" and node.args:
                reason = self._runtime_reason(source.blocks) if source.frame == len(self.flow) else None
                if reason is not None and source.problem is None:
                    source.problem = (node, f"layers are added in {reason}")
                source.layers.append(node.args[0].value)  # type: ignore[arg-type]
                self.events.append(("add", source, node.args[0].value))
            elif method == "compile" and source.loss is None:
                for i, arg in enumerate(node.args):
                    if (arg.keyword and arg.keyword.value == "loss") or (arg.keyword is None and i == 1):
                        source.loss = arg.value
            elif method == "summary":
                self.summaries.add(id(source))


#: Attributes of a translated model a script may read: what the translation sets on it (and
#: Keras has under the same name and meaning), and nn.Module's own.
MODEL_ATTRIBUTES = frozenset({"optimizer", "loss_fn", "metrics", "stop_training", "training",
                              "keras_name", "keras_layers", "learner"})

# arguments every Keras optimizer takes that no torch optimizer does: see with_keras_options
OPTIMIZER_OPTIONS = ("decay", "clipnorm", "clipvalue", "global_clipnorm")


class Translator(cst.CSTTransformer):
    """Second pass: rewrites blocks statement by statement, bottom-up."""

    def __init__(self, rules: RuleSet, names: NameTable, analysis: Analyzer, path: str, target: str = "torch"):
        self.target = target
        self.rules = rules
        self.names = names
        self.an = analysis
        self.path = path
        self.pending: list[tuple] = []  # node, severity, rule, message, source statement
        self.noted: set[tuple[int, str, str]] = set()  # notes and warnings already given
        self.support: set[str] = set()
        self.imports: set[str] = set()
        self.models: list[ModelInfo] = []
        self.builds: dict[int, ModelBuild] = {}  # id(Construction) -> build
        self.failed: set[int] = set()
        self.class_names: set[str] = set()
        self.uids: Counter = Counter()
        self.hoisted: dict[int, list[cst.BaseStatement]] = {}
        self.top: cst.CSTNode | None = None
        self.depth = 0
        self.function_stack: list[cst.FunctionDef] = []
        self.stats = Stats()
        self.todo_lines: dict[int, list[str]] = {}
        self.captures = analysis.captures()
        self.submodels: dict[str, tuple] = {}  # model variables built so far: (output shape, fold)
        self.built_layers: dict[int, tuple] = {}  # layer calls built so far (SequentialBuilder.built_layers)
        self.stmt_origin: dict[int, cst.BaseStatement] = {}  # id(rewritten statement) -> source's
        self.current_stmt: cst.BaseStatement | None = None
        self.instantiated: set[int] = set()
        self.origins: dict[int, cst.CSTNode] = {}  # id(renamed layer call) -> the source's node
        if self.an.classes:
            _subclass().prepare(self)  # the script's own model/layer classes, usable in the models below
        self.standalone = self._standalone_objects()  # id() of layer objects made beside models
        self.objects: dict[str, tuple[str, cst.Call | None]] = {}  # SequentialBuilder.objects
        self._prepare_models()
        for node, reason in analysis.graph_failures:
            self.diag(node, NOTE, "functional-graph", f"{reason} is not translated yet")

    # -- diagnostics -------------------------------------------------------------------------
    def diag(self, node: cst.CSTNode, severity: str, rule: str, message: str) -> None:
        node = self.origins.get(id(node), node)
        if severity != TODO:
            key = (id(node), rule, message)
            if key in self.noted:
                return  # the same note on the same code, once (a layer that several models share)
            self.noted.add(key)
        self.pending.append((node, severity, rule, message, self.current_stmt))
        if severity == TODO:
            self.stats = self.stats + Stats(left=1)

    # -- models ------------------------------------------------------------------------------
    def _layer_calls(self, c: Construction) -> tuple[list[tuple[cst.Call, str]], object]:
        elements: list[cst.BaseExpression] = []
        name_arg = None
        if c.input_call is not None:  # the Functional API: Input, then the chain of layers
            elements.append(c.input_call)
            name_arg = next((a.value for a in c.node.args if a.keyword and a.keyword.value == "name"), None)
        for i, arg in enumerate(c.node.args if c.input_call is None else ()):
            if (arg.keyword is None and i == 0) or (arg.keyword and arg.keyword.value == "layers"):
                if not isinstance(arg.value, (cst.List, cst.Tuple)):
                    raise LayerError("the layer list must be written out in the call", arg.value)
                for el in arg.value.elements:
                    if isinstance(el, cst.StarredElement):
                        raise LayerError("a starred layer list cannot be read statically", el)
                    elements.append(el.value)
            elif arg.keyword and arg.keyword.value == "name":
                name_arg = arg.value
            elif not (arg.keyword and arg.keyword.value in ("trainable",)):
                raise LayerError(f"Sequential argument `{code(arg)}` is not supported", arg)
        for call in c.layers:
            mapping = self.captures.get(id(call))
            if mapping:
                renamed = call.visit(_Renamer(mapping))
                self.origins[id(renamed)] = call
                call = renamed
            elements.append(call)
        calls: list[tuple[cst.Call, str]] = []
        input_shape = None
        for el in elements:
            if isinstance(el, cst.Call) and id(el) in self.standalone:  # `h = normalizer(inputs)`
                el = cst.Name(next(var for (f, var), obj in self.an.layer_objects.items() if obj is el))
            if isinstance(el, cst.Name) and self._object_beside(c, el.value):
                calls.append((el, "@object"))  # type: ignore[arg-type]
                continue
            el = self._layer_object(c, el) or el  # `normalizer = layers.X(...)`, then [normalizer, ...]
            key = self.names.resolve(el.func) if isinstance(el, cst.Call) else None
            if key is None and isinstance(el, cst.Call) and self.an.classes:
                key = _subclass().layer_key(self, el)  # one of the script's own layer classes
            if key is None and isinstance(el, cst.Call):
                key = self.names.resolve_star(el.func, {f"keras.layers.{k}" for k in self.rules.layers}
                                              | INPUT_KEYS)
                if key:
                    self.diag(el, WARNING, "star-import", f"`{code(el.func)}` resolved through a star import")
            if key in INPUT_KEYS and not calls:
                input_shape = self._input_layer_shape(el)  # type: ignore[arg-type]
                continue
            if isinstance(el, cst.Name) and el.value in self.submodels:  # a model used as a layer
                calls.append((el, "@model"))  # type: ignore[arg-type]
                continue
            if not key or not key.startswith("keras.layers.") or key.rsplit(".", 1)[-1] not in self.rules.layers:
                what = key.rsplit(".", 1)[-1] if key else code(el)[:60]
                raise LayerError(f"layer `{what}` has no rule", el)
            calls.append((el, key))  # type: ignore[arg-type]
        return calls, (input_shape, name_arg)

    def _layer_object(self, c: Construction, el: cst.BaseExpression) -> cst.Call | None:
        """The construction of a layer object named in a Sequential list or `.add()`; its own
        statement then goes with the model. Refused when the name is read anywhere else, where
        the removed object would be missing (`normalizer.adapt(x)`, a functional call)."""
        if not isinstance(el, cst.Name) or el.value in self.submodels:
            return None
        key = (c.function, el.value)
        obj = self.an.layer_objects.get(key)
        if obj is None:
            return None
        listed = sum(1 for other in self.an.constructions if other.dag is None
                     for item in self._sequential_items(other) if isinstance(item, cst.Name) and item.value == el.value)
        if self.an.name_reads[el.value] - 1 != listed:  # minus its own assignment
            raise LayerError(f"layer object `{el.value}` is also used outside the model's layer list", el)
        c.graph.append((el.value, self.an.layer_sources.get(key, obj)))
        return obj

    def _standalone_objects(self) -> set[int]:
        """Layer objects whose rule has a `layer_object` support class and that the script uses
        outside model layer lists (`normalizer.adapt(x)`, passed to a building function): each is
        made beside its models, which hold that same module. id() of each one's construction."""
        listed: Counter = Counter(item.value for c in self.an.constructions if c.dag is None
                                  for item in self._sequential_items(c) if isinstance(item, cst.Name))
        out = set()
        for (_, var), obj in self.an.layer_objects.items():
            key = self.names.resolve(obj.func) or "" if isinstance(obj, cst.Call) else ""
            rule = self.rules.layers.get(key.rsplit(".", 1)[-1]) if key.startswith("keras.layers.") else None
            if rule is not None and rule.layer_object and self.an.name_reads[var] - 1 != listed[var]:
                out.add(id(obj))
        return out

    def _object_beside(self, c: Construction, name: str) -> bool:
        """`name` in c's layer list is a standalone layer object, or a parameter of c's building
        function that every call of the function gives one of the same class (the Keras
        regression tutorial's `build_and_compile_model(normalizer)`); recorded in self.objects."""
        made = self.an.layer_objects.get((c.function, name)) or self.an.layer_objects.get((None, name))
        if made is not None:  # made where the model is, or at module level (a global the class reads)
            if id(made) not in self.standalone:
                return False
            self.objects[name] = (self._layer_class(made), made)
            return True
        func = self.an.function_nodes.get(c.function or "")
        params = [p.name.value for p in func.params.params] if func is not None else []
        if name not in params:
            return False
        found: list[cst.Call] = []
        for caller, call in self.an.calls_of.get(c.function or "", []):
            arg = next((a.value for a in call.args if a.keyword and a.keyword.value == name), None)
            positional = [a.value for a in call.args if a.keyword is None and not a.star]
            if arg is None and params.index(name) < len(positional):
                arg = positional[params.index(name)]
            obj = self.an.layer_objects.get((caller, arg.value)) if isinstance(arg, cst.Name) else None
            if obj is None or id(obj) not in self.standalone:
                return False
            found.append(obj)
        classes = {self._layer_class(o) for o in found}
        if len(classes) != 1:
            return False
        self.objects[name] = (classes.pop(), found[0] if len(found) == 1 else None)
        return True

    def _layer_class(self, call: cst.Call) -> str:
        return (self.names.resolve(call.func) or "").rsplit(".", 1)[-1]

    @staticmethod
    def _sequential_items(c: Construction) -> list[cst.BaseExpression]:
        items: list[cst.BaseExpression] = list(c.layers)
        for i, arg in enumerate(c.node.args if c.input_call is None else ()):
            if ((arg.keyword is None and i == 0) or (arg.keyword and arg.keyword.value == "layers")) \
                    and isinstance(arg.value, (cst.List, cst.Tuple)):
                items += [e.value for e in arg.value.elements if not isinstance(e, cst.StarredElement)]
        return items

    def _input_layer_shape(self, call: cst.Call):
        args = bind(call, (("shape", "None"),), {"input_shape": "shape"}, {})
        if "shape" in args:
            return shape_from_node(args["shape"], self.an.constants)
        if "batch_shape" in args or "batch_input_shape" in args:
            shape = shape_from_node(args.get("batch_shape") or args["batch_input_shape"])
            return shape[1:] if shape else None
        return None

    def _prepare_graph(self, c: Construction) -> None:
        dag = c.dag
        assert dag is not None
        n = self.uids["functional"]
        self.uids["functional"] += 1
        keras_name = "functional" if n == 0 else f"functional_{n}"
        name_arg = next((a.value for a in c.node.args if a.keyword and a.keyword.value == "name"), None)
        if name_arg is not None:
            try:
                keras_name = str(literal(name_arg))
            except ValueError:
                pass
        input_info = []
        for node in dag.inputs:
            c.input_call = node.input_call
            input_info.append((self._input_name(c), self._input_layer_shape(node.input_call)))
        c.input_call = dag.inputs[0].input_call
        fold = ""
        out = dag.outputs[0]
        if len(dag.outputs) == 1 and out.layer is not None and out.key in self.rules.layers:
            fold = self._fold_for(c, [(out.layer, f"keras.layers.{out.key}")])
        cls = class_name_for(_class_stem(c), self.class_names)
        builder = SequentialBuilder(self.rules, self.uids)
        builder.constants = self.an.constants
        builder.submodels = self.submodels
        builder.built_layers, builder.model = self.built_layers, (c.function, c.variable)
        builder.object_calls = {id(obj): var for (f, var), obj in self.an.layer_objects.items()
                                if id(obj) in self.standalone and f == c.function}
        where = f"built in `{c.function}()`" if c.function else f"`{c.variable}`"
        for node in dag.order:
            if node.key == "@model" and node.shared not in self.submodels:
                raise LayerError(f"model `{node.shared}` is used as a layer but is not translated", node.value)
            if node.key not in ("input", "@model", "@item", *MERGE_LAYERS) and node.key not in self.rules.layers:
                raise LayerError(f"layer `{node.key}` has no rule", node.layer or node.value)
        build = _graph().GraphBuilder(builder, self.names.resolve, self.dead_nodes).build(
            c.variable, cls, keras_name, dag, input_info, fold,
            f"The Keras functional model {where}; it takes input as Keras does.",
            id(c) in self.an.summaries)
        if c.function:
            build = self._with_params(build, c)
        elif len(dag.outputs) == 1 and len(dag.inputs) == 1:
            self.submodels[c.variable] = (build.out_shape, fold)
        self.builds[id(c)] = build
        self.models.append(build.info)
        self.stats = self.stats + Stats(layers=sum(1 for node in dag.order if node.key not in ("input", "@item")))
        for rule_id, message, node in build.warnings:
            self.diag(node, NOTE if rule_id == "initializer" else WARNING, rule_id, message)
        self.support |= _names_used(build.class_def) & support.names()
        if fold:
            self.support.add("keras_output")
            self.imports.update({"torch", "functools"} if fold == "softmax" else {"torch"})

    def _prepare_models(self) -> None:
        live = {id(value) for c in self.an.constructions for _, value in c.graph}
        self.dead_nodes = sorted((node for key, (_, _, node) in self.an.node_statements.items() if key not in live),
                                 key=lambda n: n.seq)
        for c in self.an.constructions:
            if c.problem is not None:
                self.failed.add(id(c))
                self.diag(c.problem[0], TODO, "model-flow",
                          f"{c.problem[1]}: the model class would be fixed at translation time; "
                          f"model `{c.variable}` left in Keras")
                continue
            if c.dag is not None:
                try:
                    self._prepare_graph(c)
                except LayerError as exc:
                    self.failed.add(id(c))
                    self.diag(exc.node, TODO, "unsupported-layer", f"{exc}; model `{c.variable}` left in Keras")
                except Unsupported as exc:
                    self.failed.add(id(c))
                    self.diag(c.node, TODO, "unsupported-layer", f"{exc}; model `{c.variable}` left in Keras")
                continue
            try:
                calls, (input_shape, name_arg) = self._layer_calls(c)
                fold = self._fold_for(c, calls)
                stem = "sequential" if c.input_call is None else "functional"
                n = self.uids[stem]
                self.uids[stem] += 1
                keras_name = stem if n == 0 else f"{stem}_{n}"
                if name_arg is not None:
                    try:
                        keras_name = str(literal(name_arg))
                    except ValueError:
                        pass
                cls = class_name_for(_class_stem(c), self.class_names)
                builder = SequentialBuilder(self.rules, self.uids)
                where = f"built in `{c.function}()`" if c.function else f"`{c.variable}`"
                builder.constants = self.an.constants
                builder.submodels = self.submodels
                builder.built_layers, builder.model = self.built_layers, (c.function, c.variable)
                builder.objects = self.objects
                build = builder.build(c.variable, cls, keras_name, calls, input_shape, fold, self.names.resolve,
                                      f"The Keras {'Sequential' if c.input_call is None else 'functional'} "
                                      f"model {where}; it takes input as Keras does.",
                                      id(c) in self.an.summaries, self._input_name(c))
                if c.function:
                    build = self._with_params(build, c)
                self.builds[id(c)] = build
                self.models.append(build.info)
                if c.function is None:
                    self.submodels[c.variable] = (builder.last_shape, fold)
                self.stats = self.stats + Stats(layers=len(calls))
                for rule_id, message, node in build.warnings:
                    self.diag(node, NOTE if rule_id == "initializer" else WARNING, rule_id, message)
                self.support |= _names_used(build.class_def) & support.names()
                if fold:
                    self.support.add("keras_output")
                    self.imports.update({"torch", "functools"} if fold == "softmax" else {"torch"})
            except LayerError as exc:
                self.failed.add(id(c))
                self.diag(exc.node, TODO, "unsupported-layer", f"{exc}; model `{c.variable}` left in Keras")

    def _input_name(self, c: Construction) -> str | None:
        """The Keras name of a functional model's Input layer (None for Sequential models)."""
        if c.input_call is None:
            return None
        for arg in c.input_call.args:
            if arg.keyword and arg.keyword.value == "name":
                try:
                    return str(literal(arg.value))
                except ValueError:
                    break
        n = self.uids["input_layer"]
        self.uids["input_layer"] += 1
        return "input_layer" if n == 0 else f"input_layer_{n}"

    def _fold_for(self, c: Construction, calls: list[tuple[cst.Call, str]]) -> str:
        if c.loss is None or not calls:
            return ""
        loss = self._loss_rule(c.loss)
        if loss is None or not loss[0].fold or loss[1].get("from_logits") is True:
            return ""
        last_call, key = calls[-1]
        if key in ("@model", "@object"):
            return ""
        rule = self.rules.layers[key.rsplit(".", 1)[-1]]
        head = rule.fold
        if not head and not rule.own_activation:  # an RNN's `activation` is inside its cell
            args = bind(last_call, rule.signature, dict(rule.renames), self.rules.keywords)
            if "activation" in args:
                try:
                    head = literal(args["activation"]) or ""
                except ValueError:
                    head = ""
                if not isinstance(head, str):  # activation=[3]: no fold, and no crash
                    head = ""
        return loss[0].fold if self.rules.folds.get(head) == loss[0].fold else ""

    def _with_params(self, build: ModelBuild, c: Construction) -> ModelBuild:
        """Names local to the building function become constructor parameters."""
        func = self.an.function_nodes.get(c.function or "")
        if func is None:
            return build
        local = {p.name.value for p in func.params.params} | _assigned_names(func)
        local |= {new for call in c.layers for new in self.captures.get(id(call), {}).values()}
        init = [s for s in build.class_def.body.body if isinstance(s, cst.FunctionDef) and s.name.value == "__init__"]
        used = _names_used(init[0] if init else build.class_def)  # forward's own variables are not parameters
        params = tuple(sorted(n for n in local if n in used))
        if not params:
            return build
        cls = build.class_def
        new_body = []
        for stmt in cls.body.body:
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value == "__init__":
                extra = [cst.Param(cst.Name(p)) for p in params]
                stmt = stmt.with_changes(params=stmt.params.with_changes(params=[*stmt.params.params, *extra]))
            new_body.append(stmt)
        cls = cls.with_changes(body=cls.body.with_changes(body=new_body))
        return ModelBuild(cls, build.info, params, build.warnings, build.outputs, build.regularized)

    # -- traversal bookkeeping ---------------------------------------------------------------
    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.SimpleStatementLine, cst.BaseExpression)) and not (
                self.standalone and any(id(n) in self.standalone for n in walk.preorder(node))):
            return False  # nothing under it is rewritten by this pass (process_block does statements)
        if isinstance(node, cst.BaseCompoundStatement):
            if self.depth == 0:
                self.top = node
            self.depth += 1
        if isinstance(node, cst.FunctionDef):
            self.function_stack.append(node)
        return super().on_visit(node)

    def on_leave(self, original_node, updated_node):
        if isinstance(original_node, cst.BaseCompoundStatement):
            self.depth -= 1
        if isinstance(original_node, cst.FunctionDef):
            self.function_stack.pop()
        return super().on_leave(original_node, updated_node)

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if id(original_node) in self.standalone:  # a layer object made beside its models
            made = self.rules.layers[self._layer_class(original_node)].layer_object
            self.support.add(made)
            self.stats = self.stats + Stats(layers=1)
            return updated_node.with_changes(func=cst.Name(made))
        return updated_node

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        if self._tensor_function(node):
            return False  # rewritten whole by _tensor_function_def
        return not self._inlined_away(node)

    def _tensor_function(self, node: cst.FunctionDef) -> bool:
        return node.name.value in self.an.tensor_functions and self.an.function_nodes.get(node.name.value) is node \
            and not self.function_stack[:-1]

    def _tensor_function_def(self, node: cst.FunctionDef) -> cst.FunctionDef:
        """A loss, metric or Lambda function of the script: its Keras tensor functions become torch's."""
        from . import tensorfn

        new, rewriter = tensorfn.rewrite(node, self.names.resolve)
        self.stats = self.stats + Stats(calls=rewriter.count)
        for problem, message in rewriter.problems:
            self.diag(problem, TODO, "unsupported-op", message)
        left = [n for n in _framework_refs(new, self.names) if not (isinstance(n, cst.Name) and n.value in self.support)]
        for ref in left:
            self.diag(ref, TODO, "untranslated", f"`{code(ref)}` has no rule")
        if "torch" in code(new):
            self.imports.add("torch")
        if rewriter.problems or left:
            return self._mark(new, rewriter.problems[0][1] if rewriter.problems
                              else f"`{code(left[0])}` has no PyTorch translation yet")  # type: ignore[return-value]
        return new  # type: ignore[return-value]

    def _inlined_away(self, node: cst.FunctionDef) -> bool:
        """A helper function whose every use was inlined into a translated functional model."""
        name = node.name.value
        sites = self.an.inline_sites.get(name)
        if not sites or self.an.function_nodes.get(name) is not node:
            return False
        built = {id(n) for c in self.an.constructions if c.dag is not None and id(c) in self.builds
                 for n in c.dag.order}
        # every read of the name is a call that was inlined (one Name is the definition's own)
        return self.an.name_reads[name] - 1 == len(sites) and all(id(n) in built for n in sites)

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return _subclass().visit_class(self, node)  # a keras.Model/Layer subclass is rewritten whole

    def leave_ClassDef(self, original_node: cst.ClassDef, updated_node: cst.ClassDef) -> cst.BaseStatement:
        return _subclass().leave_class(self, original_node, updated_node)

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock):
        self._remember_origins(original_node.body, updated_node.body)
        return updated_node.with_changes(body=self.process_block(list(updated_node.body), top=False))

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        body: list[cst.BaseStatement] = []
        self._remember_origins(original_node.body, updated_node.body)
        for orig, new in zip(original_node.body, updated_node.body, strict=True):
            body.extend(self.hoisted.get(id(orig), []))
            body.append(new)
        return updated_node.with_changes(body=self.process_block(body, top=True))

    def _remember_origins(self, original: Sequence[cst.BaseStatement], updated: Sequence[cst.BaseStatement]) -> None:
        """Diagnostics on rewritten nodes fall back to the position of their source statement."""
        for o, u in zip(original, updated, strict=True):
            self.stmt_origin[id(u)] = o

    # -- statements --------------------------------------------------------------------------
    def _construction_for(self, var: str, value: cst.BaseExpression) -> Construction | None:
        function = self.function_stack[-1].name.value if self.function_stack else None
        candidates = [c for c in self.an.constructions if c.variable == var and c.function == function
                      and id(c) not in self.instantiated]
        for c in candidates:
            if c.node is value:
                return c
        for c in candidates:
            if _same_node(c.node, value):
                return c
        return None

    def process_block(self, body: list[cst.BaseStatement], top: bool) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        # a model built with .add() is instantiated where its last layer is added
        last_add: dict[str, int] = {}
        for i, stmt in enumerate(body):
            mc = _method_call(stmt)
            if mc and mc[1] == "add":
                last_add[mc[0]] = i
        building: dict[str, tuple[Construction, cst.BaseStatement]] = {}
        for i, stmt in enumerate(body):
            self.current_stmt = self.stmt_origin.get(id(stmt), self.current_stmt)
            target = _single_target(stmt)
            mc = _method_call(stmt)
            if isinstance(stmt, cst.FunctionDef) and self._inlined_away(self.stmt_origin.get(id(stmt), stmt)):
                continue  # inlined into the model classes that call it
            if isinstance(stmt, cst.FunctionDef) and top and stmt.name.value in self.an.tensor_functions \
                    and self.an.function_nodes.get(stmt.name.value) is self.stmt_origin.get(id(stmt), stmt):
                out.append(self._tensor_function_def(stmt))
                continue
            if isinstance(stmt, cst.For) and id(self.stmt_origin.get(id(stmt))) in self.an.unrolled \
                    and isinstance(stmt.body, cst.IndentedBlock) and not stmt.body.body:
                continue  # a loop that only built the model: unrolled into the model class
            returned = self._returned_construction(stmt)
            if returned is not None:
                self.instantiated.add(id(returned))
                self.stats = self.stats + Stats(calls=1)
                out.extend(self._instantiate(returned, stmt, top))
                continue
            if target and self._graph_statement(target[0], target[1]):
                continue  # a layer call of a functional model: it lives in the model's forward now
            unpacked = _unpacking(stmt)
            if unpacked and any(self._graph_statement(name, unpacked[1]) for name in unpacked[0]):
                continue  # `out, h, c = lstm(x)` in a model's forward
            if target and self._dead_layer(stmt, target[0]):
                continue
            if target and id(target[1]) in self.an.loads or target and id(
                    (_single_target(self.stmt_origin.get(id(stmt), stmt)) or ("", None))[1]) in self.an.loads:
                out.extend(self._load_model(stmt, target[0]))
                continue
            if target and isinstance(target[1], cst.Call) and (
                    _is_call_to(target[1], self.names, SEQUENTIAL)
                    or (_is_call_to(target[1], self.names, MODEL) and self._construction_for(*target))):
                c = self._construction_for(target[0], target[1])
                if c is not None:
                    self.instantiated.add(id(c))
                if c is not None and id(c) in self.builds:
                    self.stats = self.stats + Stats(calls=1)
                    if target[0] in last_add and last_add[target[0]] > i:
                        building[target[0]] = (c, stmt)
                        continue
                    out.extend(self._instantiate(c, stmt, top))
                    continue
                out.append(self._mark(stmt, "a Keras model that could not be translated"))
                continue
            if mc and mc[1] == "add" and mc[0] in building:
                c, first = building[mc[0]]
                out.extend(self._capture_statements(c, mc[2], stmt))
                if last_add[mc[0]] == i:
                    out.extend(self._instantiate(c, first, top, at=stmt))
                continue
            if mc and mc[1] == "compile" and mc[0] in self.an.model_vars and not self._failed_var(mc[0]):
                out.extend(self._compile(mc[0], mc[2], stmt))
                continue
            if mc and mc[1] == "add" and mc[0] in self.an.model_vars and not self._failed_var(mc[0]):
                continue  # already folded into the class
            if target and isinstance(target[1], (cst.Name, cst.Attribute)) and self.names.full_path(target[1]) \
                    and self.names.bindings.get(target[0]) == self.names.full_path(target[1]):
                continue  # `L = keras.layers` only renames a module: resolution has used it
            seed = self._seed(stmt)
            if seed is not None:
                out.extend(seed)
                continue
            out.append(self._finish_statement(stmt))
        return out

    def _returned_construction(self, stmt: cst.BaseStatement) -> Construction | None:
        if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
                and isinstance(stmt.body[0], cst.Return) and isinstance(stmt.body[0].value, cst.Call)):
            return None
        value = stmt.body[0].value
        function = self.function_stack[-1].name.value if self.function_stack else None
        for c in self.an.constructions:
            if c.returned and c.function == function and id(c) in self.builds and id(c) not in self.instantiated \
                    and (c.node is value or _same_node(c.node, value)):
                return c
        return None

    def _load_model(self, stmt: cst.BaseStatement, var: str) -> list[cst.BaseStatement]:
        """`m = load_model(path)` of a file the script's model saved: that model's class, its state dict
        read back (loss, optimizer and metrics come with the copy, as Keras restores the compiled model)."""
        orig = _single_target(self.stmt_origin.get(id(stmt), stmt))
        call = orig[1] if orig else _single_target(stmt)[1]  # type: ignore[index]
        source = self.an.loads[id(call)]
        if self._failed_var(source):
            return [self._mark(stmt, f"`{source}` could not be translated")]
        self.imports.add("torch")
        self.stats = self.stats + Stats(calls=1)
        path = code(_pt_path(call.args[0].value))  # type: ignore[union-attr]
        lines = []
        if var != source:
            self.imports.add("copy")
            lines.append(cst.parse_statement(f"{var} = copy.deepcopy({source})  # the model load_model reads back\n"))
        lines.append(cst.parse_statement(f"{var}.load_state_dict(torch.load({path}))\n"))
        lines[0] = lines[0].with_changes(leading_lines=stmt.leading_lines)
        return lines

    def _dead_layer(self, stmt: cst.BaseStatement, var: str) -> bool:
        """`v = Layer(...)(t)` on a graph tensor that no model uses (Keras builds the layer and never
        runs it): dropped with a note where every model of the function translated and the
        statement's variable is not read before it is bound again."""
        orig = _single_target(self.stmt_origin.get(id(stmt), stmt))
        function = self.function_stack[-1].name.value if self.function_stack else None
        if orig is None or self.an.node_statements.get(id(orig[1]), ())[:2] != (function, var):
            return False
        mine = [c for c in self.an.constructions if c.function == function]
        if not mine or any(id(c) not in self.builds for c in mine):
            return False
        if any(node is orig[1] for c in self.an.constructions for _, node in c.graph):
            return False
        rebound = sum(1 for k, v, _ in self.an.node_statements.values() if (k, v) == (function, var)) > 1 \
            or (function, var) in self.an.poisoned
        if not rebound and self.an.name_reads[var] > 1:
            return False
        self.diag(orig[1], NOTE, "dead-layer", f"`{var} = {code(orig[1])[:60]}` is not part of any model: "
                  "Keras builds the layer but never runs it; the translation leaves it out")
        return True

    def _graph_statement(self, var: str, value: cst.BaseExpression) -> bool:
        function = self.function_stack[-1].name.value if self.function_stack else None
        for c in self.an.constructions:
            if c.function == function and c.graph and id(c) in self.builds \
                    and any(v == var and id(node) not in self.standalone and (node is value or _same_node(node, value))
                            for v, node in c.graph):
                return True
        return False

    def _capture_statements(self, c: Construction, call: cst.Call,
                            stmt: cst.BaseStatement) -> list[cst.BaseStatement]:
        """`units_2 = units` where Keras reads a name that the script rebinds before the model is built."""
        if not call.args:
            return []
        layer = call.args[0].value
        for original in c.layers:
            mapping = self.captures.get(id(original))
            if mapping and (original is layer or _same_node(original, layer)):
                out = []
                for name, new in mapping.items():
                    line = cst.parse_statement(f"{new} = {name}  # the value Keras reads when it adds this layer\n")
                    out.append(line.with_changes(leading_lines=stmt.leading_lines) if not out else line)
                return out
        return []

    def _failed_var(self, var: str) -> bool:
        c = self.an.var_sources.get(var)
        return c is None or id(c) in self.failed

    def _instantiate(self, c: Construction, stmt: cst.BaseStatement, top: bool,
                     at: cst.BaseStatement | None = None) -> list[cst.BaseStatement]:
        build = self.builds[id(c)]
        args = ", ".join(build.params)
        new = cst.parse_statement(f"return {build.info.class_name}({args})\n" if c.returned
                                  else f"{c.variable} = {build.info.class_name}({args})\n")
        new = new.with_changes(leading_lines=stmt.leading_lines)  # type: ignore[union-attr]
        self.imports.add("nn")
        cls = build.class_def.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
        if top:
            after = [cst.EmptyLine(), cst.EmptyLine()]
            kept = [line for line in new.leading_lines if line.comment is not None]
            return [cls, new.with_changes(leading_lines=after + kept)]
        self.hoisted.setdefault(id(self.top), []).append(cls)
        return [new]

    def _mark(self, stmt: cst.BaseStatement, reason: str) -> cst.BaseStatement:
        comment = cst.EmptyLine(comment=cst.Comment(f"# {TODO_MARK}: {reason}"),
                                indent=True)
        return stmt.with_changes(leading_lines=[*stmt.leading_lines, comment])

    # -- compile -----------------------------------------------------------------------------
    def _loss_rule(self, node: cst.BaseExpression):
        try:
            value = literal(node)
            if isinstance(value, str) and value in self.rules.losses:
                return self.rules.losses[value], {}
            return None
        except ValueError:
            pass
        func = node.func if isinstance(node, cst.Call) else node
        key = self.names.resolve(func) or ""
        if not key.startswith("keras.losses."):
            return None
        rule = self.rules.losses.get(key.rsplit(".", 1)[-1])
        if rule is None:
            return None
        if not isinstance(node, cst.Call):
            return rule, {}
        args = bind(node, rule.signature, {}, {})
        values = {}
        for k, v in args.items():
            try:
                values[k] = literal(v)
            except ValueError:
                values[k] = v
        return rule, values

    def _output_losses(self, var: str, outputs: tuple[str, ...], node: cst.BaseExpression,
                       weights: cst.BaseExpression | None) -> cst.BaseExpression:
        """`loss=` of a model with several outputs: one loss per output (a dict by output name, a
        list in output order, or one loss for all), weighted by `loss_weights`."""
        def per_output(value: cst.BaseExpression | None, what: str) -> list[cst.BaseExpression | None]:
            if isinstance(value, cst.Dict):
                found: dict[str, cst.BaseExpression] = {}
                for el in value.elements:
                    if not isinstance(el, cst.DictElement):
                        raise Unsupported(f"{what} must be written out")
                    try:
                        found[str(literal(el.key))] = el.value
                    except ValueError:
                        raise Unsupported(f"{what} keys must be output names") from None
                unknown = set(found) - set(outputs)
                if unknown:
                    raise Unsupported(f"{what} names {sorted(unknown)}, not outputs of the model")
                return [found.get(name) for name in outputs]
            if isinstance(value, (cst.List, cst.Tuple)):
                if len(value.elements) != len(outputs) or any(
                        isinstance(el, cst.StarredElement) for el in value.elements):
                    raise Unsupported(f"{what} must give one entry per output")
                return [el.value for el in value.elements]
            return [value] * len(outputs)
        losses = per_output(node, "loss")
        items = []
        for name, loss in zip(outputs, losses):
            if loss is not None:
                items.append(cst.DictElement(cst.SimpleString(repr(name)), self._loss_expr(var, loss)))
        args = [cst.Arg(cst.Dict(items))]
        if weights is not None:
            given = per_output(weights, "loss_weights")
            args.append(cst.Arg(cst.Dict([cst.DictElement(cst.SimpleString(repr(name)), w)
                                          for name, w in zip(outputs, given) if w is not None])))
        self.support.add("OutputLosses")
        return cst.Call(cst.Name("OutputLosses"), args=args)

    def _loss_expr(self, var: str, node: cst.BaseExpression) -> cst.BaseExpression:
        if isinstance(node, cst.Name) and node.value in self.an.tensor_functions:  # the script's own loss
            self.support.add("KerasLossFunction")
            return cst.Call(cst.Name("KerasLossFunction"), [cst.Arg(node)])
        c = self.an.var_sources[var]
        return self._loss_function(node, any(m.folded for m in self.builds[id(c)].info.layers))

    def _loss_function(self, node: cst.BaseExpression, folded: bool) -> cst.BaseExpression:
        """A Keras loss as the translated loss function (predictions first), for a model whose output
        activation is `folded` into the loss or not."""
        found = self._loss_rule(node)
        if found is None:
            raise Unsupported(f"loss `{code(node)}` has no rule")
        rule, values = found
        for k, v in values.items():
            default = dict(rule.signature).get(k)
            if k == "from_logits" or k in {a.source for a in rule.args}:
                continue
            if default is not None and not _same(v, default):
                raise Unsupported(f"{rule.id}({k}=...) is not supported")
        name = rule.logits if (folded or values.get("from_logits") is True) else rule.probs
        self.support.add(name)
        extra = []
        for spec in rule.args:
            if spec.source in values and not _same(values[spec.source], spec.default or ""):
                extra.append(f"{spec.target}={code(_as_node(values[spec.source]))}")
        if extra:
            self.imports.add("functools")
            return cst.parse_expression(f"functools.partial({name}, {', '.join(extra)})")
        return cst.Name(name)

    def _optimizer_expr(self, var: str, node: cst.BaseExpression) -> cst.BaseExpression:
        params = cst.parse_expression(f"{var}.parameters()")
        if isinstance(node, cst.Name) and node.value in self.an.optimizer_vars:
            return cst.Call(node, args=[cst.Arg(params)])
        if isinstance(node, cst.Name) and node.value not in ("True", "False", "None"):
            # decided at run time (a build function's parameter, say): a Keras name or our optimizer
            self.support.add("keras_optimizer_from")
            self.imports.add("torch")
            return cst.Call(cst.Name("keras_optimizer_from"), args=[cst.Arg(node), cst.Arg(params)])
        try:
            value = literal(node)
            if isinstance(value, str) and value.lower() in self.rules.optimizers:
                return self._optimizer_call(self.rules.optimizers[value.lower()], cst.Call(cst.Name("x")), params)
            raise Unsupported(f"optimizer {value!r} has no rule")
        except ValueError:
            pass
        key = self.names.resolve(node.func) if isinstance(node, cst.Call) else None
        if key and key.startswith("keras.optimizers.") and key.rsplit(".", 1)[-1] in self.rules.optimizers:
            return self._optimizer_call(self.rules.optimizers[key.rsplit(".", 1)[-1]], node, params)
        raise Unsupported(f"optimizer `{code(node)}` has no rule")

    def _optimizer_call(self, rule, call: cst.Call, params: cst.BaseExpression | None,
                        origin: cst.CSTNode | None = None) -> cst.BaseExpression:
        args = bind(call, rule.signature, dict(rule.renames), self.rules.keywords)
        options = {k: args.pop(k) for k in OPTIMIZER_OPTIONS if k in args}
        if "decay" in options:
            self.diag(origin or call, NOTE, "optimizer-decay",
                      f"Keras 3 ignores {rule.keras}(decay=...); the translation applies it as Keras 2 did,"
                      " lr / (1 + decay * step) before each step")
        for k in args:
            if k not in dict(rule.signature) and k != "name":
                raise Unsupported(f"{rule.keras}({k}=...) is not supported")
        for k, default in rule.signature:
            args.setdefault(k, cst.parse_expression(default))
        ctx = LayerContext(args=args, in_shape=None, target=rule.torch)
        pairs, _ = map_args(rule, ctx, 0)
        self.imports.add("torch")
        self.stats = self.stats + Stats(calls=1)
        torch_class = cst.parse_expression(rule.torch)
        if options:  # clipping and Keras 2's decay run in a hook before each step
            self.support.add("with_keras_options")
            pairs = list(pairs) + list(options.items())
            func, lead = cst.Name("with_keras_options"), [torch_class]
        else:
            func, lead = torch_class, []
        if params is None:  # an optimizer made before its model: a function of the parameters
            self.imports.add("functools")
            func, lead = cst.parse_expression("functools.partial"), [func, *lead]
        else:
            lead.append(params)
        return cst.Call(func, args=[cst.Arg(v) for v in lead] + [
            cst.Arg(v, keyword=cst.Name(k), equal=_eq()) for k, v in pairs])

    def _metrics_expr(self, node: cst.BaseExpression) -> cst.BaseExpression:
        """`metrics=[...]` as `{history key: metric}`, keys named as Keras names them in its logs."""
        if not isinstance(node, (cst.List, cst.Tuple)):
            raise Unsupported("metrics must be a list written in the call")
        entries = []
        for el in node.elements:
            if isinstance(el, cst.StarredElement):
                raise Unsupported(f"metric `{code(el)}` cannot be read statically")
            entries.append(self._metric_entry(el.value))
        for el in node.elements:  # Keras builds the objects strings name later, when training starts
            name = el.value.evaluated_value if isinstance(el.value, cst.SimpleString) else None
            if isinstance(name, str) and name in self.rules.metrics and self.rules.metrics[name].auto_named:
                self._metric_auto_name(self.rules.metrics[name])
        seen: Counter = Counter()
        elements = []
        for key, value in entries:
            if isinstance(key, str):  # Keras numbers a repeated name in its logs: mae, mae_1, ...
                n = seen[key]
                seen[key] += 1
                key = cst.SimpleString(repr(key if n == 0 else f"{key}_{n}"))
            elements.append(cst.DictElement(key, value))
        return cst.Dict(elements)

    def _output_metrics(self, outputs: tuple[str, ...], node: cst.BaseExpression) -> cst.BaseExpression:
        """`metrics=` of a model with several outputs, as Keras 3 reads it: a dict by output name,
        or a list with one entry (a metric or a list of them) per output; logged `<output>_<name>`.
        A flat list of another length is Keras 2's form, every metric on every output (a note)."""
        if isinstance(node, cst.Dict):
            per = {}
            for el in node.elements:
                try:
                    name = literal(el.key) if isinstance(el, cst.DictElement) else None
                except ValueError:
                    name = None
                if name not in outputs:
                    raise Unsupported(f"metrics for `{code(el)}`, which is not an output name")
                per[name] = el.value
        elif isinstance(node, (cst.List, cst.Tuple)) and len(node.elements) == len(outputs) \
                and not any(isinstance(el, cst.StarredElement) for el in node.elements):
            per = {name: el.value for name, el in zip(outputs, node.elements, strict=True)}
        elif isinstance(node, (cst.List, cst.Tuple)):
            self.diag(node, NOTE, "output-metrics", "Keras 3 wants one metrics entry per output; the "
                      "translation applies every metric to every output, as Keras 2 did")
            per = dict.fromkeys(outputs, node)
        else:
            raise Unsupported("metrics must be a list or a dict written in the call")
        elements = []
        self.support.add("output_metric")
        for index, name in enumerate(outputs):
            if name not in per or isinstance(per[name], cst.Name) and per[name].value == "None":
                continue
            value = per[name] if isinstance(per[name], (cst.List, cst.Tuple)) else cst.List([cst.Element(per[name])])
            table = self._metrics_expr(value)
            for el in table.elements:  # type: ignore[attr-defined]
                key = el.key
                key = cst.SimpleString(repr(f"{name}_{key.evaluated_value}")) if isinstance(key, cst.SimpleString) \
                    else walk.fill(f"{name!r} + '_' + {{k}}", k=key)
                value_expr = walk.fill(f"output_metric({index}, {{m}})", m=el.value)
                elements.append(cst.DictElement(key, value_expr))
        return cst.Dict(elements)

    def _metric_entry(self, node: cst.BaseExpression) -> tuple[str | cst.BaseExpression, cst.BaseExpression]:
        """One metric of `compile`: its history key (a name, or the script's `name=` expression) and
        the support function or object that computes it."""
        if isinstance(node, cst.Name) and node.value in self.an.tensor_functions:  # the script's own metric
            self.support.add("KerasMetricFunction")
            return node.value, cst.Call(cst.Name("KerasMetricFunction"), [cst.Arg(node)])
        try:
            name = literal(node)
        except ValueError:
            name = None
        if name is not None:
            rule = self.rules.metrics.get(name) if isinstance(name, str) and not name.startswith("keras.") else None
            if rule is None:
                raise Unsupported(f"metric {name!r} has no rule")
            return name, self._metric_value(rule, {})
        call = node if isinstance(node, cst.Call) else None
        key = self.names.resolve(call.func if call else node) or ""
        rule = self.rules.metrics.get(key) if key.startswith("keras.metrics.") else None
        if rule is None:
            raise Unsupported(f"metric `{code(node)}` has no rule")
        if call is None and key.rsplit(".", 1)[-1] == rule.function:
            return rule.function, self._metric_value(rule, {})
        if call is not None and key.rsplit(".", 1)[-1] != rule.keras:
            raise Unsupported(f"metric `{code(node)}` has no rule")
        args = bind(call, rule.signature, {}, self.rules.keywords) if call is not None else {}
        defaults = dict(rule.signature)
        forwarded = {spec.source for spec in rule.args}
        for k, v in args.items():
            if k not in defaults:
                raise Unsupported(f"{rule.keras}({k}=...) is not a Keras argument")
            if k != "name" and k not in forwarded and not _same(v, defaults[k]):
                raise Unsupported(f"{rule.keras}({k}=...) is not supported")
        given = args.get("name")
        if given is None or _same(given, "None"):
            label: str | cst.BaseExpression = self._metric_auto_name(rule) if rule.auto_named \
                else literal(cst.parse_expression(defaults["name"]))
        else:
            try:
                label = literal(given)
            except ValueError:
                label = given  # a name computed by the script: the same expression keys the logs
            if not isinstance(label, (str, cst.BaseExpression)):
                raise Unsupported(f"{rule.keras}(name={code(given)}) is not a string")
        return label, self._metric_value(rule, args)

    def _metric_auto_name(self, rule) -> str:
        """Keras' auto_name for a metric object: the class in snake case, numbered per session."""
        stem = snake_case(rule.keras)
        n = self.uids[stem]
        self.uids[stem] += 1
        return stem if n == 0 else f"{stem}_{n}"

    def _metric_value(self, rule, args: dict[str, cst.BaseExpression]) -> cst.BaseExpression:
        """The support metric with the Keras arguments that differ from its defaults."""
        if rule.stateful and self.target == fastai_target.TARGET:  # KerasMetric averages functions of a batch
            raise Unsupported(f"the stateful metric {rule.keras} has no fastai translation yet")
        self.support.add(rule.torch)
        given = [cst.Arg(args[spec.source], keyword=cst.Name(spec.target), equal=_eq())
                 for spec in rule.args if spec.source in args and not _same(args[spec.source], spec.default or "")]
        if rule.stateful:  # an object that accumulates over the epoch
            return cst.Call(cst.Name(rule.torch), args=given)
        if given:
            self.imports.add("functools")
            return cst.Call(cst.parse_expression("functools.partial"), args=[cst.Arg(cst.Name(rule.torch)), *given])
        return cst.Name(rule.torch)

    def _compile(self, var: str, call: cst.Call, stmt: cst.BaseStatement) -> list[cst.BaseStatement]:
        args = bind(call, (("optimizer", "'rmsprop'"), ("loss", "None"), ("loss_weights", "None"),
                           ("metrics", "None")), {}, {})
        for name in ("loss", "metrics"):  # `loss=loss_fn`: the module-level value it names
            arg = args.get(name)
            if isinstance(arg, cst.Name) and arg.value in self.an.values and arg.value not in self.an.tensor_functions:
                args[name] = self.an.values[arg.value]
        try:
            outputs = self.builds[id(self.an.var_sources[var])].outputs
            extra = set(args) - {"optimizer", "loss", "metrics", *(("loss_weights",) if outputs else ())}
            if extra:
                raise Unsupported(f"compile({', '.join(sorted(extra))}=...) is not supported")
            if "loss" not in args:
                raise Unsupported("compile() without a loss")
            if outputs and "metrics" in args and self.target == fastai_target.TARGET:
                raise Unsupported("metrics on a model with several outputs")
            loss = self._output_losses(var, outputs, args["loss"], args.get("loss_weights")) if outputs \
                else self._loss_expr(var, args["loss"])
            if self.builds[id(self.an.var_sources[var])].regularized:
                if outputs:
                    raise Unsupported("regularizers on a model with several outputs")
                self.support.add("with_regularization")
                loss = cst.Call(cst.Name("with_regularization"), args=[cst.Arg(cst.Name(var)), cst.Arg(loss)])
            opt = self._optimizer_expr(var, args.get("optimizer", cst.SimpleString("'rmsprop'")))
            if "metrics" not in args:
                metrics = cst.parse_expression("{}")
            elif outputs:
                metrics = self._output_metrics(outputs, args["metrics"])
            else:
                metrics = self._metrics_expr(args["metrics"])
        except Unsupported as exc:
            self.diag(call, TODO, "unsupported-compile", str(exc))
            return [self._mark(stmt, str(exc))]
        self.stats = self.stats + Stats(calls=1)
        if self.target == fastai_target.TARGET:
            learner, create = fastai_target.compile_statement(var, loss, opt, metrics, self.support, self.imports)
            return [learner.with_changes(leading_lines=stmt.leading_lines), create]
        lines = [
            _assign(f"{var}.loss_fn", loss),
            _assign(f"{var}.optimizer", opt),
            _assign(f"{var}.metrics", metrics),
        ]
        lines[0] = lines[0].with_changes(leading_lines=stmt.leading_lines)
        return lines

    # -- seeding -----------------------------------------------------------------------------
    def _seed(self, stmt: cst.BaseStatement) -> list[cst.BaseStatement] | None:
        if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
                and isinstance(stmt.body[0], cst.Expr) and isinstance(stmt.body[0].value, cst.Call)):
            return None
        call = stmt.body[0].value
        key = self.names.resolve(call.func)
        if key not in ("keras.utils.set_random_seed", "tensorflow.random.set_seed") or len(call.args) != 1:
            return None
        seed = call.args[0].value
        self.imports.add("torch")
        self.stats = self.stats + Stats(calls=1)
        lines = [_expr_stmt(walk.fill("torch.manual_seed({s})", s=seed))]
        if key == "keras.utils.set_random_seed":  # Keras seeds Python's and numpy's generators too
            self.imports.update({"np", "random"})
            lines.append(_expr_stmt(walk.fill("np.random.seed({s})", s=seed)))
            lines.append(_expr_stmt(walk.fill("random.seed({s})", s=seed)))
        lines[0] = lines[0].with_changes(leading_lines=stmt.leading_lines)
        lines[-1] = lines[-1].with_changes(trailing_whitespace=stmt.trailing_whitespace)
        return lines

    # -- expressions -------------------------------------------------------------------------
    def _finish_header(self, stmt: cst.BaseCompoundStatement) -> cst.BaseStatement:
        """A compound statement's own expressions (`for x in ...:`, `if ...:`, `while ...:`,
        `with ...:`, elif tests); its blocks were finished statement by statement."""
        if isinstance(stmt, cst.If) and isinstance(stmt.orelse, cst.If):
            stmt = stmt.with_changes(orelse=self._finish_header(stmt.orelse))
        fields = {cst.For: "iter", cst.While: "test", cst.If: "test", cst.With: "items"}
        name = next((f for kind, f in fields.items() if isinstance(stmt, kind)), None)
        if name is None:
            return stmt
        part = getattr(stmt, name)
        parts = list(part) if isinstance(part, Sequence) else [part]
        if any(self._failed_var(n) for p in parts for n in _names_used(p) & self.an.model_vars):
            return stmt
        rewriter = CallRewriter(self)
        done = [p.visit(rewriter) for p in parts]
        stmt = stmt.with_changes(**{name: done if isinstance(part, Sequence) else done[0]})
        left: list[cst.CSTNode] = []
        where: dict[int, cst.CSTNode] = {}
        for before, after in zip(parts, done, strict=True):
            found = [n for n in _framework_refs(after, self.names)
                     if not (isinstance(n, cst.Name) and n.value in self.support)]
            left += found
            where.update(_in_original(found, before, self.names))
        for node in left:
            self.diag(where.get(id(node), node), TODO, "untranslated", f"`{code(node)}` has no rule")
        reasons = rewriter.reasons + [f"`{code(n)}` has no PyTorch translation yet" for n in left]
        return self._mark(stmt, reasons[0]) if reasons else stmt

    def _finish_statement(self, stmt: cst.BaseStatement) -> cst.BaseStatement:
        if isinstance(stmt, (cst.For, cst.While, cst.If, cst.With)):
            return self._finish_header(stmt)
        if isinstance(stmt, cst.SimpleStatementLine):
            if isinstance(stmt.body[0], (cst.Import, cst.ImportFrom)):
                return stmt
            used = _names_used(stmt)
            if any(self._failed_var(n) for n in used & self.an.model_vars):
                return stmt  # calls on a model left in Keras stay in Keras
            if used.isdisjoint(self.an.model_vars) and used.isdisjoint(self.names.bindings):
                return stmt  # no model and no Keras name: nothing to rewrite or report
            rewriter = CallRewriter(self)
            original = stmt
            stmt = stmt.visit(rewriter)
            if rewriter.reasons:
                stmt = self._mark(stmt, rewriter.reasons[0])
            left = [n for n in _framework_refs(stmt, self.names)
                    if not (isinstance(n, cst.Name) and n.value in self.support)]
            if left:
                reasons = [no_equivalent_reason(self.names.resolve(node)) for node in left]
                where = _in_original(left, original, self.names)
                for node, reason in zip(left, reasons, strict=True):
                    at = where.get(id(node), node)  # reported where it stands in the source
                    if reason:  # rules/no_equivalent.toml: nothing to translate to, results unchanged
                        self.diag(at, TODO, "no-equivalent", f"`{code(node)}` has no PyTorch equivalent: {reason}")
                    else:
                        self.diag(at, TODO, "untranslated", f"`{code(node)}` has no rule")
                stmt = self._mark(stmt, f"`{code(left[0])}` has no PyTorch equivalent: {reasons[0]}" if reasons[0]
                                  else f"`{code(left[0])}` has no PyTorch translation yet")
        return stmt


def _class_stem(c: Construction) -> str:
    """What a model's class is named after: its variable, or its building function without the
    verbs (`build_and_compile_model` -> model, `create_cnn` -> cnn)."""
    if c.function is None:
        return c.variable
    stem = re.sub(r"^(?:(?:build|create|make|get|define|compile|and)_)+", "", c.function)
    return stem or c.variable


class CallRewriter(cst.CSTTransformer):
    """Rewrites the Keras calls inside one simple statement (model methods, utilities)."""

    def __init__(self, t: Translator):
        self.t = t
        self.reasons: list[str] = []
        self.callees: set[int] = set()  # id() of the functions called: a method call is not a read

    def todo(self, node: cst.CSTNode, rule: str, message: str) -> None:
        self.t.diag(node, TODO, rule, message)
        self.reasons.append(message)

    def visit_Call(self, node: cst.Call) -> bool:
        self.callees.add(id(node.func))
        return array_pipeline(node, self.t.names) is None  # a whole pipeline is rewritten on leaving

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        t = self.t
        pipeline = array_pipeline(original_node, t.names)
        if pipeline is not None:
            t.stats = t.stats + Stats(calls=1)
            return pipeline.arrays.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()]) \
                if pipeline.pair and not pipeline.arrays.lpar else pipeline.arrays
        func = updated_node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            var, method = func.value.value, func.attr.value
            if var in t.an.model_vars and not t._failed_var(var):
                return self._model_method(var, method, original_node, updated_node)
        func = original_node.func
        if isinstance(func, cst.Name) and func.value in t.an.model_vars and not t._failed_var(func.value) \
                and func.value not in t.an.function_nodes:  # `model(x)`: called on data
            positional = [a for a in updated_node.args if a.keyword is None and not a.star]
            extra = [a for a in updated_node.args if a.keyword is not None and a.keyword.value != "training"]
            if len(positional) == 1 and not extra and len(updated_node.args) <= 2:
                t.support.add("keras_call")
                t.stats = t.stats + Stats(calls=1)
                return cst.Call(cst.Name("keras_call"), [cst.Arg(func), *updated_node.args])
        key = t.names.resolve(original_node.func)
        if key is None:
            return updated_node
        name = key.rsplit(".", 1)[-1]
        if key.startswith("keras.callbacks.") and name in t.rules.callbacks:
            return self._callback(t.rules.callbacks[name], original_node, updated_node)
        utility = t.rules.utilities.get(key)
        if utility is not None and not utility.get("attribute"):
            return self._utility(utility, updated_node)
        if key == "keras.utils.to_categorical":
            return self._to_categorical(original_node, updated_node)
        if key.startswith("keras.optimizers.") and name in t.rules.optimizers:
            try:
                return t._optimizer_call(t.rules.optimizers[name], updated_node, None, original_node)
            except Unsupported as exc:
                self.todo(original_node, "unsupported-optimizer", str(exc))
        if key.startswith("keras.losses.") and name[:1].isupper() and name in t.rules.losses:
            try:  # a loss object outside compile(), called as Keras calls it: loss(y_true, y_pred)
                loss = t._loss_function(updated_node, False)
            except (Unsupported, LayerError) as exc:
                self.todo(original_node, "unsupported-loss", str(exc))
                return updated_node
            t.support.add("KerasLossObject")
            t.stats = t.stats + Stats(calls=1)
            return cst.Call(cst.Name("KerasLossObject"), [cst.Arg(loss)])
        if key.startswith("keras.metrics.") and name[:1].isupper():
            try:  # a metric object outside compile(): the support object compile() would make
                _, value = t._metric_entry(updated_node)
            except (Unsupported, LayerError) as exc:
                self.todo(original_node, "unsupported-metric", str(exc))
                return updated_node
            t.stats = t.stats + Stats(calls=1)
            return value
        return updated_node

    def _model_method(self, var: str, method: str, orig: cst.Call, call: cst.Call) -> cst.BaseExpression:
        t = self.t
        plans = {"fit": ("fit", FIT_ARGS, FIT_SUPPORTED), "evaluate": ("evaluate", EVAL_ARGS, EVAL_SUPPORTED),
                 "predict": ("predict", PREDICT_ARGS, PREDICT_SUPPORTED),
                 "fit_generator": ("fit", FIT_GENERATOR_ARGS, FIT_SUPPORTED | {"generator"}),
                 "evaluate_generator": ("evaluate", EVAL_GENERATOR_ARGS, EVAL_SUPPORTED | {"generator"}),
                 "predict_generator": ("predict", EVAL_GENERATOR_ARGS, PREDICT_SUPPORTED | {"generator"})}
        fn = plans[method][0] if method in plans else method
        model_arg = cst.Arg(cst.Name(var))
        if t.target == fastai_target.TARGET and fn in fastai_target.LEARNER_METHODS:
            model_arg = cst.Arg(fastai_target.learner_of(var))
        if method in plans:
            fn, order, supported = plans[method]
            try:
                bound = bind(call, tuple((n, "None") for n in order), {}, t.rules.keywords)
            except Unsupported as exc:  # fit(*args): nothing to bind statically
                self.todo(orig, f"unsupported-{method}", str(exc))
                return call
            bad = [k for k in bound if k not in supported and k not in LOADER_ARGS]
            weighted = [k for k in ("class_weight", "sample_weight") if k in bound and code(bound[k]) != "None"]
            if method == "fit" and not generator_like(bound):
                bad = [k for k in bad if k not in ("class_weight", "sample_weight")]
                build = t.builds.get(id(t.an.var_sources[var]))
                if weighted and (t.target == fastai_target.TARGET
                                 or build is not None and (build.outputs or build.regularized)):
                    bad += weighted  # a single output without regularizers, on the PyTorch target
            if bad:
                self.todo(orig, f"unsupported-{method}", f"{method}({', '.join(bad)}=...) is not supported")
                return call
            generator = method.endswith("_generator")
            if generator or STEP_ARGS & set(bound):  # fit_batches: batches from a generator, steps counted
                fn = f"{fn}_batches"
            if call.args and isinstance(call.args[0].comma, cst.Comma):  # laid out as the user's first argument
                model_arg = model_arg.with_changes(comma=call.args[0].comma)
            args, dropped = [model_arg], False
            for i, arg in enumerate(call.args):
                name = order[i] if arg.keyword is None else t.rules.keywords.get(arg.keyword.value,
                                                                                 arg.keyword.value)
                if name in LOADER_ARGS:
                    dropped = True
                    continue
                if arg.keyword is not None or (generator and i > 0):  # Keras 2's order is not fit's
                    arg = arg.with_changes(keyword=cst.Name("x" if name == "generator" else name), equal=(
                        arg.equal if arg.keyword is not None else _eq()))
                pipeline = t.an.datasets.get(arg.value.value) \
                    if i == 0 and arg.keyword is None and isinstance(arg.value, cst.Name) else None
                if pipeline is not None:  # the pipeline's arrays, batch size and shuffling
                    args.append(arg.with_changes(star="*") if pipeline.pair else arg)
                    args.append(cst.Arg(pipeline.batch_size, keyword=cst.Name("batch_size"), equal=_eq()))
                    if fn.startswith("fit"):
                        args.append(cst.Arg(cst.Name(str(pipeline.shuffle)), keyword=cst.Name("shuffle"),
                                            equal=_eq()))
                    continue
                args.append(arg)
            if dropped and len(args) > 1:  # the call ends as it did, without a dangling comma
                args[-1] = args[-1].with_changes(comma=call.args[-1].comma)
            if generator and fn != "fit_batches" and "verbose" not in bound:  # Keras 2 was silent here
                args.append(cst.Arg(cst.Integer("0"), keyword=cst.Name("verbose"), equal=_eq()))
            t.support.add(fn)
            t.stats = t.stats + Stats(calls=1)
            return cst.Call(cst.Name(fn), args=args, whitespace_before_args=call.whitespace_before_args)
        if method in ("predict_classes", "predict_proba"):  # Keras 2's Sequential methods
            bound = bind(call, tuple((n, "None") for n in PREDICT_ARGS), {}, t.rules.keywords)
            bound.setdefault("verbose", cst.Integer("0"))  # these two were silent by default
            t.support.add(method if method == "predict_classes" else "predict")
            t.stats = t.stats + Stats(calls=1)
            return cst.Call(cst.Name(method if method == "predict_classes" else "predict"),
                            args=[model_arg, *(cst.Arg(v, keyword=cst.Name(k), equal=_eq())
                                               for k, v in bound.items())])
        if method == "summary" and not call.args:
            t.support.add("summary")
            t.stats = t.stats + Stats(calls=1)
            return cst.Call(cst.Name("summary"), args=[model_arg])
        if method == "save" and call.args:
            t.imports.add("torch")
            t.stats = t.stats + Stats(calls=1)
            return walk.fill(
                f"torch.save({var}.state_dict(), {{path}})", path=_pt_path(call.args[0].value))
        if method in WEIGHTS_METHODS:
            # The file holds a torch state dict. A literal path's Keras suffix (`.weights.h5`, which
            # Keras 3 requires) becomes `.pt`, as `save` and ModelCheckpoint name theirs, so weights
            # a checkpoint saved are found under the name the script loads them by.
            signature, ignorable = WEIGHTS_METHODS[method]
            try:
                bound = bind(call, signature, {}, {})
            except Unsupported as exc:
                self.todo(orig, "unsupported-method", str(exc))
                return call
            bad = [k for k in bound if k != "filepath" and not (k in ignorable and _same(bound[k], ignorable[k]))]
            if "filepath" not in bound or bad:
                self.todo(orig, "unsupported-method",
                          f"`{var}.{method}({', '.join(f'{k}=...' for k in bad) or ''})` has no rule")
                return call
            t.imports.add("torch")
            t.stats = t.stats + Stats(calls=1)
            template = f"torch.save({var}.state_dict(), {{path}})" if method == "save_weights" \
                else f"{var}.load_state_dict(torch.load({{path}}))"
            return walk.fill(template, path=_pt_path(bound["filepath"]))
        if method == "reset_states" and not call.args:  # Keras 2: every stateful layer from zeros
            t.support.add("reset_states")
            return cst.Call(cst.Name("reset_states"), [cst.Arg(cst.Name(var))])
        if method == "count_params" and not call.args:
            return cst.parse_expression(f"sum(p.numel() for p in {var}.parameters())")
        if method == "build" and len(call.args) == 1 and not call.args[0].star:
            return _subclass().build_call(t, var, call)  # sizes the layers that wait for a first batch
        reason = no_equivalent()[1].get(method)
        if reason is not None:
            self.todo(orig, "no-equivalent", f"`{var}.{method}()` has no PyTorch equivalent: {reason['reason']}")
            return call
        self.todo(orig, "unsupported-method", f"`{var}.{method}()` has no rule")
        return call

    def _callback(self, rule, orig: cst.Call, call: cst.Call) -> cst.BaseExpression:
        """A Keras callback becomes its support class, called with the same arguments. `renames`
        maps a Keras 1/2 keyword to the one the support class takes (itself when it keeps its
        name); an `ignore` argument only changes what Keras logs: it is passed on, and a NOTE says
        that the translation does not write it; `unsupported` ones leave the call as a TODO."""
        t = self.t
        renames = dict(rule.renames)
        try:
            bound = bind(call, rule.signature, renames, t.rules.keywords)
        except LayerError as exc:
            self.todo(orig, "unsupported-callback", f"{rule.keras}: {exc}")
            return call
        known = {*dict(rule.signature), *renames.values(), *rule.ignore}
        bad = [k for k in bound if k not in known or k in rule.unsupported]
        if bad:
            self.todo(orig, "unsupported-callback", f"{rule.keras}({', '.join(bad)}=...) is not supported")
            return call
        noted = [k for k in rule.ignore if k in bound and code(bound[k]) not in ("False", "0", "None")]
        if noted:
            t.diag(orig, NOTE, "callback-logging",
                   f"{rule.keras}({', '.join(noted)}=...) only adds to what Keras logs; the translation does not write it")
        t.support.add(rule.torch)
        t.stats = t.stats + Stats(calls=1)
        args = []
        for arg in call.args:
            is_path = (arg.keyword and arg.keyword.value == "filepath") or (arg.keyword is None and not args)
            if is_path and rule.id == "model_checkpoint":
                arg = arg.with_changes(value=_pt_path(arg.value))
            if arg.keyword is not None:
                name = renames.get(arg.keyword.value, t.rules.keywords.get(arg.keyword.value, arg.keyword.value))
                if name != arg.keyword.value:
                    arg = arg.with_changes(keyword=cst.Name(name))
            args.append(arg)
        return call.with_changes(func=cst.Name(rule.torch), args=args)

    def _refused_arguments(self, rule: dict, node: cst.Call) -> str:
        """Why a call to a support function cannot be translated as it is: an argument its Keras
        signature lacks, or an `unsupported` one given a value other than its default ("" if none)."""
        signature = dict(rule.get("signature", {}))
        if not signature:
            return ""
        try:
            args = bind(node, tuple(signature.items()), {}, {})
        except LayerError as exc:
            return str(exc)
        name = rule["keras"].rsplit(".", 1)[-1]
        bad = [k for k in args if k not in signature]
        bad += [k for k in rule.get("unsupported", ()) if k in args and not _same(args[k], signature[k])]
        return f"{name}({', '.join(bad)}=...) is not supported" if bad else ""

    def _utility(self, rule: dict, node: cst.Call | cst.Attribute) -> cst.BaseExpression:
        """A helper function (or attribute) from rules/utilities.toml."""
        t = self.t
        t.stats = t.stats + Stats(calls=1)
        if "support" in rule:
            assert isinstance(node, cst.Call)
            refused = self._refused_arguments(rule, node)
            if refused:
                self.todo(node, "unsupported-call", refused)
                return node
            t.support.add(rule["support"])
            return node.with_changes(func=cst.Name(rule["support"]))
        args: dict[str, cst.BaseExpression] = {}
        if isinstance(node, cst.Call):
            signature = tuple(rule.get("signature", {}).items())
            try:
                args = bind(node, signature, {}, {})
            except LayerError as exc:
                self.todo(node, "unsupported-call", str(exc))
                return node
            extra = [k for k in args if k not in dict(signature)]
            missing = [k for k, v in signature if v == REQUIRED and k not in args]
            if extra or missing:
                self.todo(node, "unsupported-call", f"`{code(node.func)}` with {', '.join(extra or missing)}"
                          " has no rule")
                return node
            for name, default in signature:
                if name not in args:
                    args[name] = cst.parse_expression(default)
        expr = walk.fill(rule["template"], **args)
        t.imports.update(n for n in ("torch", "np") if n in _names_used(expr))
        return expr

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        t = self.t
        value = original_node.value
        if isinstance(value, cst.Name) and value.value in t.an.model_vars and not t._failed_var(value.value) \
                and id(original_node) not in self.callees and original_node.attr.value not in MODEL_ATTRIBUTES \
                and value.value not in t.an.function_nodes:
            # `model.layers[1].kernel`, `model.input_shape`: a Keras attribute the module lacks
            self.todo(original_node, "unsupported-attribute",
                      f"`{value.value}.{original_node.attr.value}` (a Keras model attribute) has no rule")
            return updated_node
        key = t.names.resolve(original_node)
        utility = t.rules.utilities.get(key or "")
        if utility is not None and utility.get("attribute"):
            return self._utility(utility, updated_node)
        return updated_node

    def _to_categorical(self, orig: cst.Call, call: cst.Call) -> cst.BaseExpression:
        t = self.t
        bound = bind(call, (("x", REQUIRED), ("num_classes", "None")), {"y": "x"}, {})
        t.support.add("to_categorical")
        t.stats = t.stats + Stats(calls=1)
        args = [cst.Arg(bound["x"])]
        if "num_classes" in bound and code(bound["num_classes"]) != "None":
            args.append(cst.Arg(bound["num_classes"]))
        return cst.Call(cst.Name("to_categorical"), args)


# -- small helpers ---------------------------------------------------------------------------
def _eq() -> cst.AssignEqual:
    return cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))


def _assign(target: str, value: cst.BaseExpression) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.parse_expression(target))], value)])


def _expr_stmt(value: cst.BaseExpression) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine([cst.Expr(value)])


def _as_node(value) -> cst.BaseExpression:
    return value if isinstance(value, cst.CSTNode) else cst.parse_expression(repr(value))


def generator_like(bound: dict) -> bool:
    """fit() given steps (batches from a generator): sample weights there are not supported."""
    return bool(STEP_ARGS & set(bound))


def _same(value, default: str) -> bool:
    if isinstance(value, cst.CSTNode):
        try:  # "a" and 'a' are the same value
            a, b = literal(value), literal(cst.parse_expression(default))
            return type(a) is type(b) and a == b
        except (ValueError, cst.ParserSyntaxError):
            return code(value) == default
    try:
        return value == literal(cst.parse_expression(default))
    except (ValueError, cst.ParserSyntaxError):
        return False


def _pt_path(node: cst.BaseExpression) -> cst.BaseExpression:
    """A saved-model path literal gets the `.pt` suffix: the file now holds a torch state dict."""
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        if isinstance(value, str) and SAVED_SUFFIX.search(value):
            return cst.SimpleString(repr(SAVED_SUFFIX.sub(".pt", value)))
    return node


def _target_names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for el in target.elements for n in _target_names(el.value)]
    return []


class _Renamer(cst.CSTTransformer):
    """Renames variable references (not keywords or attribute names)."""

    def __init__(self, mapping: dict[str, str]):
        self.mapping = mapping

    def visit_Arg(self, node: cst.Arg) -> bool:
        return True

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        return updated_node.with_changes(keyword=original_node.keyword)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        return True

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        return updated_node.with_changes(attr=original_node.attr)

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        new = self.mapping.get(original_node.value)
        return updated_node.with_changes(value=new) if new else updated_node


def _same_node(a: cst.CSTNode, b: cst.CSTNode) -> bool:
    return a.deep_equals(b)


def _assigned_names(func: cst.FunctionDef) -> set[str]:
    """Names a function body binds by plain assignment or a for loop."""
    found: set[str] = set()

    class V(cst.CSTVisitor):
        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            if isinstance(node.target, cst.Name):
                found.add(node.target.value)

        def visit_For(self, node: cst.For) -> None:
            if isinstance(node.target, cst.Name):
                found.add(node.target.value)

    walk.visit(func.body, V())
    return found


def _names_used(node: cst.CSTNode) -> set[str]:
    return walk.names_used(node)


class _FrameworkRefs(cst.CSTVisitor):
    def __init__(self, names: NameTable):
        self.names = names
        self.found: list[cst.CSTNode] = []

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if dotted(node) is not None:
            if self.names.full_path(node) is not None:
                self.found.append(node)
            return False
        return True

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in self.names.bindings:
            self.found.append(node)


def _framework_refs(stmt: cst.CSTNode, names: NameTable) -> list[cst.CSTNode]:
    v = _FrameworkRefs(names)
    walk.visit(stmt, v)
    return v.found


def _in_original(left: list[cst.CSTNode], original: cst.CSTNode, names: NameTable) -> dict[int, cst.CSTNode]:
    """The framework references that survived rewriting, matched in order and by their code to
    the same references in the statement as written, so that each is reported at its own
    column rather than at the start of a statement that no longer stands in the source."""
    pool: dict[str, list[cst.CSTNode]] = {}
    for node in _framework_refs(original, names):
        pool.setdefault(code(node), []).append(node)
    out: dict[int, cst.CSTNode] = {}
    for node in left:
        same = pool.get(code(node))
        if same:
            out[id(node)] = same.pop(0)
    return out


def positions(module: cst.Module, nodes: list[cst.CSTNode], source: str | None = None) -> dict[int, tuple[int, int]]:
    """Line and column for just the nodes that carry a diagnostic."""
    if not nodes:
        return {}
    wanted = {id(n) for n in nodes}
    where = _positions_by_statement(module, wanted, source) if source is not None else None
    if where is None:
        pos = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
        where = {id(n): (pos[n].start.line, pos[n].start.column + 1) for n in nodes if n in pos}
    return where


def _positions_by_statement(module: cst.Module, wanted: set[int], source: str) -> dict[int, tuple[int, int]] | None:
    """Positions computed over only the top-level statements that hold a wanted node: each is
    printed alone, and Python's own parser gives the line it starts on. None when the two parsers
    do not agree on the statements."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    starts: list[int] = []
    k = 0
    for stmt in module.body:
        if k >= len(tree.body):
            return None
        first = tree.body[k]
        starts.append(min([first.lineno] + [d.lineno for d in getattr(first, "decorator_list", [])]))
        k += len(stmt.body) if isinstance(stmt, cst.SimpleStatementLine) else 1
    if k != len(tree.body):
        return None
    out: dict[int, tuple[int, int]] = {}
    for stmt, line in zip(module.body, starts, strict=True):
        found = [n for n in walk.preorder(stmt) if id(n) in wanted]
        if not found:
            continue
        alone = module.with_changes(body=[stmt], header=[], footer=[])
        pos = MetadataWrapper(alone, unsafe_skip_copy=True).resolve(PositionProvider)
        decorators = getattr(stmt, "decorators", None)
        offset = line - pos[decorators[0] if decorators else stmt].start.line
        for n in found:
            if n in pos:
                out[id(n)] = (pos[n].start.line + offset, pos[n].start.column + 1)
    return out


def make_diagnostics(module: cst.Module, pending, path: str, source: str | None = None) -> list[Diagnostic]:
    where = positions(module, [p[0] for p in pending] + [p[4] for p in pending if p[4] is not None], source)
    diags = []
    for node, severity, rule, message, stmt in pending:
        line, col = where.get(id(node)) or where.get(id(stmt), (1, 1))
        diags.append(Diagnostic(path, line, col, severity, rule, message))
    diags.sort(key=lambda d: (d.line, d.col))
    return diags


__all__ = ["BASE_ARGS", "Analyzer", "ModelInfo", "Translator", "make_diagnostics", "support"]
