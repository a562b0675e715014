"""Twins, --check/--diff, configuration, -j, progress, `check`, and the real pre-commit hook."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from translator import files
from translator.cli import main
from translator.config import Config, ConfigError, find_pyproject, load_config

from .conftest import FIXTURES, ROOT

MLP = (FIXTURES / "mlp_tf_keras" / "input.py").read_text()
CNN = (FIXTURES / "cnn_digits" / "input.py").read_text()
LAMBDA = """import keras

model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.TextVectorization(max_tokens=8),
                          keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
"""


def test_twin_written_then_up_to_date_then_stale(tmp_path: Path, capsys) -> None:
    src = tmp_path / "digits_keras.py"
    src.write_text(MLP)
    twin = tmp_path / "digits_torch.py"
    assert main(["translate", "--twins", str(src)]) == 1  # wrote a twin: fail once, like black
    assert files.generated_from(twin.read_text()) == "digits_keras.py"
    assert main(["translate", "--twins", str(src)]) == 0  # a second run passes
    assert main(["translate", "--check", str(tmp_path)]) == 0
    capsys.readouterr()
    twin.write_text(twin.read_text() + "print('edited by hand')\n")
    assert main(["translate", "--check", str(src)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert "edited by hand" in twin.read_text()  # --check writes nothing
    assert main(["translate", "--diff", str(src)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"--- a/{twin}\n+++ b/{twin}\n") and "-print('edited by hand')" in out
    # the hook is handed the twin that changed: it regenerates it from its source
    assert main(["translate", "--twins", str(twin)]) == 1
    assert "edited by hand" not in twin.read_text()
    assert main(["translate", "--twins", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits_keras.py", "digits_torch.py"]


def test_missing_twin_is_reported_by_check(tmp_path: Path, capsys) -> None:
    (tmp_path / "a_keras.py").write_text(MLP)
    assert main(["translate", "--check", str(tmp_path / "a_keras.py")]) == 1
    assert "a_torch.py:1:1: error [stale-output] missing" in capsys.readouterr().err
    assert not (tmp_path / "a_torch.py").exists()
    assert main(["translate", "--diff", str(tmp_path / "a_keras.py")]) == 1
    assert capsys.readouterr().out.startswith("--- /dev/null\n")


def test_twins_never_overwrite_a_hand_written_file(tmp_path: Path, capsys) -> None:
    (tmp_path / "a_keras.py").write_text(MLP)
    (tmp_path / "a_torch.py").write_text("# written by a person\n")
    assert main(["translate", "--twins", str(tmp_path / "a_keras.py")]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (tmp_path / "a_torch.py").read_text() == "# written by a person\n"
    assert main(["translate", "--twins", "--force", str(tmp_path / "a_keras.py")]) == 1
    assert files.file_is_generated(tmp_path / "a_torch.py")


def test_only_keras_sources_get_twins(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("def add(a, b):\n    return a + b\n")
    (tmp_path / "plain_keras.py").write_text("print('no framework here')\n")
    (tmp_path / "model.py").write_text(MLP)  # uses Keras, but is not named as a source
    assert main(["translate", "--twins", *map(str, sorted(tmp_path.iterdir()))]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["helpers.py", "model.py",
                                                          "plain_keras.py"]


def test_translate_check_with_an_output_file(tmp_path: Path) -> None:
    src, out = tmp_path / "m.py", tmp_path / "out.py"
    src.write_text(MLP)
    assert main(["translate", str(src), "-o", str(out), "--check"]) == 1
    assert not out.exists()
    assert main(["translate", str(src), "-o", str(out)]) == 0
    assert main(["translate", str(src), "-o", str(out), "--check"]) == 0


def test_check_command_fails_on_todo(tmp_path: Path, capsys) -> None:
    (tmp_path / "ok_keras.py").write_text(MLP)
    assert main(["check", str(tmp_path)]) == 0
    (tmp_path / "lambda_keras.py").write_text(LAMBDA)
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'lambda_keras.py'}:3:" in err and "todo [unsupported-layer]" in err
    assert not (tmp_path / "lambda_torch.py").exists()  # check writes nothing


# --- configuration ------------------------------------------------------------------------------

PYPROJECT = """[project]
name = "demo"

