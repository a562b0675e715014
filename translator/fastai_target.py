"""The fastai target: `compile` becomes a fastai Learner and the script's imports name fastai's modules.

The model class and the rest of the script are the PyTorch target's; only what differs is here.
`fit` and `evaluate` take the model's Learner (`model.learner`) and come from
`templates/fastai_support.py`, so they run `learn.fit` and `learn.validate`; `predict` runs the
model itself, as the PyTorch target does (so a model never compiled, such as an inference model
sharing a trained one's layers, predicts too).
"""

from __future__ import annotations

import libcst as cst

TARGET = "fastai"
# methods whose support function takes the model's Learner rather than the model
LEARNER_METHODS = frozenset({"fit", "evaluate"})
LEARNER_ATTRIBUTE = "learner"


def learner_of(var: str) -> cst.BaseExpression:
    """`model.learner`: where the Learner built by `compile` lives, so functions that build and
    compile a model hand its Learner on with it."""
    return cst.Attribute(cst.Name(var), cst.Name(LEARNER_ATTRIBUTE))


def _kwarg(name: str, value: cst.BaseExpression) -> cst.Arg:
    eq = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))
    return cst.Arg(value, keyword=cst.Name(name), equal=eq)


def optimizer_factory(opt: cst.BaseExpression, var: str, imports: set[str]) -> cst.BaseExpression:
    """The PyTorch target's `torch.optim.X(model.parameters(), ...)` as a function of the parameters.

    `opt(model.parameters())` (a user's optimizer variable, already a partial) becomes `opt`;
    `torch.optim.X(model.parameters(), k=v)` becomes `functools.partial(torch.optim.X, k=v)`, and
    `with_keras_options(torch.optim.X, model.parameters(), k=v)` becomes
    `functools.partial(with_keras_options, torch.optim.X, k=v)`: the parameters are the last
    positional argument.
    """
    if not isinstance(opt, cst.Call) or not opt.args:
        return opt
    at = [i for i, a in enumerate(opt.args)
          if a.keyword is None and cst.Module([]).code_for_node(a.value) == f"{var}.parameters()"]
    if len(at) != 1 or any(a.keyword is None for a in opt.args[at[0] + 1:]):
        return opt
    rest = [a for i, a in enumerate(opt.args) if i != at[0]]
    if not rest:
        return opt.func
    imports.add("functools")
    head = cst.Arg(opt.func)
    return cst.Call(cst.parse_expression("functools.partial"), args=[head, *rest])


def metrics_list(metrics: cst.BaseExpression) -> cst.BaseExpression:
    """The PyTorch target's `{'accuracy': accuracy}` as `[KerasMetric('accuracy', accuracy)]`."""
    if not isinstance(metrics, cst.Dict):
        return metrics
    items = []
    for el in metrics.elements:
        if isinstance(el, cst.DictElement):
            call = cst.Call(cst.Name("KerasMetric"), args=[cst.Arg(el.key), cst.Arg(el.value)])
            items.append(cst.Element(call))
    return cst.List(items)


def compile_statement(var: str, loss: cst.BaseExpression, opt: cst.BaseExpression,
                      metrics: cst.BaseExpression, support: set[str],
                      imports: set[str]) -> list[cst.SimpleStatementLine]:
    """`model.learner = Learner(DataLoaders(), model, loss_func=..., opt_func=..., metrics=[...])`,
    then `model.learner.create_opt()`: the optimizer exists after compile, as in Keras (fastai
    would make it in the first fit, whose time would then include building it).

    The DataLoaders are empty until `fit` gives the Learner the script's arrays.
    """
    support.update({"keras_optimizer", "KerasMetric"} if isinstance(metrics, cst.Dict) and metrics.elements
                   else {"keras_optimizer"})
    imports.update({"Learner", "DataLoaders"})
    factory = cst.Call(cst.Name("keras_optimizer"), args=[cst.Arg(optimizer_factory(opt, var, imports))])
    args = [cst.Arg(cst.parse_expression("DataLoaders()")), cst.Arg(cst.Name(var)),
            _kwarg("loss_func", loss), _kwarg("opt_func", factory)]
    listed = metrics_list(metrics)
    if not (isinstance(listed, cst.List) and not listed.elements):
        args.append(_kwarg("metrics", listed))
    learner = cst.Call(cst.Name("Learner"), args=_one_per_line(args), whitespace_before_args=_newline("    "))
    return [cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(learner_of(var))], learner)]),
            cst.parse_statement(f"{var}.{LEARNER_ATTRIBUTE}.create_opt()  # the optimizer, made by compile as in Keras\n")]


def _newline(indent: str) -> cst.ParenthesizedWhitespace:
    return cst.ParenthesizedWhitespace(first_line=cst.TrailingWhitespace(), indent=True,
                                       last_line=cst.SimpleWhitespace(indent))


def _one_per_line(args: list[cst.Arg]) -> list[cst.Arg]:
    """Arguments one per line with a trailing comma, the way a person lays out a long call."""
    out = [a.with_changes(comma=cst.Comma(whitespace_after=_newline("    "))) for a in args[:-1]]
    return [*out, args[-1].with_changes(comma=cst.Comma(whitespace_after=_newline("")))]


def import_statements(needed: set[str], statement_for) -> list[cst.SimpleStatementLine]:
    """One `from fastai.x import A, B` line per fastai module among the needed names."""
    by_module: dict[str, list[cst.ImportAlias]] = {}
    for name in sorted(needed):
        try:
            stmt = statement_for(name)
        except KeyError:
            continue
        small = stmt.body[0]
        if not isinstance(small, cst.ImportFrom) or small.module is None:
            continue
        module = cst.Module([]).code_for_node(small.module)
        if not module.startswith("fastai"):
            continue
        for alias in small.names:  # type: ignore[union-attr]
            bound = alias.asname.name.value if alias.asname else cst.Module([]).code_for_node(alias.name)
            if bound == name:
                by_module.setdefault(module, []).append(alias.with_changes(comma=cst.MaybeSentinel.DEFAULT))
    out = []
    for module, aliases in sorted(by_module.items()):
        # isort keeps `import A as B` on its own line
        plain = [a for a in aliases if a.asname is None]
        groups = ([plain] if plain else []) + [[a] for a in aliases if a.asname is not None]
        out += [cst.SimpleStatementLine([cst.ImportFrom(module=cst.parse_expression(module), names=g)])
                for g in groups]
    return out
