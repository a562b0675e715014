"""model.fit(*args) escaped argument binding as an internal error."""
import keras

model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2)])
model.compile(optimizer="adam", loss="mse")
args = ([[0.0] * 4], [[0.0] * 2])
model.fit(*args, epochs=1)
