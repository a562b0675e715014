"""Subclassed keras.Model / keras.layers.Layer classes (translator/subclass.py) and the Keras tensor
functions of rules/ops.toml: translation units, every ops.toml example, the support code run in
torch, and parity of four subclassed models against real Keras."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

from translator import translate_source
from translator.parity.batch import check_many
from translator.parity.check import ParityOptions
from translator.parity.report import render_text
from translator.subclass import load_ops

OPS = load_ops()
PRELUDE = """import tensorflow as tf
import keras
from keras import ops
from keras import backend as K


class Probe(keras.layers.Layer):
    def call(self, x, y=None, z=None):
        return {expression}
"""


def _examples():
    for rule in OPS.rules:
        for i, example in enumerate(rule.examples):
            yield pytest.param(rule, example, id=f"{rule.id}-{i}")


def _translated_return(expression: str) -> str:
    result = translate_source(PRELUDE.format(expression=expression))
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    return re.search(r"^        return (.+)$", result.code, re.MULTILINE).group(1)


@pytest.mark.parametrize(("rule", "example"), _examples())
def test_op_example(rule, example) -> None:
    assert _translated_return(example["keras"]) == example["torch"]


def test_op_examples_compute_what_keras_computes() -> None:
    """Each tf./keras.ops example, run in TensorFlow and its translation run in torch, agree
    (the keras.backend ones are Keras 2's and have no Keras 3 to run against; random draws are
    compared by shape)."""
    import keras
    import tensorflow as tf
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    x, y = (rng.uniform(0.1, 1.0, (2, 4, 4)).astype("float32") * rng.choice([-1, 1], (2, 4, 4))
            for _ in range(2))
    checked = 0
    for rule in OPS.rules:
        for example in rule.examples:
            if "K." in example["keras"] or "initializers" in example["keras"] \
                    or rule.id.startswith("initializer"):
                continue
            want = np.asarray(eval(example["keras"], {"tf": tf, "ops": keras.ops, "keras": keras,
                                                       "x": x, "y": y}))
            got = eval(example["torch"], {"torch": torch, "F": F, "x": torch.from_numpy(x),
                                          "y": torch.from_numpy(y)})
            got = np.asarray(got.numpy() if hasattr(got, "numpy") else got)
            assert got.shape == want.shape, example
            if rule.id.startswith("random"):  # random streams differ: the shape only
                continue
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=str(example))
            checked += 1
    assert checked > 50


def test_ops_table_names_exist() -> None:
    """Every tf./keras.ops key is a real function of the installed TensorFlow / Keras 3."""
    import importlib

    import keras
    import tensorflow as tf

    roots = {"tensorflow": tf, "keras": keras}
    keras2_only = {"tensorflow.log"}  # TensorFlow 1's name for tf.math.log
    for key in [*OPS.calls, *OPS.attributes]:
        if key.startswith("keras.backend.") or key in keras2_only:
            continue  # Keras 3 dropped the backend functions: their rules follow tf.keras 2
        obj = roots[key.split(".")[0]]
        for part in key.split(".")[1:]:
            assert hasattr(obj, part), key
            obj = getattr(obj, part)
    torch = importlib.import_module("torch")
    for rule in OPS.rules:
        if rule.torch:
            head, _, name = rule.torch.rpartition(".")
            module = torch.nn.functional if head == "F" else torch
            assert hasattr(module, name), rule.torch


# --- translation -----------------------------------------------------------------------------

MLP = '''import numpy as np
from keras import Model
from keras import layers


class MyModel(Model):
    def __init__(self, hidden_dim, output_dim):
        super().__init__(name="my_model")
        self.dense1 = layers.Dense(hidden_dim, activation="relu")
        self.dropout = layers.Dropout(0.2)
        self.dense2 = layers.Dense(output_dim)

    def call(self, x, training=None):
        x = self.dense1(x)
        if training:
            x = self.dropout(x, training=training)
        return self.dense2(x)


model = MyModel(hidden_dim=16, output_dim=3)
model.compile(optimizer="adam", loss="mse")
model.fit(np.zeros((8, 5)), np.zeros((8, 3)), epochs=1)
print(model.predict(np.zeros((2, 5))))
'''


def _imported_roots(code: str) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_subclassed_model_becomes_a_module_trained_like_sequential() -> None:
    result = translate_source(MLP)
    code = result.code
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "class MyModel(nn.Module):" in code
    assert "super().__init__()\n" in code and 'name="my_model"' not in code
    assert "def forward(self, x):" in code and "def call" not in code
    # the first size comes from the first batch; the next follows from the first layer's units
    assert "self.dense1 = nn.Sequential(nn.LazyLinear(hidden_dim), nn.ReLU(inplace=True))" in code
    assert "self.dense2 = nn.Linear(hidden_dim, output_dim)" in code
    assert "if self.training:\n            x = self.dropout(x)\n" in code
    assert "model.optimizer = torch.optim.Adam(model.parameters(), eps=1e-07)" in code
    assert "fit(model, np.zeros((8, 5)), np.zeros((8, 3)), epochs=1)" in code
    assert "predict(model, np.zeros((2, 5)))" in code
    assert _imported_roots(code) == {"math", "time", "types", "numpy", "torch"}
    (info,) = result.models
    assert info.variable == "model" and info.class_name == "MyModel"
    assert [(m.keras_name, m.keras_class, m.attribute) for m in info.layers] == [
        ("dense", "Dense", "dense1"), ("dropout", "Dropout", "dropout"), ("dense_1", "Dense", "dense2")]
    assert info.layers[0].weights == (("kernel", "0.weight", (1, 0), ()), ("bias", "0.bias", None, ()))
    assert any(d.rule == "lazy-module" and "dense1" in d.message for d in result.diagnostics)


def test_convolutions_get_channels_first_only_around_them() -> None:
    src = '''import keras
from keras import layers


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = layers.Conv2D(4, 3, padding="same")
        self.bn = layers.BatchNormalization()
        self.flat = layers.Flatten()
        self.head = layers.Dense(2)

    def call(self, images):
        x = self.conv(images)
        x = self.bn(x)
        y = images + x
        return self.head(self.flat(self.conv(y)))
'''
    result = translate_source(src)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    forward = result.code.split("def forward")[1]
    assert forward.splitlines()[1:7] == [
        "        images = images.movedim(-1, 1)  # Keras feeds channels last; torch convolves channels first",
        "        x = self.conv(images)",
        "        x = self.bn(x)",
        "        images = images.movedim(1, -1)  # back to channels last, as Keras orders the axes",
        "        x = x.movedim(1, -1)  # back to channels last, as Keras orders the axes",
        "        y = images + x",
    ]
    assert "return self.head(self.flat(self.conv(y.movedim(-1, 1)).movedim(1, -1)))" in forward
    assert "self.bn = nn.BatchNorm2d(4, eps=0.001, momentum=0.01)" in result.code  # rank and channels known


CUSTOM_LAYER = '''import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers


class Antirectifier(layers.Layer):
    def __init__(self, initializer="he_normal", **kwargs):
        super(Antirectifier, self).__init__(**kwargs)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        output_dim = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(output_dim * 2, output_dim), initializer=self.initializer, name="kernel", trainable=True)
        self.scale = self.add_weight(shape=(output_dim,), initializer="ones", trainable=False)
        super().build(input_shape)

    def call(self, inputs):
        inputs -= tf.reduce_mean(inputs, axis=-1, keepdims=True)
        concatenated = tf.concat([tf.nn.relu(inputs), tf.nn.relu(-inputs)], axis=-1)
        return tf.matmul(concatenated, self.kernel) * self.scale

    def get_config(self):
        return super().get_config()


model = keras.Sequential([keras.Input(shape=(8,)), layers.Dense(4), Antirectifier(), layers.Dense(2)])
'''


def test_custom_layer_weights_are_shaped_by_build_on_the_first_call() -> None:
    result = translate_source(CUSTOM_LAYER)
    code = result.code
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "class Antirectifier(KerasLayer):" in code and "class KerasLayer(" in code
    assert "def __init__(self, initializer=\"he_normal\", **kwargs):\n        super().__init__()\n" \
           "        self.kernel = nn.UninitializedParameter()  # shaped by build() on the first call, as in Keras\n" \
           "        self.scale = nn.UninitializedParameter(requires_grad=False)" in code
    assert "self.initializer = initializer\n" in code
    assert "self.kernel = keras_weight(self.kernel, (output_dim * 2, output_dim), self.initializer)" in code
    assert "self.scale = keras_weight(self.scale, (output_dim,), 'ones')" in code
    assert "super().build" not in code and "get_config" not in code
    assert "inputs = inputs - torch.mean(inputs, dim=-1, keepdim=True)" in code  # never in place
    assert "return torch.matmul(concatenated, self.kernel) * self.scale" in code
    assert "self.antirectifier = Antirectifier()" in code  # inside the Sequential model
    assert any(d.rule == "subclass" and "get_config" in d.message for d in result.diagnostics)
    (info,) = result.models
    assert info.layers[1].keras_class == "Antirectifier"
    assert info.layers[1].weights == (("kernel", "kernel", None), ("variable", "scale", None))


@pytest.mark.parametrize(("snippet", "rule", "message"), [
    ("self.add_loss(tf.reduce_sum(x))\n        return x", "subclass", "self.add_loss() has no torch counterpart"),
    ("return tf.signal.rfft(x)", "untranslated", "`tf.signal.rfft` has no rule"),
    ("return tf.reduce_max(x, initial=0.0)", "unsupported-op", "reduce_max(initial=...) is not supported"),
    ("return tf.cast(x, 'string')", "unsupported-op", "dtype 'string' has no torch rule"),
])
def test_untranslatable_calls_stay_with_a_todo(snippet: str, rule: str, message: str) -> None:
    src = ("import tensorflow as tf\nfrom tensorflow import keras\n\n\nclass M(keras.Model):\n"
           f"    def call(self, x):\n        {snippet}\n")
    result = translate_source(src)
    todos = [d for d in result.diagnostics if d.severity == "todo"]
    assert [(d.rule, d.message) for d in todos] == [(rule, message)]
    assert f"# TODO(keras2torch): {message}" in result.code
    assert "class M(nn.Module):" in result.code and "import tensorflow as tf" in result.code


def test_training_loops_build_time_layers_and_regularizers_are_refused() -> None:
    src = '''import keras


class Scaled(keras.layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), regularizer="l2")
        self.inner = keras.layers.Dense(3)

    def call(self, x):
        return x * self.w


class Trainer(keras.Model):
    def call(self, x):
        return x

    def train_step(self, data):
        return {}
'''
    result = translate_source(src)
    todos = {(d.rule, d.message) for d in result.diagnostics if d.severity == "todo"}
    assert todos == {
        ("subclass", "add_weight(regularizer=...) changes training in Keras: not translated"),
        ("subclass", "a layer created in build() would escape the optimizer in torch: create it in __init__"),
        ("subclass-training-step", "Trainer.train_step() customises Keras' training loop: not translated"),
    }
    assert "# TODO(keras2torch): train_step() customises Keras' training loop: not translated\n" \
           "    def train_step(self, data):" in result.code


def test_keras1_layer_without_call_is_left_in_keras() -> None:
    src = '''from keras import backend as K
from keras.layers.core import Layer


class Antirectifier(Layer):
    def get_output(self, train):
        x = self.get_input(train)
        return K.concatenate([K.relu(x), K.relu(-x)], axis=1)
'''
    result = translate_source(src)
    assert [(d.rule, d.message) for d in result.diagnostics if d.severity == "todo"] == [
        ("subclass", "`Antirectifier` is a Keras 1 layer (get_output): left in Keras")]
    assert "class Antirectifier(Layer):" in result.code and "from keras.layers.core import Layer" in result.code


def test_decorators_parent_calls_and_star_imports() -> None:
    src = '''import tensorflow as tf
from keras.layers import *
import keras


@keras.saving.register_keras_serializable()
class Base(keras.Model):
    def __init__(self, wide=False):
        super().__init__()
        self.inner = Dense(4)
        if wide:
            self.extra = Dense(8)

    @tf.function
    def call(self, x, training=None):
        return self.inner(x)


class Child(Base):
    def call(self, x, training=None):
        return super().call(x, training=training) * 2
'''
    result = translate_source(src)
    code = result.code
    assert "@tf.function" not in code and "register_keras_serializable" not in code
    assert "self.inner = nn.LazyLinear(4)" in code  # resolved through the star import
    assert "return super().forward(x) * 2" in code and "class Child(Base):" in code
    assert [(d.rule, d.message) for d in result.diagnostics if d.severity == "todo"] == [
        ("untranslated", "`Dense` has no rule")]  # a layer made conditionally is not followed
    assert {d.message.split(":")[0] for d in result.diagnostics if d.rule == "subclass"} == {
        "Keras' serialisation registry has no torch counterpart",
        "tf.function compiles a TensorFlow graph; torch runs the method as written"}


def test_model_returned_by_a_function_and_layer_lists() -> None:
    src = '''import keras
from keras import layers


class Stack(keras.Model):
    def __init__(self):
        super().__init__()
        self.blocks = [layers.Dense(8, activation="relu") for _ in range(3)]
        self.pair = [layers.Dense(4), layers.Dropout(0.5)]

    def call(self, x, training=False):
        for block in self.blocks:
            x = block(x, training=training)
        return self.pair[1](self.pair[0](x), training=training)


def make_model():
    return Stack()


model = make_model()
model.compile(optimizer="sgd", loss="mse")
'''
    result = translate_source(src)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    code = result.code
    assert "self.blocks = nn.ModuleList([nn.Sequential(nn.LazyLinear(8), nn.ReLU(inplace=True)) for _ in range(3)])" in code
    assert "self.pair = nn.ModuleList([nn.LazyLinear(4), nn.Dropout()])" in code
    assert "x = block(x)\n" in code and "return self.pair[1](self.pair[0](x))" in code
    assert "model.optimizer = torch.optim.SGD(model.parameters(), lr=0.01)" in code
    (info,) = result.models
    assert [(m.keras_name, m.attribute) for m in info.layers] == [
        ("dense", "blocks.0"), ("dense_1", "blocks.1"), ("dense_2", "blocks.2"),
        ("dense_3", "pair.0"), ("dropout", "pair.1")]


def test_translation_is_stable_and_left_alone() -> None:
    first = translate_source(MLP).code
    compile(first, "translated.py", "exec")
    assert translate_source(MLP).code == first
    again = translate_source(first)
    assert not again.uses_keras and again.code == first


# --- the support code, run in torch -----------------------------------------------------------

def test_keras_weight_initialises_in_keras_axis_order() -> None:
    import torch

    from translator.templates import torch_support_subclass

    ns = vars(torch_support_subclass)
    torch.manual_seed(0)
    w = ns["keras_weight"](torch.nn.UninitializedParameter(), (400, 30), "he_normal")
    assert isinstance(w, torch.nn.Parameter) and tuple(w.shape) == (400, 30)
    assert abs(float(w.detach().std()) - (2 / 400) ** 0.5) < 0.005  # Keras' fan_in is the first axis
    kernel = ns["keras_weight"](torch.nn.UninitializedParameter(), (3, 3, 4, 8), "HeUniform")
    assert float(kernel.detach().abs().max()) <= (6 / 36) ** 0.5  # fan_in = 3 * 3 * 4, not 3 * 3 * 8
    assert float(kernel.detach().abs().max()) > (6 / 72) ** 0.5
    eye = ns["keras_weight"](torch.nn.UninitializedParameter(), (3, 5), "identity")
    assert torch.equal(eye.detach(), torch.eye(3, 5))
    normal = ns["keras_weight"](torch.nn.UninitializedParameter(), (2000,),
                                {"name": "random_normal", "stddev": 0.5})
    assert abs(float(normal.detach().std()) - 0.5) < 0.05
    scalar = ns["keras_weight"](torch.nn.UninitializedParameter(requires_grad=False), (), "ones")
    assert float(scalar.detach()) == 1.0 and not scalar.requires_grad


def test_optimizer_made_before_the_first_call_trains_the_built_weights() -> None:
    import torch

    result = translate_source(CUSTOM_LAYER)
    namespace: dict = {}
    exec(compile(result.code, "translated.py", "exec"), namespace)  # noqa: S102
    layer = namespace["Antirectifier"]()
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.1)
    out = layer(torch.randn(5, 6))
    assert tuple(out.shape) == (5, 6) and tuple(layer.kernel.shape) == (12, 6)
    before = layer.kernel.detach().clone()
    out.square().sum().backward()
    optimizer.step()
    assert not torch.equal(before, layer.kernel.detach())
    assert layer.scale.grad is None and torch.equal(layer.scale.detach(), torch.ones(6))


# --- parity against real Keras ------------------------------------------------------------------

PARITY = {
    "mlp": '''import numpy as np
import tensorflow as tf
from tensorflow.keras import layers

tf.random.set_seed(0)
np.random.seed(0)


class MyModel(tf.keras.Model):
    def __init__(self, hidden_dim=16, output_dim=3):
        super(MyModel, self).__init__(name="my_model")
        self.dense1 = layers.Dense(hidden_dim, activation="relu")
        self.dropout = layers.Dropout(0.2)
        self.dense2 = layers.Dense(hidden_dim, activation="tanh")
        self.dense3 = layers.Dense(output_dim)

    def call(self, x, training=None):
        x = self.dense1(x)
        x = self.dropout(x, training=training)
        x = self.dense2(x)
        return self.dense3(x)


x = np.random.random((64, 12))
y = np.random.random((64, 3))
model = MyModel(hidden_dim=16, output_dim=3)
model.compile(optimizer=tf.keras.optimizers.RMSprop(0.001), loss="mse")
model.fit(x, y, batch_size=16, epochs=1, validation_split=0.25, verbose=0)
''',
    "convnet": '''import numpy as np
import keras
from keras import layers

keras.utils.set_random_seed(0)


class ConvNet(keras.Model):
    def __init__(self, num_classes=4):
        super().__init__()
        self.conv1 = layers.Conv2D(8, 3, activation="relu", padding="same")
        self.bn = layers.BatchNormalization()
        self.pool = layers.MaxPooling2D(2)
        self.conv2 = layers.Conv2D(6, (3, 3))
        self.gap = layers.GlobalAveragePooling2D()
        self.flatten = layers.Flatten()
        self.out = layers.Dense(num_classes, activation="softmax")

    def call(self, inputs, training=False):
        x = self.conv1(inputs)
        x = self.bn(x, training=training)
        skip = self.pool(x)
        x = self.conv2(skip)
        pooled = self.gap(x)
        flat = self.flatten(skip)
        both = keras.ops.concatenate([pooled, flat[:, :10]], axis=-1)
        return self.out(both)


x = np.random.random((40, 10, 10, 3)).astype("float32")
y = np.random.randint(0, 4, size=(40,))
model = ConvNet()
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, batch_size=8, epochs=1, verbose=0)
''',
    "custom_layer": "import numpy as np\n" + CUSTOM_LAYER.replace(
        "Dense(2)])", "Dense(8), Antirectifier('glorot_uniform'), layers.Dense(5)])") + '''
keras.utils.set_random_seed(0)
x = np.random.random((48, 8)).astype("float32")
y = np.random.randint(0, 5, size=(48,))
model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              optimizer=keras.optimizers.RMSprop(), metrics=["accuracy"])
model.fit(x, y, batch_size=16, epochs=1, verbose=0)
''',
    "ops": '''import numpy as np
import keras
import tensorflow as tf
from keras import layers, ops
from keras import backend as K

keras.utils.set_random_seed(0)


class Linear(keras.layers.Layer):
    def __init__(self, units=8, input_dim=8):
        super().__init__()
        self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return tf.matmul(inputs, self.w) + self.b


class Block(layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.inner = layers.Dense(units, activation="gelu")
        self.norm = layers.LayerNormalization()

    def build(self, input_shape):
        self.gain = self.add_weight(shape=(self.units,), initializer="ones", name="gain")

    def call(self, x, training=None):
        h = self.inner(x)
        if training:
            h = h * 1.0
        h = ops.normalize(h, axis=-1)
        return self.norm(x + h * self.gain)


class OpsModel(keras.Model):
    def __init__(self):
        super().__init__()
        self.proj = layers.Dense(8)
        self.block = Block(8)
        self.linear = Linear()
        self.head = layers.Dense(3)

    def call(self, inputs):
        x = self.linear(self.proj(inputs))
        x = self.block(x)
        m = tf.reduce_mean(x, axis=-1, keepdims=True)
        s = ops.sqrt(ops.mean(ops.square(x - m), axis=-1, keepdims=True) + K.epsilon())
        x = (x - m) / s
        both = tf.concat([tf.nn.relu(x), ops.maximum(x, 0.1), tf.sigmoid(x) * ops.tanh(x)], axis=-1)
        both = tf.transpose(tf.reshape(both, (-1, 3, 8)), perm=[0, 2, 1])
        flat = ops.reshape(both, (tf.shape(both)[0], -1))
        mixed = tf.einsum("bi,bi->bi", tf.math.l2_normalize(flat, axis=1), ops.log_softmax(flat, axis=-1))
        return self.head(mixed + tf.nn.leaky_relu(flat) * 0.01)


x = np.random.random((32, 6)).astype("float32")
y = np.random.random((32, 3)).astype("float32")
model = OpsModel()
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, batch_size=8, epochs=1, verbose=0)
''',
}


@pytest.fixture(scope="module")
def parity_outcomes(tmp_path_factory) -> dict:
    cases = []
    for name, source in PARITY.items():
        folder = tmp_path_factory.mktemp(name)
        path = Path(folder) / f"{name}_keras.py"
        path.write_text(source)
        result = translate_source(source, filename=str(path))
        assert result.todos == 0, [d.render() for d in result.diagnostics]
        cases.append((path, result.code, result.models))
    outcomes = check_many(cases, ParityOptions(timeout_s=120))
    return {name: (outcome, str(path)) for name, (path, _, _), outcome in zip(PARITY, cases, outcomes,
                                                                               strict=True)}


@pytest.mark.parametrize("case", list(PARITY))
def test_subclassed_models_pass_parity(case: str, parity_outcomes: dict) -> None:
    outcome, path = parity_outcomes[case]
    assert outcome.verdict.status == "pass", render_text(outcome, path)
    assert outcome.rows and all(row.status == "ok" for row in outcome.rows)  # compared layer by layer
    assert outcome.train is not None and all(f.status == "ok" for f in outcome.train.figures)
