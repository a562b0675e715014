"""Parity case: step-by-step RNNs: LSTM (relu, dropout=, recurrent_dropout=), GRU (hard_sigmoid gates; reset_after=False with relu, no bias), SimpleRNN (sigmoid), LSTM(go_backwards=True, unit_forget_bias=False), Bidirectional SimpleRNN (softsign, concat) and LSTM (elu, ave)."""
import keras
import numpy as np
from keras import layers

np.random.seed(0)
keras.utils.set_random_seed(0)
x = np.random.randn(48, 7, 3).astype("float32")
y = np.random.randn(48, 2).astype("float32")
model = keras.Sequential([
    keras.Input(shape=(7, 3)),
    layers.LSTM(6, activation="relu", return_sequences=True, dropout=0.2, recurrent_dropout=0.1),
    layers.GRU(5, recurrent_activation="hard_sigmoid", return_sequences=True),
    layers.GRU(5, activation="relu", reset_after=False, use_bias=False, return_sequences=True),
    layers.SimpleRNN(4, activation="sigmoid", return_sequences=True),
    layers.LSTM(4, go_backwards=True, unit_forget_bias=False, return_sequences=True),
    layers.Bidirectional(layers.SimpleRNN(3, activation="softsign", return_sequences=True)),
    layers.Bidirectional(layers.LSTM(3, activation="elu", recurrent_activation="hard_sigmoid"), merge_mode="ave"),
    layers.Dense(2),
])
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
model.fit(x, y, epochs=1, batch_size=16, verbose=0)
