"""Parity case: Normalization, Conv1DTranspose, UpSampling1D, Cropping1D, TimeDistributed Dense, Bidirectional GRU (mul) and SimpleRNN (sum), Permute, LSTM, RepeatVector."""
import keras
import numpy as np

np.random.seed(0)
keras.utils.set_random_seed(0)
x = np.random.randn(64, 6, 3).astype("float32")
y = np.random.randn(64, 2).astype("float32")
model = keras.Sequential([
    keras.Input(shape=(6, 3)),
    keras.layers.Normalization(mean=[0.5, -1.0, 0.0], variance=[4.0, 1.0, 0.25]),
    keras.layers.Conv1DTranspose(4, 3, strides=2, padding="same"),
    keras.layers.UpSampling1D(2),
    keras.layers.Cropping1D((3, 2)),
    keras.layers.TimeDistributed(keras.layers.Dense(5, activation="tanh")),
    keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True), merge_mode="mul"),
    keras.layers.Permute((2, 1)),
    keras.layers.LSTM(3),
    keras.layers.RepeatVector(4),
    keras.layers.Bidirectional(keras.layers.SimpleRNN(3), merge_mode="sum"),
    keras.layers.Dense(2),
])
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, epochs=1, batch_size=16, verbose=0)
