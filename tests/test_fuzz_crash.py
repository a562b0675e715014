"""A fixed sample of hostile inputs: the translator and the CLI answer each without a traceback."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz.mutations import TEMPLATES, mutated_inputs
from fuzz.run_crash_fuzz import (
    check_cli,
    check_translation,
    hypothesmith_inputs,
    pathological_inputs,
)
from translator import cli
from translator.api import TranslationError, translate_source

ROOT = Path(__file__).resolve().parent.parent
REGRESSIONS = sorted((ROOT / "tests" / "fuzz_regressions").glob("*.py"))


def _findings(inputs, folder: Path, cli_every: int) -> list:
    out = []
    for n, (label, source) in enumerate(inputs):
        finding = check_translation(label, source)
        if finding is None and cli_every and n % cli_every == 0:
            finding = check_cli(label, source, folder)
        if finding is not None:
            out.append(f"{finding.kind}: {finding.label}: {finding.detail}")
    return out


def test_pathological_inputs_never_crash(tmp_path):
    assert _findings(pathological_inputs(), tmp_path, cli_every=1) == []


def test_model_forms_never_crash(tmp_path):
    assert _findings([(f"template {i}", t) for i, t in enumerate(TEMPLATES)], tmp_path, 1) == []


def test_mutated_fixtures_never_crash(tmp_path):
    inputs = mutated_inputs(300, seed=7)
    assert len(inputs) == 300
    assert _findings(inputs, tmp_path, cli_every=10) == []


def test_hypothesmith_programs_never_crash(tmp_path):
    inputs = hypothesmith_inputs(40, seed=3)
    assert len(inputs) >= 30
    assert _findings(inputs, tmp_path, cli_every=5) == []


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.stem for p in REGRESSIONS])
def test_fuzz_regressions_translate_cleanly(path):
    result = translate_source(path.read_text(), filename=str(path))
    compile(result.code, str(path), "exec")
    assert result.models or result.todos  # translated, or refused with a TODO: never a crash


def test_deep_nesting_is_a_clean_refusal():
    with pytest.raises(TranslationError, match="nested too deeply"):
        translate_source("import keras\nx = " + " + ".join(["1"] * 3000) + "\n")


def test_a_lone_surrogate_is_a_clean_refusal():
    with pytest.raises(TranslationError, match="not valid Python"):
        translate_source("import keras\nx = '\udc80'\n")


def test_an_internal_error_is_exit_3_with_the_rule_id(tmp_path, monkeypatch):
    script = tmp_path / "model.py"
    script.write_text("import keras\nmodel = keras.Sequential([keras.layers.Dense(2)])\n")

    def broken(*args, **kwargs):
        raise KeyError("a bug in the translator")

    monkeypatch.setattr("translator.workflow.translate_source", broken)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["translate", str(script)])
    assert code == 3
    assert "[internal-error]" in err.getvalue() and "KeyError" in err.getvalue()
    assert " at " in err.getvalue() and ".py:" in err.getvalue()  # where, for the bug report


def test_translation_does_not_run_the_script(tmp_path):
    marker = tmp_path / "ran"
    script = tmp_path / "side_effects.py"
    script.write_text(
        "import keras\n"
        f"open({str(marker)!r}, 'w').write('the script ran')\n"
        "import os\nos.system('echo side effect')\n"
        "model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1)])\n")
    out = tmp_path / "out.py"
    with contextlib.redirect_stderr(io.StringIO()):
        assert cli.main(["translate", str(script), "-o", str(out)]) == 0
    assert not marker.exists()
    assert "nn.Linear" in out.read_text()


def test_output_is_byte_identical_across_hash_seeds(tmp_path):
    fixtures = sorted((ROOT / "fixtures").glob("*/input.py")) + REGRESSIONS
    program = (
        "import sys\nfrom pathlib import Path\nfrom translator.api import translate_source\n"
        "for p in sys.argv[1:]:\n"
        "    sys.stdout.write(translate_source(Path(p).read_text(), filename=p).code)\n")
    outputs = []
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-c", program, *map(str, fixtures)], env=env,
                              capture_output=True, cwd=str(tmp_path), timeout=300, check=False)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        outputs.append(done.stdout)
    assert len(outputs[0]) > 10_000
    assert outputs[0] == outputs[1]
