"""Parity case: TimeDistributed Conv2D and MaxPooling2D over frames, GlobalAveragePooling3D."""
import keras
import numpy as np

np.random.seed(0)
keras.utils.set_random_seed(0)
x = np.random.rand(32, 4, 6, 6, 2).astype("float32")
y = np.random.rand(32, 2).astype("float32")
model = keras.Sequential([
    keras.Input(shape=(4, 6, 6, 2)),
    keras.layers.TimeDistributed(keras.layers.Conv2D(3, 3, activation="relu")),
    keras.layers.TimeDistributed(keras.layers.MaxPooling2D()),
    keras.layers.GlobalAveragePooling3D(),
    keras.layers.Dense(2),
])
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, epochs=1, batch_size=8, verbose=0)
