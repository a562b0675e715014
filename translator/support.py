"""Picks the support definitions a translated script uses, with what they depend on."""

from __future__ import annotations

import functools
from pathlib import Path

import libcst as cst

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _defined_name(stmt: cst.BaseStatement) -> str | None:
    """The name a template statement defines: a function, a class or a module-level constant."""
    if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
        return stmt.name.value
    if isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Assign):
        targets = stmt.body[0].targets
        if len(targets) == 1 and isinstance(targets[0].target, cst.Name):
            return targets[0].target.value
    return None


@functools.cache
def _definitions(target: str) -> tuple[dict[str, cst.BaseStatement], dict[str, cst.BaseStatement]]:
    defs: dict[str, cst.BaseStatement] = {}
    imports: dict[str, cst.BaseStatement] = {}
    body: list[cst.BaseStatement] = []
    # torch_support.py first, then its topic files (torch_support_images.py, ...)
    for path in sorted(TEMPLATES.glob(f"{target}_support*.py"), key=lambda p: (len(p.stem), p.stem)):
        body.extend(cst.parse_module(path.read_text(encoding="utf-8")).body)
    for stmt in body:
        name = _defined_name(stmt)
        if name is not None:
            if name in defs:
                raise ValueError(f"support definition {name} is defined twice")
            defs[name] = stmt
        elif isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], (cst.Import, cst.ImportFrom)):
            imp = stmt.body[0]
            for alias in imp.names:  # type: ignore[union-attr]
                name = alias.asname.name.value if alias.asname else cst.Module([]).code_for_node(alias.name)
                imports[name.split(".")[0]] = stmt
    return defs, imports


class _Names(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)  # `a.copy()` does not use the module `copy`
        return False


def _names_in(node: cst.CSTNode) -> set[str]:
    v = _Names()
    node.visit(v)
    return v.names


@functools.cache
def _merged(target: str) -> tuple[dict[str, cst.BaseStatement], dict[str, cst.BaseStatement]]:
    """A target's own definitions first, then the torch ones it does not redefine."""
    if target == "torch":
        return _definitions("torch")
    own, own_imports = _definitions(target)
    base, base_imports = _definitions("torch")
    defs = {**own, **{k: v for k, v in base.items() if k not in own}}
    return defs, {**base_imports, **own_imports}


@functools.cache
def _uses(target: str, name: str) -> frozenset[str]:
    """The names one support definition reads (computed once per process)."""
    return frozenset(_names_in(_merged(target)[0][name]))


def select(target: str, wanted: set[str]) -> tuple[list[cst.BaseStatement], set[str]]:
    """The support definitions for `wanted`, in template order, and the import names they need."""
    defs, imports = _merged(target)
    chosen: set[str] = set()
    todo = [w for w in wanted if w in defs]
    while todo:
        name = todo.pop()
        if name in chosen:
            continue
        chosen.add(name)
        todo.extend(n for n in _uses(target, name) if n in defs and n not in chosen)
    needed: set[str] = set()
    for name in chosen:
        needed |= {n for n in _uses(target, name) if n in imports}
    return [stmt for name, stmt in defs.items() if name in chosen], needed


def names() -> set[str]:
    return set(_definitions("torch")[0])


def import_statement(target: str, name: str) -> cst.BaseStatement:
    return _merged(target)[1][name]
