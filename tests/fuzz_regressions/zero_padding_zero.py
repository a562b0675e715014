"""ZeroPadding2D with zero padding on a side crashed shape inference (a // 0 computed eagerly)."""
import keras
import numpy as np

x = np.zeros((16, 6, 6, 1), dtype="float32")
y = np.zeros((16, 2), dtype="float32")
model = keras.Sequential([
    keras.Input(shape=(6, 6, 1)),
    keras.layers.ZeroPadding2D(padding=((0, 1), (2, 0))),
    keras.layers.Conv2D(2, 3),
    keras.layers.Flatten(),
    keras.layers.Dense(2),
])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, epochs=1, verbose=0)
