# One-dimensional poolings with one-sided "same" padding (see pooling_same_asymmetric.py).
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

x = np.random.default_rng(0).normal(size=(40, 11, 3)).astype("float32")
y = np.random.default_rng(1).normal(size=(40, 1)).astype("float32")
model = keras.Sequential([
    layers.Input((11, 3)),
    layers.MaxPooling1D(pool_size=4, strides=1, padding="same"),
    layers.AveragePooling1D(pool_size=2, strides=1, padding="same"),
    layers.Conv1D(4, 3),
    layers.GlobalAveragePooling1D(),
    layers.Dense(1),
])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, epochs=1, batch_size=8, verbose=0)
