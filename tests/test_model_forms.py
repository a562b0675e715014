"""Model-building forms whose semantics need care: names Keras reads when a layer is added."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

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


FUNCTIONAL_BRANCHES = """
import keras
from keras import layers
inputs = keras.Input(shape=(8,))
a = layers.Dense(4)(inputs)
b = layers.Dense(4)(inputs)
outputs = layers.Add()([a, b])
model = keras.Model(inputs, outputs)
model.compile(optimizer="sgd", loss="mse")
"""


def test_functional_graph_with_branches_translates() -> None:
    result = translate_source(FUNCTIONAL_BRANCHES, filename="g.py")
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "outputs = self.add(a, b)" in result.code
    out = run(result.code + "\nimport torch\nprint(tuple(model(torch.ones(2, 8)).shape))\n")
    assert out.strip().endswith("(2, 4)")


def test_functional_graph_that_cannot_be_read_is_kept_and_marked() -> None:
    src = FUNCTIONAL_BRANCHES.replace("outputs = layers.Add()([a, b])", "outputs = layers.Add()([a, *more])")
    result = translate_source(src, filename="g.py")
    assert result.todos > 0
    assert "model = keras.Model(inputs, outputs)" in result.code and "TODO(keras2torch)" in result.code
    assert any(d.rule == "functional-graph" and d.line == 8 for d in result.diagnostics)


def test_functional_chain_reads_through_rebound_names() -> None:
    src = textwrap.dedent("""
        import keras
        inputs = keras.Input(shape=(6,))
        x = keras.layers.Dense(5, activation="relu")(inputs)
        x = keras.layers.Dense(4)(x)
        x = keras.layers.Dense(3)(x)
        net = keras.Model(inputs, x)
    """)
    result = translate_source(src)
    assert result.todos == 0 and "keras" not in result.code.split("\n", 1)[1]
    out = run(result.code + "\nprint([tuple(p.shape) for p in net.parameters()])\n")
    assert out.strip() == "[(5, 6), (5,), (4, 5), (4,), (3, 4), (3,)]"


def test_a_model_left_in_keras_keeps_every_statement() -> None:
    src = ("import keras\nmodel = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])\n"
           "model.add(keras.layers.ConvLSTM1D(3, 3))\nmodel.compile(optimizer='sgd', loss='mse')\n")
    result = translate_source(src)
    assert result.todos >= 1
    for line in src.splitlines()[1:]:
        assert line in result.code


def test_a_model_used_as_a_layer_and_shape_constants() -> None:
    """The TF beginner tutorial's `Sequential([model, Softmax()])`, with `input_shape` a constant."""
    src = textwrap.dedent("""
        import numpy as np
        import tensorflow as tf
        input_shape = (4, 3)
        num_classes = 5
        model = tf.keras.Sequential([tf.keras.layers.Flatten(input_shape=input_shape),
                                     tf.keras.layers.Dense(num_classes)])
        model.compile(optimizer="adam", loss="mse")
        probability_model = tf.keras.Sequential([model, tf.keras.layers.Softmax()])
        p = probability_model.predict(np.ones((2, 4, 3)), verbose=0)
    """)
    result = translate_source(src)
    assert result.todos == 0 and "Lazy" not in result.code
    assert "nn.Linear(12, num_classes)" in result.code and "self.model = model" in result.code
    out = run(result.code + "\nprint(p.shape, round(float(p.sum()), 4))\n"
              "print(all(a is b for a, b in zip(model.parameters(), probability_model.parameters())))\n")
    assert out.split() == ["(2,", "5)", "2.0", "True"]


def test_keras2_predict_classes_and_predict_proba() -> None:
    src = textwrap.dedent("""
        import numpy as np
        from keras.models import Sequential
        from keras.layers import Dense
        x = np.linspace(-1, 1, 12).reshape(6, 2)
        multi = Sequential([Dense(3, activation="softmax", input_dim=2)])
        multi.compile(optimizer="sgd", loss="categorical_crossentropy")
        binary = Sequential([Dense(1, activation="sigmoid", input_dim=2)])
        binary.compile(optimizer="sgd", loss="binary_crossentropy")
        a = multi.predict_classes(x)
        b = binary.predict_classes(x, batch_size=4)
        c = multi.predict_proba(x)
    """)
    result = translate_source(src)
    assert result.todos == 0
    out = run(result.code + "\nprint(a.shape, a.dtype.kind, b.shape, b.dtype, sorted(set(b.ravel()) - {0, 1}),"
              " (a == c.argmax(-1)).all())\n")
    assert out.split() == ["(6,)", "i", "(6,", "1)", "int32", "[]", "True"]


