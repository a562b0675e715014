"""Parity case: activity regularization, as a layer (ActivityRegularization) and as the
activity_regularizer of Dense and Conv2D layers (after their activation), in the loss Keras
trains on: each penalty divided by the batch size."""
import keras
import numpy as np
from keras import layers, regularizers

np.random.seed(0)
keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input((6, 6, 2)),
    layers.Conv2D(4, 3, activation="relu", activity_regularizer=regularizers.l1(0.01)),
    layers.Flatten(),
    layers.Dense(8, activation="tanh", activity_regularizer=regularizers.L1L2(l1=0.001, l2=0.02)),
    layers.ActivityRegularization(l1=0.01, l2=0.005),
    layers.Dense(3, activity_regularizer="l2"),
    layers.Dense(1),
])
model.compile(loss="mse", optimizer="sgd")
x = np.random.rand(32, 6, 6, 2).astype("float32")
y = np.random.rand(32, 1).astype("float32")
model.fit(x, y, epochs=1, batch_size=8, shuffle=False)
