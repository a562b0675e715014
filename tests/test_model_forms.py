"""Model-building forms whose semantics need care: names Keras reads when a layer is added."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from translator import translate_source


def run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_add_reads_layer_arguments_when_the_layer_is_added() -> None:
    src = textwrap.dedent("""
        import keras

        def build(width):
            model = keras.Sequential()
            model.add(keras.layers.Dense(width, activation="relu", input_shape=(3,)))
            width = width // 2
            model.add(keras.layers.Dense(width))
            width += 100
            model.add(keras.layers.Dense(1))
            return model

        units = 8
        model = keras.Sequential()
        model.add(keras.layers.Dense(units, input_shape=(4,)))
        units = 2
        model.add(keras.layers.Dense(units))
        m2 = build(16)
    """)
    result = translate_source(src)
    assert not result.todos
    out = run(result.code + "\nprint([tuple(p.shape) for p in model.parameters()])"
                  "\nprint([tuple(p.shape) for p in m2.parameters()])\n").splitlines()
    assert out[0] == "[(8, 4), (8,), (2, 8), (2,)]"
    assert out[1] == "[(16, 3), (16,), (8, 16), (8,), (1, 8), (1,)]"


def test_diagnostics_on_rewritten_statements_point_at_their_source_line() -> None:
    src = "import keras\nmodel = keras.Sequential([keras.layers.Dense(1, input_shape=(2,))])\n\n" \
          "model.frobnicate()\n"
    result = translate_source(src, filename="s.py")
    assert [d.render() for d in result.diagnostics if d.rule == "unsupported-method"] == [
        "s.py:4:1: todo [unsupported-method] `model.frobnicate()` has no rule"]


def test_names_not_rebound_are_not_captured() -> None:
    src = textwrap.dedent("""
        import keras
        n = 5
        model = keras.Sequential()
        model.add(keras.layers.Dense(n, input_shape=(2,)))
        model.add(keras.layers.Dense(n))
    """)
    code = translate_source(src).code
    assert "n_1" not in code and "nn.Linear(2, n)" in code


def test_assigning_a_framework_value_keeps_the_statement() -> None:
    src = "import tensorflow as tf\nversion = tf.__version__\nprint(version)\nL = tf.keras.layers\n"
    result = translate_source(src)
    assert "version = torch.__version__\nprint(version)" in result.code
    assert "L = " not in result.code and result.todos == 0  # a module rename is read through, then dropped
