"""Parity case: a custom loss and metric written with keras.ops, and Lambda layers (an elementwise
lambda, and a named function with output_shape)."""
import keras
import numpy as np
from keras import layers, ops


def rmse(y_true, y_pred):
    return ops.sqrt(ops.mean(ops.square(y_pred - y_true), axis=-1))


def halve_and_shift(t):
    return ops.tanh(t) * 0.5 + 0.1


np.random.seed(0)
keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input((6,)),
    layers.Dense(8, activation="relu"),
    layers.Lambda(lambda t: ops.square(t) / 4.0),
    layers.Dense(4),
    layers.Lambda(halve_and_shift, output_shape=(4,)),
    layers.Dense(1),
])
model.compile(loss=rmse, optimizer="sgd", metrics=[rmse, "mae"])
x = np.random.rand(32, 6).astype("float32")
y = np.random.rand(32, 1).astype("float32")
model.fit(x, y, epochs=1, batch_size=8, shuffle=False)
