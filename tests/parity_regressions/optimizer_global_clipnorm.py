"""Parity case: SGD(global_clipnorm=0.1) clips the gradients before the step, as Keras does."""
import keras
import numpy as np
from keras import layers

np.random.seed(0)
keras.utils.set_random_seed(0)
x = np.random.rand(32, 5).astype("float32") * 4
y = np.random.rand(32, 2).astype("float32") * 20
model = keras.Sequential([
    keras.Input(shape=(5,)),
    layers.Dense(8, activation="relu"),
    layers.Dense(2),
])
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, global_clipnorm=0.1), loss="mse")
model.fit(x, y, epochs=1, batch_size=8, verbose=0)
