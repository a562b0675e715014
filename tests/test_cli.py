"""The command line as users meet it: exit codes, outputs, diagnostics, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from translator.cli import main

from .conftest import FIXTURES

MLP = FIXTURES / "mlp_tf_keras" / "input.py"
UNKNOWN_LAYER = """import tensorflow as tf
model = tf.keras.Sequential([
    tf.keras.Input(shape=(10, 6, 4)),
    tf.keras.layers.ConvLSTM1D(8, 3),
    tf.keras.layers.Dense(1),
])
model.compile(optimizer="adam", loss="mse")
"""


def test_single_file_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["translate", str(MLP)]) == 0
    out, err = capsys.readouterr()
    assert "class " in out and "nn.Module" in out
    assert "0 item(s) left" in err


def test_untranslatable_layer_is_kept_marked_and_exits_1(tmp_path: Path, capsys) -> None:
    src = tmp_path / "lstm.py"
    src.write_text(UNKNOWN_LAYER)
    out_file = tmp_path / "lstm_torch.py"
    assert main(["translate", str(src), "-o", str(out_file)]) == 1
    err = capsys.readouterr().err
    assert f"{src}:4:5: todo [unsupported-layer] layer `ConvLSTM1D` has no rule" in err
    text = out_file.read_text()
    assert "# TODO(keras2torch)" in text and "tf.keras.layers.ConvLSTM1D(8, 3)" in text
    assert src.read_text() == UNKNOWN_LAYER  # the input is never modified


def test_syntax_error_exits_2_and_writes_nothing(tmp_path: Path, capsys) -> None:
    src = tmp_path / "bad.py"
    src.write_text("import keras\nmodel = (\n")
    out_file = tmp_path / "out.py"
    assert main(["translate", str(src), "-o", str(out_file)]) == 2
    err = capsys.readouterr().err
    assert "error [syntax]" in err and str(src) in err and "Traceback" not in err
    assert not out_file.exists()


def test_missing_file_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["translate", str(tmp_path / "nope.py")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_several_sources_need_an_output_directory(capsys) -> None:
    assert main(["translate", str(MLP), str(MLP)]) == 2
    assert "-o DIR" in capsys.readouterr().err


def test_directory_mirrors_tree_and_skips_non_keras(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "model.py").write_text(MLP.read_text())
    (src / "helpers.py").write_text("def add(a, b):\n    return a + b\n")
    out = tmp_path / "out"
    assert main(["translate", str(src), "-o", str(out), "--report-json", str(tmp_path / "r.json")]) == 0
    assert (out / "sub" / "model.py").exists()
    assert not (out / "helpers.py").exists()
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"]["exit_code"] == 0 and report["summary"]["layers"] == 3


def test_named_non_keras_file_passes_through(tmp_path: Path, capsys) -> None:
    src = tmp_path / "plain.py"
    src.write_text("# nothing to do\nprint(1)\n")
    assert main(["translate", str(src)]) == 0
    assert capsys.readouterr().out == "# nothing to do\nprint(1)\n"


def test_stdin(monkeypatch, capsys) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(MLP.read_text()))
    assert main(["translate", "-"]) == 0
    assert "nn.Linear" in capsys.readouterr().out


def test_refuses_to_overwrite_the_input(tmp_path: Path, capsys) -> None:
    src = tmp_path / "m.py"
    src.write_text(MLP.read_text())
    assert main(["translate", str(src), "-o", str(src)]) == 2
    assert src.read_text() == MLP.read_text()


def test_rules_command_lists_every_layer(capsys) -> None:
    assert main(["rules", "--markdown"]) == 0
    out = capsys.readouterr().out
    for name in ("Dense", "Conv2D", "BatchNormalization", "EarlyStopping", "Adam"):
        assert name in out


def test_import_translator_loads_no_framework() -> None:
    import subprocess
    import sys

    code = ("import sys, translator, translator.cli; "
            "print([m for m in ('torch', 'tensorflow', 'keras', 'fastai') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
