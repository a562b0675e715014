# Keras pads one side more for these poolings (even windows, or strides that do not divide the size):
# max pooling pads with -inf first, average pooling divides by the real cells of each window.
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

x = np.random.default_rng(0).normal(size=(40, 9, 8, 3)).astype("float32")
y = np.random.default_rng(1).normal(size=(40, 2)).astype("float32")
model = keras.Sequential([
    keras.Input(shape=(9, 8, 3)),
    layers.MaxPooling2D(pool_size=2, strides=1, padding="same"),
    layers.AveragePooling2D(pool_size=(2, 4), strides=(1, 3), padding="same"),
    layers.Conv2D(4, 3, padding="same"),
    layers.AveragePooling2D(pool_size=4, strides=1, padding="same"),
    layers.MaxPooling2D(pool_size=(4, 3), strides=(2, 1), padding="same"),
    layers.Flatten(),
    layers.Dense(2),
])
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, epochs=1, batch_size=16, verbose=0)
