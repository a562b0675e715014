"""Parity case: Conv3D (same, strided same), MaxPooling3D, AveragePooling3D (same), GlobalMaxPooling3D."""
import keras
import numpy as np

np.random.seed(0)
keras.utils.set_random_seed(0)
x = np.random.rand(32, 8, 8, 8, 2).astype("float32")
y = np.random.rand(32, 1).astype("float32")
model = keras.Sequential([
    keras.Input(shape=(8, 8, 8, 2)),
    keras.layers.Conv3D(4, 3, padding="same", activation="relu"),
    keras.layers.MaxPooling3D(),
    keras.layers.Conv3D(6, (2, 3, 3), strides=2, padding="same"),
    keras.layers.AveragePooling3D(2, padding="same"),
    keras.layers.GlobalMaxPooling3D(),
    keras.layers.Dense(1),
])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, epochs=1, batch_size=8, verbose=0)
