"""Parity case: Embedding, SpatialDropout1D, SimpleRNN (tanh, relu), Bidirectional LSTM (ave) and GRU on token ids."""
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

np.random.seed(0)
keras.utils.set_random_seed(0)
x = np.random.randint(0, 20, size=(64, 9))
y = np.random.randint(0, 3, size=64)
model = keras.Sequential([
    keras.Input(shape=(9,)),
    layers.Embedding(20, 6),
    layers.SpatialDropout1D(0.2),
    layers.SimpleRNN(8, return_sequences=True),
    layers.Bidirectional(layers.LSTM(5, return_sequences=True), merge_mode="ave"),
    layers.SimpleRNN(6, activation="relu", return_sequences=True),
    layers.GRU(7),
    layers.Dense(3, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
model.fit(x, y, epochs=1, batch_size=16, verbose=0)
