"""Fast traversal of libcst trees: read-only walks that build nothing, and template filling that
rebuilds only the path to each placeholder.

A libcst visitor rebuilds every node it passes (each node's children are visited, then a new node
is constructed and validated), and that is most of what a read-only pass over a script costs.
These functions read the nodes' fields instead, in source order, and skip the fields that hold only
whitespace, comments and punctuation, which no pass of the translator reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import libcst as cst
from libcst.helpers import parse_template_expression

#: fields that hold only whitespace, comments, brackets and separators
_TRIVIA = frozenset({
    "lpar", "rpar", "comma", "semicolon", "leading_lines", "lines_after_decorators", "header",
    "footer", "newline", "lbracket", "rbracket", "lbrace", "rbrace", "colon", "first_colon",
    "second_colon", "equal", "dot", "operator", "trailing_whitespace", "empty_lines",
    "leading_whitespace", "asynchronous", "posonly_ind", "separator", "star", "relative",
})

#: where libcst's field order is not the order of the source text
_ORDER = {
    cst.Arg: ("keyword", "value"),
    cst.IfExp: ("body", "test", "orelse"),
    cst.ExceptHandler: ("type", "name", "body"),
    cst.MatchCase: ("pattern", "guard", "body"),
    cst.Parameters: ("posonly_params", "params", "star_arg", "kwonly_params", "star_kwarg"),
    cst.FunctionDef: ("decorators", "name", "type_parameters", "params", "returns", "body"),
    cst.ClassDef: ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
}

_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(cls: type) -> tuple[str, ...]:
    found = _FIELDS.get(cls)
    if found is None:
        names = [f.name for f in dataclasses.fields(cls)
                 if f.name not in _TRIVIA and not f.name.startswith("whitespace")]
        order = _ORDER.get(cls)
        if order is not None:
            names = [n for n in order if n in names] + [n for n in names if n not in order]
        found = _FIELDS[cls] = tuple(names)
    return found


def children(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """A node's children in source order, trivia left out."""
    for name in _fields(type(node)):
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            yield value
        elif isinstance(value, (list, tuple)):
            yield from value


def preorder(root: cst.CSTNode, enter: Callable[[cst.CSTNode], bool] | None = None) -> Iterator[cst.CSTNode]:
    """Every node under root (root first) in source order; where `enter(node)` is false, the
    node is given but its children are not."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        if enter is None or enter(node):
            stack.extend(reversed(list(children(node))))


def names_used(root: cst.CSTNode) -> set[str]:
    """Every plain name under root: variables, called functions, keywords, bindings; of a dotted
    name, its first part only (`np` in `np.zeros`)."""
    found: set[str] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        cls = type(node)
        if cls is cst.Name:
            found.add(node.value)  # type: ignore[attr-defined]
        elif cls is cst.Attribute:
            stack.append(node.value)  # type: ignore[attr-defined]
        else:
            for name in _fields(cls):
                value = getattr(node, name)
                if isinstance(value, cst.CSTNode):
                    stack.append(value)
                elif isinstance(value, (list, tuple)):
                    stack.extend(value)
    return found


def visit(root: cst.CSTNode, visitor: cst.CSTVisitor) -> None:
    """Runs a read-only visitor's `visit_<Node>` and `leave_<Node>` methods over root as
    `root.visit(visitor)` would, trivia left out, without rebuilding the tree."""
    on_visit, on_leave = visitor.on_visit, visitor.on_leave
    # a stack of (node, children entered): a node is left after all its children
    stack: list[tuple[cst.CSTNode, bool]] = [(root, False)]
    while stack:
        node, entered = stack.pop()
        if entered:
            on_leave(node)
            continue
        stack.append((node, True))
        if on_visit(node):
            stack.extend((child, False) for child in reversed(list(children(node))))


def fill(template: str, **values: cst.CSTNode) -> cst.BaseExpression:
    """libcst's `parse_template_expression`, for expression values: `{name}` in the template is
    replaced by a copy of `values[name]`. Other kinds of values go to libcst's own."""
    if not all(isinstance(v, cst.BaseExpression) for v in values.values()):
        return parse_template_expression(template, **values)
    table: dict[str, cst.BaseExpression] = {}
    for name, value in values.items():
        if f"{{{name}}}" not in template:
            raise ValueError(f'Template string is missing a reference to "{name}" referred to in kwargs')
        placeholder = f"__keras2torch_template_{name}__"
        template = template.replace(f"{{{name}}}", placeholder)
        table[placeholder] = value  # type: ignore[assignment]
    return _put(cst.parse_expression(template), table)  # type: ignore[return-value]


def _put(node: cst.CSTNode, table: dict[str, cst.BaseExpression]) -> cst.CSTNode:
    if type(node) is cst.Name:
        value = table.get(node.value)  # type: ignore[attr-defined]
        return node if value is None else value.deep_clone()
    changes: dict[str, object] = {}
    for name in _fields(type(node)):
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            new = _put(value, table)
            if new is not value:
                changes[name] = new
        elif isinstance(value, (list, tuple)) and value:
            items = [_put(v, table) for v in value]
            if any(a is not b for a, b in zip(items, value, strict=True)):
                changes[name] = items
    return node.with_changes(**changes) if changes else node
