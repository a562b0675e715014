"""Differential fuzzing, fixed-seed sample: 50 random Keras models, each checked by parity."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("torch")

from fuzz.run_parity_fuzz import check_specs, summary
from fuzz.strategies import collect, model_specs, render
from translator.api import translate_source
from translator.parity.batch import check_many
from translator.parity.check import ParityOptions

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = 50
SEED = 20240601


def test_the_sample_is_fixed_and_varied():
    specs = collect(model_specs(), SAMPLE, seed=SEED)
    assert [render(s) for s in specs] == [render(s) for s in collect(model_specs(), SAMPLE,
                                                                     seed=SEED)]
    assert len(specs) == SAMPLE
    classes = collections.Counter(c for s in specs for c in s.layer_classes)
    assert len(classes) >= 15, classes
    assert len({s.style for s in specs}) >= 5 and len({s.task.kind for s in specs}) == 4
    for spec in specs:
        compile(render(spec), "model.py", "exec")


def test_random_models_keep_parity(tmp_path):
    specs = collect(model_specs(), SAMPLE, seed=SEED)
    outcomes = check_specs(specs, tmp_path)
    report = summary(outcomes)
    # a TODO (an honest refusal, e.g. strided 'same' average pooling) is allowed; a wrong
    # translation (fail) or a check that could not run (error) is not
    bad = [f"{o.status}: {o.message}\n{o.script}" for o in outcomes
           if o.status in ("fail", "error")]
    assert not bad, report + "\n\n" + "\n\n".join(bad[:3])
    assert len(outcomes) == SAMPLE
    assert sum(o.status == "pass" for o in outcomes) >= SAMPLE - 3, report


def test_fuzz_regression_that_builds_a_model_keeps_parity(tmp_path):
    path = ROOT / "tests" / "fuzz_regressions" / "zero_padding_zero.py"
    result = translate_source(path.read_text(), filename=str(path))
    assert result.todos == 0
    (outcome,) = check_many([(path, result.code, result.models)], ParityOptions(timeout_s=120))
    assert outcome.verdict.status == "pass", outcome.verdict.message
