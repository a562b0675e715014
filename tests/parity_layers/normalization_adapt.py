"""Parity case: Normalization adapted on the training data (Keras' regression tutorial), the layer
object kept beside the model and given to its building function; the statistics come from the
same data on both sides."""
import keras
import numpy as np
from keras import layers

np.random.seed(0)
keras.utils.set_random_seed(0)
x = (np.random.rand(48, 5) * [1.0, 10.0, 100.0, 0.1, 3.0] + [0.0, -5.0, 50.0, 1.0, 2.0]).astype("float32")
y = x @ np.array([[0.5], [0.1], [0.01], [2.0], [-1.0]], dtype="float32")

normalizer = layers.Normalization(axis=-1)
normalizer.adapt(x)
print(normalizer.mean.numpy().round(3))


def build_model(norm):
    model = keras.Sequential([
        keras.Input((5,)),
        norm,
        layers.Dense(8, activation="relu"),
        layers.Dense(1),
    ])
    model.compile(loss="mean_absolute_error", optimizer="adam")
    return model


model = build_model(normalizer)
model.fit(x, y, epochs=1, batch_size=8, shuffle=False)
