"""A Sequential model whose layers are added in a loop over literal widths (unrolled into the
class), with a functional head built in a range() loop."""
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

WIDTHS = [12, 8]

np.random.seed(0)
model = keras.Sequential()
model.add(layers.Input((6,)))
for units in WIDTHS:
    model.add(layers.Dense(units, activation="relu"))
for i, rate in enumerate([0.0, 0.0]):
    model.add(layers.Dropout(rate))
model.add(layers.Dense(3, activation="softmax"))
model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
x = np.random.rand(32, 6).astype("float32")
y = np.eye(3)[np.random.randint(0, 3, 32)]
model.fit(x, y, epochs=1, batch_size=8, shuffle=False)
