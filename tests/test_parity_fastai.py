"""Parity for the fastai target: the Learner's model and first training step match Keras, and a
Learner on fastai's own Adam (eps 1e-5, sqr_mom 0.99, wd 0.01) is caught."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from translator import translate_source
from translator.cli import main
from translator.parity.check import ParityOptions, run_parity
from translator.parity.report import render_text

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "parity_cases"
FIXTURES = ROOT / "fixtures"


def _fastai(src: Path):
    result = translate_source(src.read_text(), target="fastai", filename=str(src))
    assert not result.todos, [d.render() for d in result.diagnostics]
    return result


@pytest.mark.parametrize("src", [
    CASES / "cnn_keras.py",  # a convnet
    FIXTURES / "callbacks_early_stopping" / "input.py",  # validation data and three callbacks
    FIXTURES / "mlp_huber_string" / "input.py",  # validation_split, ReduceLROnPlateau, a regression
], ids=lambda p: p.parent.name if p.name == "input.py" else p.stem)
def test_fastai_translation_passes_parity(src: Path) -> None:
    result = _fastai(src)
    outcome = run_parity(src, result.code, result.models, ParityOptions())
    text = render_text(outcome, str(src))
    assert outcome.verdict.status == "pass", text
    assert "(fastai Learner, loss_func " in text  # the model was captured through Learner.fit


def test_parity_command_with_fastai_target(capsys) -> None:
    assert main(["parity", str(CASES / "mlp_keras.py"), "--target", "fastai"]) == 0
    out = capsys.readouterr().out
    assert "verdict: PASS" in out and "fastai Learner" in out


def test_fastai_own_adam_is_caught() -> None:
    src = CASES / "mlp_keras.py"
    result = _fastai(src)
    opt_func = re.search(r"opt_func=keras_optimizer\(.*\),\n", result.code)
    assert opt_func is not None
    code = result.code.replace(opt_func.group(0), "opt_func=Adam,\n").replace(
        "from fastai.optimizer import OptimWrapper", "from fastai.optimizer import Adam, OptimWrapper")
    outcome = run_parity(src, code, result.models, ParityOptions())
    text = render_text(outcome, str(src))
    assert outcome.verdict.status == "fail", text
    failed = {line.split()[0] for line in text.splitlines() if line.rstrip().endswith("failed")}
    assert {"eps", "weight_decay"} <= failed, text  # fastai's eps 1e-5 and wd 0.01, not Keras'
