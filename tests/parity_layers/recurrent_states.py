"""Parity case: recurrent layers' return_state and initial_state in a functional graph (the
seq2seq pattern): an LSTM encoder's h and c start a second LSTM, a step-by-step GRU hands its
state on, and a Bidirectional LSTM's four states are merged."""
import keras
import numpy as np
from keras import layers

np.random.seed(0)
keras.utils.set_random_seed(0)
inputs = keras.Input(shape=(7, 5))
encoder = layers.LSTM(6, return_sequences=True, return_state=True)
sequence, state_h, state_c = encoder(inputs)
encoder_states = [state_h, state_c]
decoded = layers.LSTM(6)(sequence, initial_state=encoder_states)
gru_seq, gru_h = layers.GRU(4, activation="relu", return_sequences=True, return_state=True)(inputs)
gru_last = layers.GRU(4, dropout=0.2)(gru_seq, initial_state=[gru_h])
rnn_out, rnn_h = layers.SimpleRNN(3, return_state=True)(inputs)
both, fh, fc, bh, bc = layers.Bidirectional(layers.LSTM(4, return_state=True))(inputs)
merged = layers.concatenate([decoded, state_c, gru_last, rnn_h, rnn_out, both, fh, bc])
outputs = layers.Dense(3, activation="softmax")(merged)
model = keras.Model(inputs, outputs)
model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
x = np.random.rand(32, 7, 5).astype("float32")
y = np.random.randint(0, 3, 32)
model.fit(x, y, epochs=1, batch_size=8, shuffle=False)
