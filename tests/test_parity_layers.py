"""Per-layer parity for the recurrent and extra layer rules: each case batches several new layers
into one model, translates it and runs parity (layer outputs, model output, one training step)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from translator import translate_source
from translator.parity.check import ParityOptions, run_parity
from translator.parity.report import render_text
from translator.rules import RULES_DIR

ROOT = Path(__file__).resolve().parent.parent
CASES = sorted((Path(__file__).resolve().parent / "parity_layers").glob("*.py"))
# fixtures that pass parity in test_parity_fixtures and cover what the cases here do not
FIXTURE_CASES = ("lstm_text", "gru_bidirectional")


@pytest.mark.parametrize("script", CASES, ids=lambda p: p.stem)
def test_layers_pass_parity(script: Path) -> None:
    result = translate_source(script.read_text(), filename=str(script))
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    outcome = run_parity(script, result.code, result.models, ParityOptions())
    assert outcome.verdict.status == "pass", render_text(outcome, str(script))
    assert outcome.rows and all(row.status == "ok" for row in outcome.rows)


def test_every_new_layer_rule_has_a_parity_case() -> None:
    text = "\n".join(p.read_text() for p in CASES)
    text += "\n".join((ROOT / "fixtures" / c / "input.py").read_text() for c in FIXTURE_CASES)
    for table in ("layers_recurrent.toml", "layers_more.toml"):
        with open(RULES_DIR / table, "rb") as f:
            for rule in tomllib.load(f)["layer"]:
                assert re.search(rf"\b{rule['keras']}\(", text), f"{rule['keras']} has no parity case"
    assert "reset_after=False" in text and "dropout=" in text
