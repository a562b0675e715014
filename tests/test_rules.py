"""Every rule's examples run as unit tests, and every rule is checked against the real APIs."""

from __future__ import annotations

import inspect
import re

import libcst as cst
import pytest

from translator import translate_source
from translator.rules import REQUIRED, load_rules
from translator.shapes import literal

RULES = load_rules()


def _attr_lines(out: str) -> list[str]:
    model = out[out.index('"""The Keras Sequential model'):]  # not the support classes
    return re.findall(r"^        self\.\w+ = (.+?)(?:  #.*)?$", model, flags=re.MULTILINE)


def _examples(kind_items):
    seen = set()
    for rule in kind_items:
        if id(rule) in seen:
            continue
        seen.add(id(rule))
        for i, ex in enumerate(rule.examples):
            yield pytest.param(rule, ex, id=f"{rule.id}-{i}")


@pytest.mark.parametrize(("rule", "example"), _examples(RULES.layers.values()))
def test_layer_example(rule, example) -> None:
    shape = tuple(example["input"])
    src = ("from tensorflow import keras\n"
           f"model = keras.Sequential([keras.Input(shape={shape!r}), keras.layers.{example['keras']}])\n")
    result = translate_source(src)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert _attr_lines(result.code) == [example["torch"]]


@pytest.mark.parametrize(("rule", "example"), _examples(RULES.losses.values()))
def test_loss_example(rule, example) -> None:
    loss = example["keras"] if example["keras"].startswith("'") else f"keras.losses.{example['keras']}"
    head = f", activation={example['head']!r}" if example["head"] else ""
    src = ("from tensorflow import keras\n"
           f"model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3{head})])\n"
           f"model.compile(optimizer='adam', loss={loss})\n")
    result = translate_source(src)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert f"model.loss_fn = {example['torch']}\n" in result.code
    if example["head"] and rule.fold == example["head"]:
        assert "output_activation" in result.code  # folded: predict re-applies the head


@pytest.mark.parametrize(("rule", "example"), _examples(RULES.optimizers.values()))
def test_optimizer_example(rule, example) -> None:
    src = ("from tensorflow import keras\n"
           "model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])\n"
           f"model.compile(optimizer=keras.optimizers.{example['keras']}, loss='mse')\n")
    result = translate_source(src)
    assert result.todos == 0
    assert f"model.optimizer = {example['torch']}\n" in result.code


@pytest.mark.parametrize(("rule", "example"), _examples(RULES.callbacks.values()))
def test_callback_example(rule, example) -> None:
    src = ("from tensorflow import keras\n"
           "model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])\n"
           "model.compile(optimizer='adam', loss='mse')\n"
           f"model.fit(x, y, callbacks=[keras.callbacks.{example['keras']}])\n")
    result = translate_source(src)
    assert result.todos == 0
    assert f"callbacks=[{example['torch']}]" in result.code
    assert f"class {rule.torch}:" in result.code


@pytest.mark.parametrize(("rule", "example"), _examples(RULES.metrics.values()))
def test_metric_example(rule, example) -> None:
    src = ("from tensorflow import keras\n"
           "model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])\n"
           f"model.compile(optimizer='adam', loss='mse', metrics=[{example['keras']}])\n")
    result = translate_source(src)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert f"model.metrics = {{{example['key']!r}: {example.get('torch', rule.torch)}}}" in result.code


def _same_default(rule_default: str, real) -> bool:
    value = literal(cst.parse_expression(rule_default))
    if isinstance(value, tuple) and isinstance(real, int):
        return all(v == real for v in value)
    if isinstance(real, tuple) and isinstance(value, int):
        return all(v == value for v in real)
    return value == real or (isinstance(real, list) and tuple(real) == value)


def test_rules_match_installed_keras_and_torch() -> None:
    keras = pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    from torch import nn  # noqa: F401  (targets are written as nn.X / torch.optim.X)

    from translator.templates import torch_support

    namespace = {"nn": torch.nn, "torch": torch, **vars(torch_support)}  # support classes too
    checked = 0
    for kind, table, module in (("layer", RULES.layers, keras.layers),
                                ("optimizer", RULES.optimizers, keras.optimizers),
                                ("callback", RULES.callbacks, keras.callbacks)):
        for name, rule in table.items():
            if name != rule.keras:
                continue
            params = inspect.signature(getattr(module, rule.keras)).parameters
            for arg, default in rule.signature:
                assert arg in params, f"{kind} {rule.keras}: Keras has no argument {arg}"
                real = params[arg].default
                if default == REQUIRED:
                    assert real is inspect.Parameter.empty, f"{rule.keras}.{arg} has a default"
                else:
                    assert _same_default(default, real), f"{rule.keras}.{arg}: rule {default} != Keras {real!r}"
                checked += 1
            if rule.torch and kind != "callback":
                assert eval(rule.torch, namespace) is not None
    assert checked > 100
    for name, module in RULES.activations.items():
        assert hasattr(keras.activations, name), name
        if module:
            assert isinstance(eval(module, namespace), torch.nn.Module)


