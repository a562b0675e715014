"""Parity case: ReLU with max_value, negative_slope and threshold together."""
import keras
import numpy as np
from keras import layers

np.random.seed(0)
keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input((6,)),
    layers.Dense(12),
    layers.ReLU(max_value=0.6, negative_slope=0.2),
    layers.Dense(8),
    layers.ReLU(negative_slope=0.1, threshold=0.3),
    layers.Dense(8),
    layers.ReLU(max_value=1.5, negative_slope=0.05, threshold=0.1),
    layers.Dense(1),
])
model.compile(loss="mse", optimizer="sgd")
x = np.random.normal(size=(32, 6)).astype("float32")
y = np.random.normal(size=(32, 1)).astype("float32")
model.fit(x, y, epochs=1, batch_size=8, shuffle=False)
