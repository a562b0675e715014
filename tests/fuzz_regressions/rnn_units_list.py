"""GRU([3]) put a Python list into the shape a hook reported (a crash when printing the class)."""
import keras

model = keras.Sequential([
    keras.Input(shape=(5, 2)),
    keras.layers.GRU([3]),
    keras.layers.Dense(2),
])
model.compile(optimizer="adam", loss="mse")