def test_lazy_modules_are_the_last_resort_with_a_warning() -> None:
    src = textwrap.dedent("""
        import numpy as np
        import keras
        def features():
            return 7
        model = keras.Sequential([keras.layers.Dense(4), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(np.ones((8, features())), np.ones(8), epochs=1, verbose=0)
    """)
    result = translate_source(src, filename="lazy.py")
    assert "nn.LazyLinear(4)" in result.code
    assert any(d.severity == "warning" and "lazy" in d.message.lower() for d in result.diagnostics), \
        [d.render() for d in result.diagnostics]
    out = run(result.code + "\nprint(model.dense.weight.shape)\n")
    assert out.strip() == "torch.Size([4, 7])"


def test_public_script_regressions() -> None:
    """Shapes read from the data for a conv, keras_core imports, Keras 1 keywords, boolean targets."""
    src = textwrap.dedent("""
        import numpy as np
        import keras_core as keras
        from keras_core.layers import Conv1D, AveragePooling1D, Conv2D, Dense, Flatten
        x = np.random.default_rng(0).random((6, 5, 5, 2)).astype("float32")
        y = np.eye(3)[np.arange(6) % 3].astype(bool)
        model = keras.Sequential()
        model.add(Conv2D(4, (3, 3), padding="same", input_shape=x.shape[1:]))
        model.add(Flatten())
        model.add(Dense(3, activation="softmax"))
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        history = model.fit(x, y, epochs=2, verbose=0)
        seq = keras.Sequential([Conv1D(nb_filter=2, filter_length=3, input_shape=(8, 1)),
                                AveragePooling1D(pool_length=2)])
    """)
    result = translate_source(src)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "import keras_core" not in result.code and "Lazy" not in result.code
    assert "nn.Conv2d(x.shape[1:][2], 4" in result.code and "nn.Linear(x.shape[1:][0] * x.shape[1:][1] * 4" \
        in result.code.replace("(x.shape[1:][0] * x.shape[1:][1])", "x.shape[1:][0] * x.shape[1:][1]")
    assert "nn.Conv1d(1, 2, kernel_size=3)" in result.code and "nn.AvgPool1d(2)" in result.code
    out = run(result.code + "\nprint(len(history.history['accuracy']))\n")
    assert out.strip().splitlines()[-1] == "2"


def test_keras1_slice_x_slices_arrays_and_lists() -> None:
    from translator.templates.torch_support import slice_X

    a, b = np.arange(10), np.arange(10, 20)
    assert slice_X(a, 2, 5).tolist() == [2, 3, 4]
    assert [x.tolist() for x in slice_X([a, b], 8)] == [[8, 9], [18, 19]]
    assert slice_X(a, np.array([3, 1])).tolist() == [3, 1]  # an index array picks rows


def test_keras1_conv1d_and_rnn_input_shape_from_data() -> None:
    src = ("from keras.models import Sequential\n"
           "from keras.layers import Convolution1D, SimpleRNN, Dense\n"
           "x = x.reshape(x.shape[0], -1, 1)\n"
           "model = Sequential()\n"
           "model.add(SimpleRNN(output_dim=8, inner_init='identity', input_shape=x.shape[1:]))\n"
           "model.add(Dense(2))\n"
           "m2 = Sequential()\n"
           "m2.add(Convolution1D(nb_filter=4, filter_length=3, subsample_length=2, input_shape=(20, 3)))\n")
    result = translate_source(src)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "KerasSimpleRNN(x.shape[1:][1], 8)" in result.code
    assert "keras_initializer(self.simple_rnn.weight_hh_l0, 'identity')" in result.code
    assert "nn.Conv1d(3, 4, kernel_size=3, stride=2)" in result.code


