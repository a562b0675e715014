"""Parity case: stateful LSTM, GRU and SimpleRNN (a fixed batch size; each batch starts from the
states the previous one ended with). Parity compares three training steps for such a model, so
that what one batch hands the next is checked too."""
import keras
import numpy as np
from keras import layers

np.random.seed(0)
keras.utils.set_random_seed(0)
series = np.sin(np.arange(0, 40, 0.1)).astype("float32")
x = np.stack([series[i:i + 5] for i in range(96)])[:, :, None]
y = series[5:101][:, None]
model = keras.Sequential([
    keras.Input(batch_shape=(8, 5, 1)),
    layers.LSTM(6, stateful=True, return_sequences=True),
    layers.GRU(4, stateful=True, return_sequences=True),
    layers.SimpleRNN(3, stateful=True),
    layers.Dense(1),
])
model.compile(loss="mse", optimizer="adam")
model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
