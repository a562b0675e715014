"""Every golden fixture passes parity (about 5 s each; KERAS2TORCH_SKIP_PARITY_FIXTURES=1 skips them)."""

from __future__ import annotations

import os

import pytest

from translator import translate_source
from translator.parity.check import ParityOptions, run_parity
from translator.parity.report import render_text

from .conftest import FIXTURES, fixture_cases

pytestmark = pytest.mark.skipif(bool(os.environ.get("KERAS2TORCH_SKIP_PARITY_FIXTURES")),
                                reason="KERAS2TORCH_SKIP_PARITY_FIXTURES is set")

# Mismatches parity finds in today's translations; strict, so a fix makes the entry go.
KNOWN: dict[str, str] = {}


@pytest.mark.parametrize("case", fixture_cases())
def test_fixture_passes_parity(case: str) -> None:
    src = FIXTURES / case / "input.py"
    result = translate_source(src.read_text(), filename=str(src))
    if result.todos:
        pytest.skip("the translation has TODOs: " + result.diagnostics[0].render())
    outcome = run_parity(src, result.code, result.models, ParityOptions())
    if case in KNOWN:
        assert outcome.verdict.status == "fail", f"{case} now passes: remove it from KNOWN"
        pytest.xfail(KNOWN[case])
    assert outcome.verdict.status == "pass", render_text(outcome, str(src))