def test_every_rule_has_an_example() -> None:
    for table in (RULES.layers, RULES.optimizers, RULES.callbacks):
        for rule in table.values():
            assert rule.examples, rule.id


def test_torch_defaults_in_rules_match_torch() -> None:
    torch = pytest.importorskip("torch")
    for table in (RULES.layers, RULES.optimizers):
        for rule in table.values():
            if not rule.torch or not rule.torch.startswith(("nn.", "torch.")):
                continue
            target = eval(rule.torch, {"nn": torch.nn, "torch": torch})
            params = inspect.signature(target).parameters
            for spec in rule.args:
                if spec.default is None or not spec.target:
                    continue
                assert spec.target in params, f"{rule.torch} has no {spec.target}"
                real = params[spec.target].default
                assert _same_default(spec.default, real), f"{rule.torch}.{spec.target}: {spec.default} != {real!r}"


@pytest.mark.parametrize("rule", list(RULES.utilities.values()), ids=lambda r: r["keras"])
def test_utility_example(rule) -> None:
    example = rule["example"]
    src = f"import tensorflow as tf\nimport keras\nout = {example['keras']}\n"
    result = translate_source(src)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    line = next(line for line in result.code.splitlines() if line.startswith("out = "))
    assert line == "out = " + example["torch"]


def test_utility_support_functions_take_keras_arguments() -> None:
    """A support function that stands for a Keras function accepts its arguments, with its defaults."""
    import importlib

    from translator.support import _definitions

    defs = _definitions("torch")[0]
    checked = 0
    for key, rule in RULES.utilities.items():
        if "support" not in rule or not key.startswith("keras.") or rule.get("legacy"):
            continue
        module_name, name = key.rsplit(".", 1)
        keras_fn = getattr(importlib.import_module(module_name), name)
        ours = defs[rule["support"]]
        assert isinstance(ours, cst.FunctionDef)
        our_params = {p.name.value: (cst.Module([]).code_for_node(p.default) if p.default else REQUIRED)
                      for p in ours.params.params}
        for pname, param in inspect.signature(keras_fn).parameters.items():
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                continue
            assert pname in our_params, f"{rule['support']} lacks {pname}"
            if param.default is inspect.Parameter.empty:
                assert our_params[pname] == REQUIRED
            else:
                assert literal(cst.parse_expression(our_params[pname])) == param.default, (key, pname)
            checked += 1
    assert checked >= 15


def test_support_dependencies_read_with_ast_are_what_libcst_sees() -> None:
    """support.py reads each template definition's names with `ast` (fast); they equal the names
    a libcst tree of the same definition holds, so the same definitions and imports are chosen."""
    from translator import support
    from translator.emit import _names_used  # the libcst reading the translator itself uses

    checked = 0
    for target in ("torch", "fastai"):
        defs = support._merged(target)[0]
        for name, text in defs.texts.items():
            assert support._names_in_text(text) == _names_used(cst.parse_module(text)), (target, name)
            checked += 1
    assert checked > 300


def test_relu_runs_in_place_only_over_a_dense_or_convolution_output() -> None:
    """`activation='relu'` on a Dense or convolution may overwrite that layer's own fresh output;
    a ReLU layer of its own reads a tensor another layer produced, and keeps it."""
    from translator.api import translate_source
    src = ("from tensorflow import keras\nfrom tensorflow.keras import layers\n"
           "model = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(4, 3, activation='relu'),\n"
           "    layers.BatchNormalization(), layers.Activation('relu'), layers.Flatten(),\n"
           "    layers.Dense(16, activation='relu'), layers.Dense(16, activation='tanh'), layers.ReLU()])\n")
    lines = {line.strip() for line in translate_source(src).code.splitlines()}
    assert "self.conv2d = nn.Sequential(nn.Conv2d(3, 4, kernel_size=3), nn.ReLU(inplace=True))" in lines
    assert "self.dense = nn.Sequential(nn.Linear(144, 16), nn.ReLU(inplace=True))" in lines
    assert "self.dense_1 = nn.Sequential(nn.Linear(16, 16), nn.Tanh())" in lines
    assert {"self.activation = nn.ReLU()", "self.re_lu = nn.ReLU()"} <= lines
