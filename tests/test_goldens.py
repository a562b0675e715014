"""Golden fixtures: each Keras script's translations match expected_torch.py and expected_fastai.py, byte for byte."""

from __future__ import annotations

import ast
import difflib

import pytest

from translator import translate_source

from .conftest import FIXTURES, fixture_cases


def _translate(case: str) -> str:
    path = FIXTURES / case / "input.py"
    return translate_source(path.read_text(encoding="utf-8"), filename=str(path.relative_to(FIXTURES.parent))).code


@pytest.mark.parametrize("target", ["torch", "fastai"])
@pytest.mark.parametrize("case", fixture_cases())
def test_golden(case: str, target: str, update_goldens: bool) -> None:
    result = translate_source((FIXTURES / case / "input.py").read_text(encoding="utf-8"), target=target,
                              filename="input.py")
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    expected_path = FIXTURES / case / f"expected_{target}.py"
    if update_goldens:
        expected_path.write_text(result.code, encoding="utf-8")
    assert expected_path.exists(), "missing golden: run pytest --update-goldens"
    expected = expected_path.read_text(encoding="utf-8")
    if result.code != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), result.code.splitlines(True),
                                            expected_path.name, "translated"))
        pytest.fail(f"translation differs from the golden:\n{diff}")


@pytest.mark.parametrize("target", ["torch", "fastai"])
@pytest.mark.parametrize("case", fixture_cases())
def test_invariants(case: str, target: str) -> None:
    source = (FIXTURES / case / "input.py").read_text(encoding="utf-8")
    first = translate_source(source, target=target, filename="input.py").code
    compile(first, "translated.py", "exec")  # valid Python
    assert translate_source(source, target=target, filename="input.py").code == first  # deterministic
    again = translate_source(first, target=target, filename="translated.py")
    assert not again.uses_keras and again.code == first  # the output is left alone
    roots = _imported_roots(first)
    assert not roots & {"tensorflow", "keras", "tf_keras", "translator"}
    if target == "fastai":  # explicit imports from fastai's basic modules, never fastai.vision
        assert "fastai" in roots and "from fastai" in first and "import *" not in first
        assert "fastai.vision" not in first and "fit_one_cycle" not in first


def _imported_roots(code: str) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_goldens_are_clean_under_ruff_defaults() -> None:
    import shutil
    import subprocess

    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    files = sorted(str(p) for p in FIXTURES.glob("*/expected_*.py"))
    proc = subprocess.run([ruff, "check", "--isolated", "--no-cache", *files], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
