"""Every golden translation runs under real PyTorch on its small data, and its loss falls."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import FIXTURES, fixture_cases

RUNNER = Path(__file__).with_name("run_script.py")


def run_all(root: Path, target: str) -> dict[str, dict]:
    """Every golden of a target, run in one process: the frameworks are imported once."""
    scripts = []
    for case in fixture_cases():
        (root / case).mkdir()
        shutil.copy(FIXTURES / case / f"expected_{target}.py", root / case / "script.py")
        scripts.append(f"{case}/script.py")
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run([sys.executable, str(RUNNER.with_name("run_many.py")), *scripts], cwd=root,
                          env=env, capture_output=True, text=True, timeout=1500, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    return {script.split("/")[0]: value for script, value in results.items()}


@pytest.fixture(scope="module")
def torch_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    return run_all(tmp_path_factory.mktemp("torch"), "torch")


@pytest.mark.parametrize("case", fixture_cases())
def test_translation_runs_and_learns(case: str, torch_runs: dict[str, dict]) -> None:
    run = torch_runs[case]
    assert "error" not in run, run.get("error")
    assert run["histories"], "the script trained no model at module level"
    for losses in run["histories"]:
        assert losses[-1] < losses[0], f"loss did not fall: {losses}"


def test_a_translation_runs_on_its_own(tmp_path: Path) -> None:
    """One golden as a user runs it: its own process, nothing of the test harness around it."""
    shutil.copy(FIXTURES / "cnn_digits" / "expected_torch.py", tmp_path / "script.py")
    proc = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "Epoch" in proc.stdout or "loss" in proc.stdout


@pytest.fixture(scope="module")
def fastai_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """fastai's import (about 3 s) is paid once."""
    return run_all(tmp_path_factory.mktemp("fastai"), "fastai")


@pytest.mark.parametrize("case", fixture_cases())
def test_fastai_translation_runs_and_learns(case: str, fastai_runs: dict[str, dict]) -> None:
    run = fastai_runs[case]
    assert "error" not in run, run.get("error")
    assert run["histories"], "the script trained no model at module level"
    for losses in run["histories"]:
        assert losses[-1] < losses[0], f"loss did not fall: {losses}"