[tool.keras2torch]
sources = ["models/*.py"]
exclude = ["models/skip_*.py"]
twin = "{stem}_pt{suffix}"
atol = 1e-4
train-steps = 2
"""


def test_config_is_found_above_the_sources_not_in_the_cwd(tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "models" / "net.py").write_text(MLP)
    (project / "models" / "skip_me.py").write_text(MLP)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "pyproject.toml").write_text('[tool.keras2torch]\ntwin = "{stem}_wrong.py"\n')
    monkeypatch.chdir(elsewhere)
    assert find_pyproject([project / "models" / "net.py"]) == project / "pyproject.toml"
    config = load_config([project / "models"])
    assert (config.atol, config.train_steps, config.rtol) == (1e-4, 2, None)
    assert main(["translate", "--twins", str(project / "models")]) == 1
    assert sorted(p.name for p in (project / "models").iterdir()) == ["net.py", "net_pt.py",
                                                                      "skip_me.py"]
    # --config names the file explicitly, and wins
    assert main(["translate", "--check", "--config", str(elsewhere / "pyproject.toml"),
                 str(project / "models" / "net.py")]) == 0  # not a source under that config


def test_config_defaults_and_errors(tmp_path: Path, capsys) -> None:
    config = Config(root=tmp_path)
    assert config.is_source_name(tmp_path / "mnist_keras.py")
    assert config.is_source_name(tmp_path / "mnist_keras.ipynb")
    assert not config.is_source_name(tmp_path / "mnist_keras_torch.py")
    assert config.twin_of(tmp_path / "mnist_keras.py") == tmp_path / "mnist_torch.py"
    assert config.twin_of(tmp_path / "nb_keras.ipynb", "fastai") == tmp_path / "nb_fastai.ipynb"
    (tmp_path / "pyproject.toml").write_text("[tool.keras2torch]\ntolerance = 1\n")
    with pytest.raises(ConfigError, match="unknown key 'tolerance'"):
        load_config([tmp_path])
    (tmp_path / "a_keras.py").write_text(MLP)
    assert main(["translate", "--check", str(tmp_path / "a_keras.py")]) == 2
    assert "unknown key 'tolerance'" in capsys.readouterr().err
    (tmp_path / "pyproject.toml").write_text('[tool.keras2torch]\ntarget = "jax"\n')
    assert main(["translate", "--check", str(tmp_path / "a_keras.py")]) == 2
    assert "unknown target 'jax'" in capsys.readouterr().err


# --- many files ---------------------------------------------------------------------------------

def test_parallel_jobs_give_the_same_outputs(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i, text in enumerate([MLP, CNN, LAMBDA, MLP]):
        (src / f"m{i}.py").write_text(text)
    assert main(["translate", str(src), "-o", str(tmp_path / "one")]) == 1  # TextVectorization is a TODO
    assert main(["translate", str(src), "-o", str(tmp_path / "two"), "-j", "2"]) == 1
    for i in range(4):
        assert (tmp_path / "one" / f"m{i}.py").read_bytes() == \
            (tmp_path / "two" / f"m{i}.py").read_bytes()


def test_progress_bar_only_when_asked_or_on_a_terminal(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"m{i}.py").write_text(MLP)

    def run(*flags: str) -> str:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.run([sys.executable, "-m", "translator", "translate", str(src), "-o",
                               str(tmp_path / "out"), "--force", *flags],
                              capture_output=True, text=True, env=env, check=True).stderr

    assert "\r" not in run()  # stderr is a pipe: plain lines a CI log can parse
    bar = run("--progress")
    assert "keras2torch translate [" in bar and "3/3" in bar


# --- the real pre-commit ------------------------------------------------------------------------

def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
                           *args], cwd=cwd, capture_output=True, text=True, env=env, check=False)


def _project_copy(dest: Path) -> str:
    """keras2torch as a hook repository: the project's files committed in a fresh git repository."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("translator", "rules"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy2(ROOT / name, dest / name)
    assert _git(dest, "init", "-q").returncode == 0
    _git(dest, "add", "-A")
    assert _git(dest, "commit", "-qm", "keras2torch").returncode == 0
    return _git(dest, "rev-parse", "HEAD").stdout.strip()


@pytest.mark.skipif(shutil.which("pre-commit") is None or shutil.which("git") is None,
                    reason="needs the pre-commit tool and git (pip install pre-commit)")
