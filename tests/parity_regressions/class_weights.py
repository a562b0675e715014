"""Parity case: fit(class_weight=...) on a binary and fit(sample_weight=...) on a regression head."""
import keras
import numpy as np
from keras import layers

np.random.seed(0)
keras.utils.set_random_seed(0)
x = np.random.rand(48, 5).astype("float32")
y = (x[:, 0] > 0.7).astype("float32")
model = keras.Sequential([keras.Input((5,)), layers.Dense(6, activation="relu"), layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=1, batch_size=16, shuffle=False, class_weight={0: 0.25, 1: 3.0})
