"""Parity end to end with real TensorFlow/Keras and real PyTorch: correct translations pass,
planted bugs fail at the right layer or training figure, broken scripts give a clear exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from translator import translate_source
from translator.cli import main
from translator.parity.check import ParityOptions, ParityResult, run_parity
from translator.parity.report import render_json, render_junit, render_text

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "parity_cases"
FIXTURES = ROOT / "fixtures"


def translate(src: Path):
    result = translate_source(src.read_text(), filename=str(src))
    assert not result.todos, [d.render() for d in result.diagnostics]
    return result


def plant(code: str, *edits: tuple[str, str]) -> str:
    """A bug planted in the translated text; each edit must apply exactly once."""
    for old, new in edits:
        assert code.count(old) == 1, f"{old!r} occurs {code.count(old)} times"
        code = code.replace(old, new)
    return code


def without_line(code: str, fragment: str) -> tuple[str, str]:
    """An edit that deletes the one line holding `fragment`."""
    line = next(line for line in code.splitlines(keepends=True) if fragment in line)
    return line, ""


def parity(case: str, *edits: tuple[str, str], drop: str = "", **options) -> ParityResult:
    src = CASES / f"{case}_keras.py"
    result = translate(src)
    code = plant(result.code, *edits, *([without_line(result.code, drop)] if drop else []))
    return run_parity(src, code, result.models, ParityOptions(**options))


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if "__pycache__" not in p.parts)


@pytest.fixture(scope="session")
def mlp() -> ParityResult:
    before = listing(CASES)
    result = parity("mlp")
    assert listing(CASES) == before, "parity wrote beside the source"
    return result


@pytest.fixture(scope="session")
def cnn() -> ParityResult:
    return parity("cnn")


def _describe(result: ParityResult) -> str:
    return render_text(result)


# --- correct translations -------------------------------------------------------------------

def test_correct_mlp_translation_passes(mlp):
    assert mlp.verdict.status == "pass", _describe(mlp)
    assert mlp.exit_code == 0
    assert [r.keras_name for r in mlp.rows] == ["dense", "batch_normalization", "dropout",
                                                "dense_1", "dense_2"]
    assert all(r.status == "ok" for r in mlp.rows)
    assert mlp.output.status == "ok"
    assert mlp.verdict.max_abs_diff < 1e-5
    kinds = {f.kind for f in mlp.train.figures}
    assert kinds == {"batch", "loss", "gradient", "hyperparameter", "update"}
    assert all(f.status == "ok" for f in mlp.train.figures), _describe(mlp)
    # every trainable Keras weight has its gradient compared, every weight its update
    assert sum(f.kind == "gradient" for f in mlp.train.figures) == 8
    assert sum(f.kind == "update" for f in mlp.train.figures) == 10


def test_correct_cnn_translation_passes(cnn):
    assert cnn.verdict.status == "pass", _describe(cnn)
    rows = {r.keras_name: r for r in cnn.rows}
    assert rows["conv2d"].keras_shape == rows["conv2d"].torch_shape == (16, 8, 8, 8)
    assert rows["flatten"].torch_shape == (16, 96)
    assert all(r.max_abs < 1e-5 for r in cnn.rows)


def test_batchnorm_statistics_are_randomised_and_bounded(cnn):
    update = next(f for f in cnn.train.figures if f.name.startswith("batch_normalization/moving_var"))
    assert update.status == "ok" and "biased_variance" in update.bound


def test_text_report(mlp):
    text = render_text(mlp, "mlp_keras.py")
    header = next(line for line in text.splitlines() if line.startswith("Keras layer"))
    for column in ("class", "PyTorch module", "Keras shape", "PyTorch shape", "max abs", "max rel",
                   "status"):
        assert column in header
    assert any(line.startswith("batch_normalization") and "BatchNormalization" in line
               and "(32, 32)" in line and line.endswith("ok") for line in text.splitlines())
    assert "verdict: PASS" in text
    assert "lr (Keras learning_rate)" in text


def test_json_report(mlp):
    data = json.loads(render_json(mlp, "mlp_keras.py"))
    assert data["status"] == "pass" and data["first_divergence"] is None
    assert {"status", "first_divergence", "max_abs_diff", "layers", "train", "message"} <= data.keys()
    assert data["layers"][0]["keras_name"] == "dense"
    assert data["layers"][0]["torch_path"] == "dense"
    assert data["layers"][0]["keras_shape"] == [32, 32]
    assert data["train"]["steps"] == 1
    assert {f["kind"] for f in data["train"]["figures"]} >= {"loss", "gradient"}


def test_junit_report(cnn):
    suite = ET.fromstring(render_junit(cnn, "cnn_keras.py")).find("testsuite")
    assert int(suite.get("tests")) == len(cnn.rows) + 1 + len(cnn.train.figures)
    assert suite.get("failures") == "0" and suite.get("errors") == "0"


# --- planted bugs -----------------------------------------------------------------------------

def test_wrong_activation_is_found_at_its_layer():
    result = parity("mlp", ("nn.Linear(32, 16), nn.Tanh()", "nn.Linear(32, 16), nn.Sigmoid()"))
    assert result.exit_code == 1
    assert result.verdict.first_divergence == "dense_1", _describe(result)
    assert [r.status for r in result.rows[:3]] == ["ok", "ok", "ok"]


def test_batchnorm_epsilon_left_at_the_torch_default():
    result = parity("cnn", ("nn.BatchNorm2d(8, eps=0.001, momentum=0.01)",
                            "nn.BatchNorm2d(8, momentum=0.01)"))
    assert result.exit_code == 1
    assert result.verdict.first_divergence == "batch_normalization", _describe(result)


def test_flatten_order_not_fixed():
    result = parity("cnn", drop="x = x.permute(0, 2, 3, 1)")
    assert result.exit_code == 1
    assert result.verdict.first_divergence == "flatten", _describe(result)
    problem = next(r for r in result.rows if r.keras_name == "flatten").first_problem()
    assert "inside forward()" in problem.what
    assert "Keras (16, 4, 4, 6), PyTorch (16, 6, 4, 4)" in problem.describe()


def test_double_softmax():
    result = parity("mlp", ("        x = self.dense_2(x)\n        return x\n",
                            "        x = self.dense_2(x)\n        return torch.softmax(x, dim=-1)\n"))
    assert result.exit_code == 1, _describe(result)
    assert "double softmax" in result.verdict.message
    loss = next(f for f in result.train.figures if f.kind == "loss")
    assert loss.status == "inaccurate"


def test_wrong_validation_split_is_caught_by_the_first_batch():
    # validation rows taken from the start instead of the end
    right = "head, tail = slice(None, split), slice(split, None)"
    wrong = "tail, head = slice(None, rows(x) - split), slice(rows(x) - split, None)"
    result = parity("mlp", (right, wrong))
    assert result.exit_code == 1, _describe(result)
    batch = result.train.first_failure()
    assert batch.kind == "batch" and "validation_split" in batch.message


def test_wrong_learning_rate_through_the_command(tmp_path, capsys):
    src = CASES / "mlp_keras.py"
    edited = tmp_path / "mlp_torch.py"
    edited.write_text(plant(translate(src).code, ("lr=0.003", "lr=0.03")))
    report, junit = tmp_path / "report.json", tmp_path / "report.xml"
    code = main(["parity", str(src), "--translated", str(edited), "--json", str(report),
                 "--junit", str(junit)])
    out = capsys.readouterr().out
    assert code == 1, out
    data = json.loads(report.read_text())
    assert data["status"] == "fail" and data["first_divergence"] is None
    assert all(row["status"] == "ok" for row in data["layers"])
    failed = [f for f in data["train"]["figures"] if f["status"] != "ok"]
    assert failed[0]["name"] == "lr (Keras learning_rate)"
    assert {f["kind"] for f in failed[1:]} == {"update"}  # a 10x step also moves the weights
    assert failed[0]["keras"] == "0.003000000026077032" and failed[0]["torch"] == "0.03"
    assert "first divergence: training, lr (Keras learning_rate)" in out
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("failures") == str(len(failed))


def test_a_hand_written_port_with_its_own_names_and_a_dataloader(capsys):
    """Capture by structure only: other module names, a shuffling DataLoader, a plain loop."""
    status = main(["parity", str(CASES / "mlp_keras.py"), "--translated",
                   str(CASES / "mlp_by_hand_torch.py"), "--train-steps", "3"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "copied by parameter order" in out and "missing `dense`" in out
    assert any(line.split()[:3] == ["dense", "Dense", "body.0"] for line in out.splitlines())
    assert "3 steps" in out and "moving_variance after 3 steps" in out


# --- porting trained weights ------------------------------------------------------------------

@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Path:
    """The MLP case trained by Keras and saved both ways, with its first kernel for reference."""
    folder = tmp_path_factory.mktemp("trained")
    script = folder / "train.py"
    script.write_text((CASES / "mlp_keras.py").read_text() + (
        "model.save('trained.keras')\n"
        "model.save_weights('trained.weights.h5')\n"))
    # the reference kernel is read by a script of its own: `model.layers` has no translation
    (folder / "kernel.py").write_text(
        "import keras\nimport numpy as np\n"
        "np.save('kernel.npy', keras.models.load_model('trained.keras').layers[0].get_weights()[0])\n")
    for name in ("train.py", "kernel.py"):
        subprocess.run([sys.executable, name], cwd=folder, check=True, capture_output=True, timeout=300)
    return folder


@pytest.mark.parametrize("saved", ["trained.keras", "trained.weights.h5"])
def test_weights_command_ports_a_trained_model(trained, saved, tmp_path, capsys):
    import numpy as np
    import torch

    before = listing(trained)
    out = tmp_path / "state.pt"
    status = main(["weights", str(trained / saved), "-o", str(out),
                   "--script", str(trained / "train.py")])
    text = capsys.readouterr().out
    assert status == 0, text
    assert "verdict: PASS" in text and f"wrote {out}" in text
    state = torch.load(out)
    assert list(state) == ["dense.0.weight", "dense.0.bias", "batch_normalization.weight",
                           "batch_normalization.bias", "batch_normalization.running_mean",
                           "batch_normalization.running_var",
                           "batch_normalization.num_batches_tracked", "dense_1.0.weight",
                           "dense_1.0.bias", "dense_2.weight", "dense_2.bias"]
    np.testing.assert_array_equal(state["dense.0.weight"].numpy(), np.load(trained / "kernel.npy").T)
    assert listing(trained) == before


# --- scripts that cannot be checked -----------------------------------------------------------

KERAS_HEAD = ("import keras\nimport numpy as np\n"
              "model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2)])\n"
              "model.compile(optimizer='sgd', loss='mse')\n")


def test_a_crashing_keras_script(tmp_path, capsys):
    src = tmp_path / "crash.py"
    src.write_text(KERAS_HEAD + "raise ValueError('no data today')\n"
                                "model.fit(np.zeros((8, 4)), np.zeros((8, 2)))\n")
    status = main(["parity", str(src)])
    out = capsys.readouterr().out
    assert status == 2
    assert "ValueError: no data today" in out
    assert "end of the Keras script's output" in out
    assert "Traceback" in out  # the script's own traceback, shown as the script's output
    assert "translator/parity" not in out  # ...without frames of ours


def test_a_hanging_keras_script(tmp_path, capsys):
    src = tmp_path / "hang.py"
    src.write_text(KERAS_HEAD + "import time\ntime.sleep(600)\n"
                                "model.fit(np.zeros((8, 4)), np.zeros((8, 2)))\n")
    status = main(["parity", str(src), "--timeout", "3", "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert status == 2
    assert "timed out after 3 s" in out
    assert json.loads((tmp_path / "r.json").read_text())["status"] == "error"


def test_untranslated_parts_are_refused_before_running(tmp_path, capsys):
    src = tmp_path / "lambda.py"
    src.write_text("import keras\n"
                   "model = keras.Sequential([keras.Input(shape=(4,)), "
                   "keras.layers.TextVectorization(max_tokens=8)])\n")
    assert main(["parity", str(src)]) == 2
    assert "untranslated parts" in capsys.readouterr().out


def test_torch_runner_reports_scripts_that_never_train(tmp_path):
    """The PyTorch side on its own: sys.exit, a crash and no training each give a clear status."""
    cases = {
        "exited": "import sys\nimport torch\nsys.exit(0)\n",
        "script-error": "import torch\ntorch.zeros(2) @ torch.zeros(3)\n",
        "no-training": "import torch\nprint(torch.nn.Linear(2, 2)(torch.zeros(1, 2)))\n",
    }
    for status, text in cases.items():
        folder = tmp_path / status
        folder.mkdir()
        (folder / "s.py").write_text(text)
        subprocess.run([sys.executable, "-m", "translator.parity.torch_runner", "s.py", "."],
                       cwd=folder, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                       capture_output=True, timeout=120, check=True)
        meta = json.loads((folder / "torch.json").read_text())
        assert meta["status"] == status, meta


def test_importing_the_commands_loads_no_framework():
    code = ("import sys, translator.parity.command\n"
            "loaded = {'numpy', 'torch', 'tensorflow', 'keras'} & set(sys.modules)\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