def test_pre_commit_hook_generates_the_twin_fails_once_then_passes(tmp_path: Path) -> None:
    hook_repo, user = tmp_path / "keras2torch", tmp_path / "user"
    hook_repo.mkdir()
    user.mkdir()
    sha = _project_copy(hook_repo)
    (user / "mlp_keras.py").write_text(MLP)
    (user / "notes.py").write_text("print('not Keras')\n")
    (user / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {hook_repo}\n  rev: {sha}\n  hooks:\n  - id: keras2torch-translate\n"
        "  - id: keras2torch-check\n")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache")}
    assert _git(user, "init", "-q").returncode == 0
    install = subprocess.run(["pre-commit", "install"], cwd=user, env=env, capture_output=True,
                             text=True, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    _git(user, "add", "-A")
    first = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                            "commit", "-m", "first"], cwd=user, env=env, capture_output=True,
                           text=True, timeout=600, check=False)
    assert first.returncode == 1, first.stdout + first.stderr  # the hook wrote the twin
    assert "wrote mlp_torch.py from mlp_keras.py" in first.stdout + first.stderr
    twin = user / "mlp_torch.py"
    assert files.generated_from(twin.read_text()) == "mlp_keras.py"
    assert not (user / "notes_torch.py").exists()
    _git(user, "add", "-A")
    second = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                             "commit", "-m", "first"], cwd=user, env=env, capture_output=True,
                            text=True, timeout=600, check=False)
    assert second.returncode == 0, second.stdout + second.stderr
    assert _git(user, "status", "--porcelain").stdout == ""
    # a hand edit of the twin is undone by the hook, and the commit fails once
    twin.write_text(twin.read_text() + "x = 1\n")
    _git(user, "add", "-A")
    third = subprocess.run(["pre-commit", "run"], cwd=user, env=env, capture_output=True,
                           text=True, timeout=600, check=False)
    assert third.returncode == 1 and "x = 1" not in twin.read_text()
    # the hook environment has no ML framework in it
    envs = list((tmp_path / "cache").glob("repo*/py_env-*"))
    assert envs
    freeze = subprocess.run([str(envs[0] / "bin" / "python"), "-m", "pip", "list"],
                            capture_output=True, text=True, check=False).stdout.lower()
    assert "libcst" in freeze and "torch" not in freeze.replace("keras2torch", "")
    assert "tensorflow" not in freeze


# --- parity on many files -----------------------------------------------------------------------

def test_parity_on_a_directory_writes_junit_and_markdown(tmp_path: Path, capsys) -> None:
    pytest.importorskip("tensorflow")
    nbformat = pytest.importorskip("nbformat")
    import xml.etree.ElementTree as ET

    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    script = (ROOT / "tests" / "parity_cases" / "mlp_keras.py").read_text()
    head, seed, rest = script.partition("keras.utils.set_random_seed(0)\n")
    src = tmp_path / "checks"
    src.mkdir()
    (src / "mlp_keras.py").write_text(script)
    nb = new_notebook(cells=[new_markdown_cell("# MLP"), new_code_cell(head.strip()),
                             new_code_cell(seed + rest)])
    nbformat.write(nb, str(src / "mlp_nb_keras.ipynb"))
    (src / "helpers.py").write_text("def add(a, b):\n    return a + b\n")  # not Keras: skipped
    junit, markdown = tmp_path / "parity.xml", tmp_path / "parity.md"
    assert main(["parity", str(src), "--junit", str(junit), "--markdown", str(markdown)]) == 0
    root = ET.parse(junit).getroot()
    suites = root.findall("testsuite")
    assert root.tag == "testsuites" and len(suites) == 2
    assert root.get("failures") == "0" and root.get("errors") == "0"
    assert int(root.get("tests")) == sum(int(s.get("tests")) for s in suites) > 10
    assert {s.get("name") for s in suites} == {f"keras2torch parity {src / 'mlp_keras.py'}",
                                                f"keras2torch parity {src / 'mlp_nb_keras.ipynb'}"}
    summary = markdown.read_text()
    assert summary.startswith("## keras2torch parity passed") and "2 pass, 0 mismatch" in summary
    assert sorted(p.name for p in src.iterdir()) == ["helpers.py", "mlp_keras.py",
                                                     "mlp_nb_keras.ipynb"]  # nothing written
    capsys.readouterr()
    # a file that cannot be checked fails the run, and shows as an error in both reports
    (src / "lambda_keras.py").write_text(LAMBDA)
    assert main(["parity", str(src / "lambda_keras.py"), str(src / "mlp_keras.py"),
                 "--junit", str(junit), "--markdown", str(markdown)]) == 2
    root = ET.parse(junit).getroot()
    assert root.get("errors") == "1" and len(root.findall("testsuite")) == 2
    assert "⚠️ cannot check" in markdown.read_text() and "1 pass" in markdown.read_text()