def test_compound_statement_headers_are_translated_or_marked():
    """`for x in [SGD(...)]:`, `if tf...:`, `elif`, `with`, `while` headers get the same treatment as
    simple statements: translated where a rule exists, else marked and reported, never left bare."""
    src = (
        "import keras\nimport tensorflow as tf\nfrom keras.optimizers import SGD\n"
        "model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1)])\n"
        "for opt in ['adam', SGD(learning_rate=0.1)]:\n    model.compile(optimizer=opt, loss='mse')\n"
        "if tf.test.is_gpu_available():\n    print('gpu')\nelif tf.executing_eagerly():\n    print('eager')\n"
        "with tf.device('/cpu:0'):\n    print('cpu')\n"
    )
    out = translate_source(src, filename="s.py")
    assert "for opt in ['adam', functools.partial(torch.optim.SGD, lr=0.1)]:" in out.code
    assert "if torch.cuda.is_available():" in out.code
    assert sorted(d.message for d in out.diagnostics) == [
        "`tf.device` has no rule", "`tf.executing_eagerly` has no rule"]
    marked = [ln.strip() for ln in out.code.splitlines() if "TODO(keras2torch)" in ln]
    assert len(marked) == 2
    compile(out.code, "s.py", "exec")


def test_to_categorical_keeps_the_label_shape_as_keras_does() -> None:
    """Sequence labels (batch, time) one-hot to (batch, time, classes); (n, 1) to (n, classes)."""
    import keras
    import numpy as np

    from translator.templates.torch_support import to_categorical

    cases = [(np.array([0, 2, 1]), None), (np.array([[1], [0]]), 3),
             (np.array([[0, 1, 2], [2, 2, 0]]), 4), (np.array([[[1], [0]]]), None)]
    for labels, classes in cases:
        ours, theirs = to_categorical(labels, classes), keras.utils.to_categorical(labels, classes)
        assert ours.shape == theirs.shape and np.array_equal(ours, theirs)
    src = "import keras\ny = keras.utils.to_categorical([[0, 1], [1, 0]], num_classes=2)\n"
    assert "y = to_categorical([[0, 1], [1, 0]], 2)" in translate_source(src).code


def test_layer_objects_named_in_a_sequential_list() -> None:
    """`normalizer = layers.X(...)` then `Sequential([normalizer, ...])` or `.add(dense)`: the layer
    joins the class and its statement goes with it; an object two models list is one module
    (Keras shares its weights); an object read anywhere else is refused, never left undefined."""
    src = (
        "import keras\nfrom keras import layers\n"
        "normalizer = layers.Normalization(mean=[0.5, 0.5], variance=[1.0, 4.0])\n"
        "dense = layers.Dense(4, activation='relu')\n"
        "model = keras.Sequential([keras.Input((2,)), normalizer, dense])\n"
        "model.add(layers.Dense(1))\n"
        "other = keras.Sequential()\nother.add(keras.Input((2,)))\nother.add(dense)\n")
    result = translate_source(src)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "normalizer =" not in result.code and "dense = layers" not in result.code
    assert "self.normalization = Normalization(mean=[0.5, 0.5], variance=[1.0, 4.0])" in result.code
    assert "self.dense = model.dense  # the layer `model` has: the same weights" in result.code
    refused = translate_source(src + "print(dense.units)\n")
    assert any("`dense` is also used outside the model's layer list" in d.message
               for d in refused.diagnostics)


def test_keras_model_attributes_the_module_lacks_are_reported() -> None:
    """`model.layers[1].kernel`, `model.input_shape`: reading them from the translated module would
    fail at run time, so each is a TODO with its position; the translation's own attributes and
    method calls are not."""
    src = ("import keras\nmodel = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n"
           "model.compile(loss='mse', optimizer='sgd')\n"
           "print(model.layers[0].kernel)\nprint(model.input_shape)\n"
           "print(model.optimizer, model.stop_training)\nmodel.summary()\n")
    result = translate_source(src)
    found = sorted((d.line, d.rule) for d in result.diagnostics if d.severity == "todo")
    assert found == [(4, "unsupported-attribute"), (5, "unsupported-attribute")], found
    assert "`model.layers` (a Keras model attribute) has no rule" in result.diagnostics[0].message


def test_tf_linspace_becomes_numpys_as_a_tensor() -> None:
    import numpy as np
    import tensorflow as tf
    import torch

    result = translate_source("import tensorflow as tf\nx = tf.linspace(-2.0, 3.5, 12)\n")
    assert result.todos == 0
    line = next(x for x in result.code.splitlines() if x.startswith("x = "))
    ours = eval(line[4:], {"torch": torch, "np": np})
    np.testing.assert_allclose(ours.numpy(), tf.linspace(-2.0, 3.5, 12).numpy(), rtol=1e-6)
