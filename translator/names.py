"""Resolves the names a script binds through imports to canonical Keras keys, in one light pass."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from .rules import RuleSet

FRAMEWORK_ROOTS = ("keras", "tensorflow", "tf_keras", "keras_core", "keras_preprocessing", "scikeras")


def dotted(node: cst.BaseExpression) -> str | None:
    """`a.b.c` as text, or None when the expression is not a plain dotted name."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted(node.value)
        return None if base is None else f"{base}.{node.attr.value}"
    return None


def module_name(node: cst.BaseExpression) -> str:
    return dotted(node) or ""


@dataclass
class NameTable:
    """Local names bound to framework modules or objects, from imports and simple rebinding."""

    rules: RuleSet
    bindings: dict[str, str] = field(default_factory=dict)  # local name -> full dotted path
    star_modules: list[str] = field(default_factory=list)  # canonical modules imported with *
    framework_imports: list[cst.CSTNode] = field(default_factory=list)

    def bind_import(self, node: cst.Import | cst.ImportFrom) -> bool:
        """Records what an import binds; returns True when it imports a framework."""
        if isinstance(node, cst.Import):
            hit = False
            for alias in node.names:
                full = module_name(alias.name)
                if full.split(".")[0] not in FRAMEWORK_ROOTS:
                    continue
                hit = True
                if alias.asname is not None:
                    self.bindings[alias.asname.name.value] = full
                else:
                    root = full.split(".")[0]
                    self.bindings[root] = root
            return hit
        if node.relative or node.module is None:
            return False
        mod = module_name(node.module)
        if mod.split(".")[0] not in FRAMEWORK_ROOTS:
            return False
        if isinstance(node.names, cst.ImportStar):
            self.star_modules.append(self.rules.canonical(mod + ".X")[:-2])
            return True
        for alias in node.names:
            name = alias.name.value if isinstance(alias.name, cst.Name) else module_name(alias.name)
            local = alias.asname.name.value if alias.asname is not None else name
            self.bindings[local] = f"{mod}.{name}"
        return True

    def bind_assignment(self, target: str, value: cst.BaseExpression) -> None:
        """`L = keras.layers` makes L an alias; any other assignment shadows a binding."""
        path = self.full_path(value)
        if path is not None and isinstance(value, (cst.Name, cst.Attribute)) \
                and not path.rsplit(".", 1)[-1].startswith("__"):  # `v = tf.__version__` is a value
            self.bindings[target] = path
        else:
            self.bindings.pop(target, None)

    def full_path(self, node: cst.BaseExpression) -> str | None:
        """The import path an expression names (`L.Dense` -> `keras.layers.Dense`), or None."""
        text = dotted(node)
        if text is None:
            return None
        head, _, rest = text.partition(".")
        if head not in self.bindings:
            return None
        base = self.bindings[head]
        return f"{base}.{rest}" if rest else base

    def resolve(self, node: cst.BaseExpression) -> str | None:
        """The canonical Keras key for an expression, e.g. `keras.layers.Dense`, or None."""
        path = self.full_path(node)
        if path is not None:
            return self.rules.canonical(path)
        return None

    def resolve_star(self, node: cst.BaseExpression, known: set[str]) -> str | None:
        """A bare name that only a star import can explain, checked against known Keras names."""
        if not isinstance(node, cst.Name) or node.value in self.bindings:
            return None
        for module in self.star_modules:
            key = self.rules.canonical(f"{module}.{node.value}")
            if key in known:
                return key
        return None

    def uses_framework(self) -> bool:
        return bool(self.bindings) or bool(self.star_modules)
