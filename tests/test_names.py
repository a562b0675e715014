"""Name resolution for every import style seen in real scripts, and the Keras 1/2 spellings."""

from __future__ import annotations

import pytest

from translator import TranslationError, translate_source

STYLES = {
    "tf.keras": ("import tensorflow as tf", "tf.keras.Sequential", "tf.keras.layers.Dense"),
    "from tensorflow import keras": ("from tensorflow import keras", "keras.Sequential", "keras.layers.Dense"),
    "import keras": ("import keras", "keras.models.Sequential", "keras.layers.Dense"),
    "from keras import layers": ("from keras import layers, Sequential", "Sequential", "layers.Dense"),
    "names": ("from tensorflow.keras.layers import Dense\nfrom tensorflow.keras.models import Sequential",
              "Sequential", "Dense"),
    "alias": ("from keras.layers import Dense as D\nfrom keras.models import Sequential as S", "S", "D"),
    "module alias": ("import tensorflow.keras as K", "K.Sequential", "K.layers.Dense"),
    "layers as L": ("from tensorflow.keras import layers as L, models", "models.Sequential", "L.Dense"),
    "rebinding": ("import keras\nL = keras.layers", "keras.Sequential", "L.Dense"),
    "keras 2 path": ("from keras.layers.core import Dense\nfrom keras.models import Sequential",
                     "Sequential", "Dense"),
}


@pytest.mark.parametrize("style", STYLES)
def test_import_styles_resolve(style: str) -> None:
    imports, seq, dense = STYLES[style]
    src = f"{imports}\nmodel = {seq}([{dense}(4, input_shape=(3,)), {dense}(1)])\n"
    result = translate_source(src)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "nn.Linear(3, 4)" in result.code and "nn.Linear(4, 1)" in result.code


def test_keras_1_2_aliases() -> None:
    src = """from keras.models import Sequential
from keras.layers import Convolution2D, MaxPool2D, Flatten, Dense
from keras.optimizers import SGD
model = Sequential()
model.add(Convolution2D(8, 3, input_shape=(10, 10, 1), border_mode="same"))
model.add(MaxPool2D())
model.add(Flatten())
model.add(Dense(2, activation="softmax"))
model.compile(optimizer=SGD(lr=0.1), loss="categorical_crossentropy")
model.fit(x, y, nb_epoch=3)
"""
    result = translate_source(src)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "nn.Conv2d(1, 8, kernel_size=3, padding='same')" in result.code
    assert "nn.Linear(200, 2)" in result.code
    assert "torch.optim.SGD(model.parameters(), lr=0.1)" in result.code
    assert "fit(model, x, y, epochs=3)" in result.code


def test_star_import_warns() -> None:
    src = "from tensorflow.keras.layers import *\nfrom tensorflow.keras import Sequential\n" \
          "model = Sequential([Dense(2, input_shape=(3,))])\n"
    result = translate_source(src)
    assert any(d.rule == "star-import" for d in result.diagnostics)
    assert "nn.Linear(3, 2)" in result.code


def test_non_keras_code_is_untouched() -> None:
    src = "import numpy as np\n\n# keep me\nprint(np.ones(3))\n"
    result = translate_source(src)
    assert result.code == src and not result.uses_keras


def test_syntax_error_carries_position() -> None:
    with pytest.raises(TranslationError) as info:
        translate_source("import keras\nx = (\n", filename="f.py")
    assert info.value.filename == "f.py" and info.value.line >= 2


def test_shape_expression_is_carried_into_the_output() -> None:
    src = "from tensorflow import keras\n" \
          "model = keras.Sequential([keras.layers.Dense(8, input_shape=(x.shape[1],)), keras.layers.Dense(1)])\n"
    result = translate_source(src)
    assert "nn.Linear(x.shape[1], 8)" in result.code


def test_model_built_in_function_takes_its_locals() -> None:
    src = """from tensorflow import keras
def build(n_in, n_out):
    model = keras.Sequential([keras.Input(shape=(n_in,)), keras.layers.Dense(n_out)])
    return model
model = build(4, 2)
"""
    result = translate_source(src)
    assert "def __init__(self, n_in, n_out):" in result.code
    assert "model = BuildModel(n_in, n_out)" in result.code
    compile(result.code, "x.py", "exec")


def test_user_comments_survive() -> None:
    src = "import keras\n# load the data\nx = 1  # one\nmodel = keras.Sequential([keras.layers.Dense(1, input_dim=2)])\n"
    out = translate_source(src).code
    assert "# load the data\nx = 1  # one\n" in out
