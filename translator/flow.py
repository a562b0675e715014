"""Python control flow around model building, judged before any model is built.

A model class is fixed when it is translated, so a layer added in a loop or under a condition must
be known at translation time. Loops over literal values (`for units in [64, 32]:`,
`for _ in range(3):`) are unrolled: their body is read once per value, with the loop variable
replaced by that value. A helper function that builds part of a functional graph
(`x = residual_block(x, 64)`) is inlined the same way, its parameters replaced by the call's
arguments. Anything else that builds a model under run-time control flow (a `while`, a condition,
a loop over a run-time count) makes that model a TODO instead of a wrong translation.
"""

from __future__ import annotations

import libcst as cst

from . import walk
from .shapes import literal

#: the most iterations a loop is unrolled over
MAX_UNROLL = 256


class Substitute(cst.CSTTransformer):
    """Replaces the names read in an expression or block by other expressions."""

    def __init__(self, mapping: dict[str, cst.BaseExpression]):
        self.mapping = mapping

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        new = self.mapping.get(original_node.value)
        return new if new is not None else updated_node

    # a keyword, an attribute or a parameter is spelled with a Name that is not a read
    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        return updated_node.with_changes(keyword=original_node.keyword)

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        return updated_node.with_changes(attr=original_node.attr)

    def leave_Param(self, original_node: cst.Param, updated_node: cst.Param) -> cst.Param:
        return updated_node.with_changes(name=original_node.name)


def substitute(node: cst.CSTNode, mapping: dict[str, cst.BaseExpression]) -> cst.CSTNode:
    return node.visit(Substitute(mapping)) if mapping else node.deep_clone()


def value_node(value) -> cst.BaseExpression:
    """A Python literal as an expression."""
    return cst.parse_expression(repr(value))


def _target_names(target: cst.BaseExpression) -> list[str] | None:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        names = [e.value.value for e in target.elements if isinstance(e.value, cst.Name)]
        return names if len(names) == len(target.elements) else None
    return None


def _sequence(node: cst.BaseExpression, constants: dict) -> list | None:
    """The values a loop runs over, when the source fixes them: a literal list or tuple, a
    module constant, `range(...)` of literal or constant ints, `enumerate(...)` or `zip(...)` of those."""
    if isinstance(node, cst.Name) and node.value in constants:
        value = constants[node.value]
        return list(value) if isinstance(value, (list, tuple)) else None
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and not any(a.star for a in node.args):
        name = node.func.value
        if name == "range" and 1 <= len(node.args) <= 3 and not any(a.keyword for a in node.args):
            bounds = []
            for a in node.args:
                v = constants.get(a.value.value) if isinstance(a.value, cst.Name) else None
                if v is None:
                    try:
                        v = literal(a.value)
                    except ValueError:
                        return None
                if not isinstance(v, int) or isinstance(v, bool):
                    return None
                bounds.append(v)
            if bounds[-1:] == [0] and len(bounds) == 3:
                return None
            r = range(*bounds)
            return list(r) if len(r) <= MAX_UNROLL else None
        if name == "enumerate" and len(node.args) in (1, 2) and not any(a.keyword for a in node.args[:1]):
            inner = _sequence(node.args[0].value, constants)
            start = 0
            if len(node.args) == 2:
                try:
                    start = literal(node.args[1].value)
                except ValueError:
                    return None
            return None if inner is None or not isinstance(start, int) else [
                (start + i, v) for i, v in enumerate(inner)]
        if name == "zip" and node.args and not any(a.keyword for a in node.args):
            parts = [_sequence(a.value, constants) for a in node.args]
            return None if any(p is None for p in parts) else [tuple(t) for t in zip(*parts)]  # type: ignore[misc]
        return None
    try:
        value = literal(node)
    except ValueError:
        return None
    return list(value) if isinstance(value, (list, tuple)) and len(value) <= MAX_UNROLL else None


def loop_bindings(loop: cst.For, constants: dict) -> list[dict[str, cst.BaseExpression]] | None:
    """For each iteration of `loop`, its target names bound to their values; None when the source
    does not fix the iterations."""
    if loop.orelse is not None or loop.asynchronous is not None:
        return None
    names = _target_names(loop.target)
    values = _sequence(loop.iter, constants)
    if names is None or values is None:
        return None
    out = []
    for value in values:
        if len(names) == 1 and isinstance(loop.target, cst.Name):
            out.append({names[0]: value_node(value)})
        elif isinstance(value, (tuple, list)) and len(value) == len(names):
            out.append({n: value_node(v) for n, v in zip(names, value, strict=True)})
        else:
            return None
    return out


def simple_statements(block: cst.BaseSuite) -> list[cst.BaseSmallStatement] | None:
    """The small statements of a block made only of simple lines; None when it has others."""
    if not isinstance(block, cst.IndentedBlock):
        return list(block.body) if isinstance(block, cst.SimpleStatementSuite) else None
    out: list[cst.BaseSmallStatement] = []
    for stmt in block.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            return None
        out.extend(stmt.body)
    return out


def bind_arguments(fn: cst.FunctionDef, call: cst.Call) -> dict[str, cst.BaseExpression] | None:
    """The call's arguments by parameter name, defaults filled in; None when the call or the
    signature uses what this cannot follow (*args, **kwargs, a missing argument)."""
    params = fn.params
    if params.star_kwarg is not None or isinstance(params.star_arg, cst.Param) or params.posonly_params:
        return None
    names = [p.name.value for p in params.params]
    out: dict[str, cst.BaseExpression] = {}
    for i, arg in enumerate(call.args):
        if arg.star:
            return None
        if arg.keyword is None:
            if i >= len(names):
                return None
            out[names[i]] = arg.value
        else:
            out[arg.keyword.value] = arg.value
    known = set(names) | {p.name.value for p in params.kwonly_params}
    if set(out) - known:
        return None
    for p in (*params.params, *params.kwonly_params):
        if p.name.value not in out:
            if p.default is None:
                return None
            out[p.name.value] = p.default
    return out


def pure_helper(fn: cst.FunctionDef) -> bool:
    """A function whose body only binds names and returns: what can be inlined into a graph."""
    body = simple_statements(fn.body)
    if body is None or not body or not isinstance(body[-1], cst.Return):
        return False
    for small in body:
        if isinstance(small, cst.Expr) and isinstance(small.value, (cst.SimpleString, cst.ConcatenatedString)):
            continue  # a docstring
        if isinstance(small, cst.Return) and small is body[-1] and small.value is not None:
            continue
        if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
            continue
        return False
    return True


def reads_names(node: cst.CSTNode) -> set[str]:
    """Names an expression reads (not attributes or keywords)."""
    found: set[str] = set()

    class Reader(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            found.add(n.value)

        def visit_Attribute(self, n: cst.Attribute) -> bool:
            walk.visit(n.value, self)
            return False

        def visit_Arg(self, n: cst.Arg) -> bool:
            walk.visit(n.value, self)
            return False

    walk.visit(node, Reader())
    return found
