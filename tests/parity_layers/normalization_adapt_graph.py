"""Parity case: Normalization adapted on sequence data (one mean and variance per feature of the
last axis), the layer object called on a functional model's input."""
import keras
import numpy as np
from keras import layers

np.random.seed(1)
keras.utils.set_random_seed(1)
x = (np.random.rand(40, 6, 3) * [2.0, 20.0, 0.5] + [1.0, -3.0, 7.0]).astype("float32")
y = np.random.rand(40, 2).astype("float32")

scale = layers.Normalization()
scale.adapt(x)

inputs = keras.Input((6, 3))
h = scale(inputs)
h = layers.LSTM(5)(h)
outputs = layers.Dense(2)(h)
model = keras.Model(inputs, outputs)
model.compile(loss="mse", optimizer="rmsprop")
model.fit(x, y, epochs=1, batch_size=8, shuffle=False)
