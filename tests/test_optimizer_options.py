"""Optimizer options every Keras optimizer takes (clipping, Keras 2's decay) and optimizers named
at run time. Clipping is also checked against Keras itself by the parity cases
tests/parity_regressions/optimizer_*.py."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap

import pytest
import torch

from translator import translate_source
from translator.rules import load_rules
from translator.templates import torch_support_optim as optim_support

SCRIPT = '''\
import numpy as np
from keras.models import Sequential
from keras.layers import Dense
from keras.optimizers import SGD


def create_model(optimizer="rmsprop"):
    model = Sequential()
    model.add(Dense(6, input_dim=4, activation="relu"))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model


rng = np.random.default_rng(0)
x = rng.random((40, 4)).astype("float32")
y = (x.sum(axis=1) > 2).astype("float32")
for choice in ["adam", "SGD", SGD(lr=0.1, decay=1e-3, momentum=0.9, nesterov=True, clipnorm=1.0)]:
    model = create_model(choice)
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    print("trained", history.history["loss"][-1] < 5, len(history.history["loss"]))
'''


def _translate(source: str, target: str = "torch"):
    return translate_source(source, target=target, filename="script.py")


def test_keras_names_table_matches_the_rules():
    """The run-time table of optimizer names writes each optimizer as the translation would."""
    rules = load_rules()
    ids = {rule.id for rule in rules.optimizers.values()}
    assert set(optim_support.KERAS_OPTIMIZERS) == ids
    for name in ids:
        src = ("import keras\nmodel = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1)])\n"
               f"model.compile(optimizer={name!r}, loss='mse')\n")
        out = _translate(src).code
        call = re.search(r"model\.optimizer = (torch\.optim\.\w+)\(model\.parameters\(\)(.*)\)\n", out)
        assert call, out
        keywords = {k: ast.literal_eval(v) for k, v in re.findall(r"(\w+)=([^,]+)", call.group(2))}
        made = optim_support.KERAS_OPTIMIZERS[name]
        assert f"torch.optim.{made.func.__name__}" == call.group(1)
        assert made.keywords == keywords, name


def _one_weight(**options):
    w = torch.nn.Parameter(torch.zeros(3))
    opt = optim_support.with_keras_options(torch.optim.SGD, [w], lr=0.1, **options)
    return w, opt


def test_decay_follows_keras_2_inverse_time_schedule():
    w, opt = _one_weight(decay=0.5)
    seen = []
    for step in range(4):
        if step == 2:
            opt.param_groups[0]["lr"] = 0.05  # what ReduceLROnPlateau or a scheduler callback does
        w.grad = torch.ones(3)
        opt.step()
        seen.append(opt.param_groups[0]["lr"])
    expected = [0.1 / 1.0, 0.1 / 1.5, 0.05 / 2.0, 0.05 / 2.5]
    assert seen == pytest.approx(expected)
    # the weight moved by the sum of the decayed rates times the gradient
    assert w.detach().numpy() == pytest.approx([-sum(expected)] * 3)


@pytest.mark.parametrize(("options", "grad", "expected"), [
    ({"clipvalue": 0.5}, [2.0, -0.1, -3.0], [0.5, -0.1, -0.5]),
    ({"clipnorm": 1.0}, [3.0, 4.0, 0.0], [0.6, 0.8, 0.0]),
    ({"clipnorm": 10.0}, [3.0, 4.0, 0.0], [3.0, 4.0, 0.0]),
    ({"global_clipnorm": 2.5}, [3.0, 4.0, 0.0], [1.5, 2.0, 0.0]),
    # Keras tries clipnorm first, then global_clipnorm, then clipvalue
    ({"clipnorm": 1.0, "clipvalue": 0.1}, [3.0, 4.0, 0.0], [0.6, 0.8, 0.0]),
    ({"global_clipnorm": 2.5, "clipvalue": 0.1}, [3.0, 4.0, 0.0], [1.5, 2.0, 0.0]),
])
def test_gradients_are_clipped_before_the_step(options, grad, expected):
    w, opt = _one_weight(**options)
    w.grad = torch.tensor(grad)
    opt.step()
    assert (-w.detach() / 0.1).numpy() == pytest.approx(expected, rel=1e-6)


def test_a_name_decided_at_run_time():
    w = torch.nn.Parameter(torch.zeros(2))
    assert isinstance(optim_support.keras_optimizer_from("Adam", [w]), torch.optim.Adam)
    made = optim_support.keras_optimizer_from(lambda params: torch.optim.SGD(params, lr=0.3), [w])
    assert made.param_groups[0]["lr"] == 0.3
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'"):
        optim_support.keras_optimizer_from("adamm", [w])


def test_options_keep_their_place_in_the_translation():
    out = _translate(SCRIPT)
    assert out.todos == 0 and "TODO(keras2torch)" not in out.code
    assert ("functools.partial(with_keras_options, torch.optim.SGD, lr=0.1, momentum=0.9, "
            "nesterov=True, decay=1e-3, clipnorm=1.0)") in out.code
    assert "keras_optimizer_from(optimizer, model.parameters())" in out.code
    assert [d.rule for d in out.diagnostics] == ["optimizer-decay"]


@pytest.mark.parametrize("target", ["torch", "fastai"])
def test_translation_runs(tmp_path, target):
    if target == "fastai":
        pytest.importorskip("fastai")
    out = _translate(SCRIPT, target)
    assert out.todos == 0 and "TODO(keras2torch)" not in out.code
    path = tmp_path / "script.py"
    path.write_text(out.code, encoding="utf-8")
    run = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines()[-3:] == ["trained True 2"] * 3


def test_unknown_option_is_still_refused():
    out = _translate(textwrap.dedent('''\
        import keras
        model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(use_ema=True), loss="mse")
        '''))
    assert out.todos == 1
    assert any("use_ema" in d.message for d in out.diagnostics)
