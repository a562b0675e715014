"""Tensor functions the script writes itself: custom losses and metrics (`def rmse(y_true, y_pred)`)
and Lambda layers (`Lambda(lambda x: x / 255.0)`). Their keras.backend, keras.ops and tf calls
map through rules/ops.toml, as in subclassed layers; what has no rule stays for a TODO."""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from . import walk
from .subclass import load_ops, op_expression


class OpsRewriter(cst.CSTTransformer):
    """Rewrites the Keras tensor functions called in one function body or lambda."""

    def __init__(self, resolve: Callable):
        self.resolve = resolve
        self.ops = load_ops()
        self.problems: list[tuple[cst.CSTNode, str]] = []
        self.count = 0

    def visit_Param(self, node: cst.Param) -> bool:
        return False

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        return updated_node.with_changes(keyword=original_node.keyword)

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        key = self.resolve(original_node)
        if key in self.ops.attributes:
            self.count += 1
            return cst.parse_expression(self.ops.attributes[key])
        return updated_node.with_changes(attr=original_node.attr)

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        key = self.resolve(original_node.func)
        rule = self.ops.calls.get(key or "")
        if rule is None:
            return updated_node
        from .hooks import Unsupported

        try:
            new = op_expression(rule, updated_node, key)  # type: ignore[arg-type]
        except Unsupported as exc:
            self.problems.append((original_node, str(exc)))
            return updated_node
        self.count += 1
        return new


def rewrite(node: cst.CSTNode, resolve: Callable) -> tuple[cst.CSTNode, OpsRewriter]:
    rewriter = OpsRewriter(resolve)
    return node.visit(rewriter), rewriter


def elementwise(fn: cst.Lambda, resolve: Callable) -> bool:
    """Whether a lambda keeps its input's shape: arithmetic and elementwise tensor functions of its
    one parameter and of constants, nothing else (then a Lambda layer's output shape is its input's)."""
    params = fn.params.params
    if len(params) != 1 or fn.params.star_arg is not cst.MaybeSentinel.DEFAULT and fn.params.star_arg is not None:
        return False
    name = params[0].name.value
    ops = load_ops()
    ok = True

    class Check(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            nonlocal ok
            if isinstance(node, (cst.BinaryOperation, cst.UnaryOperation, cst.Integer, cst.Float, cst.Arg)) \
                    or not isinstance(node, cst.BaseExpression):  # operators, parentheses, whitespace
                return True
            if isinstance(node, cst.Name):
                ok = ok and node.value == name
                return False
            if isinstance(node, cst.Call):
                rule = ops.calls.get(resolve(node.func) or "")
                positional = [a for a in node.args if a.keyword is None]
                ok = ok and rule is not None and rule.shape == "same" and len(node.args) == len(positional)
                for a in node.args:
                    walk.visit(a.value, self)
                return False
            ok = False
            return False

    walk.visit(fn.body, Check())
    return ok
