"""Parity case: Dot over sequences (attention-like scores, axes=2 and axes=(2, 1)), between
vectors (axes=1, the function form with axes=-1) and the cosine (normalize=True)."""
import keras
import numpy as np
from keras import layers

np.random.seed(0)
keras.utils.set_random_seed(0)
inputs = keras.Input((6, 4))
query = layers.Dense(5)(inputs)
key = layers.Dense(5)(inputs)
scores = layers.Dot(axes=2)([query, key])
context = layers.Dot(axes=(2, 1))([scores, key])
flat = layers.Flatten()(context)
u = layers.Dense(3, activation="tanh")(flat)
v = layers.Dense(3)(flat)
cosine = layers.Dot(axes=1, normalize=True)([u, v])
product = layers.dot([u, v], axes=-1)
outputs = layers.Dense(1)(layers.concatenate([cosine, product, u]))
model = keras.Model(inputs, outputs)
model.compile(loss="mse", optimizer="adam")
x = np.random.rand(32, 6, 4).astype("float32")
y = np.random.rand(32, 1).astype("float32")
model.fit(x, y, epochs=1, batch_size=8, shuffle=False)
