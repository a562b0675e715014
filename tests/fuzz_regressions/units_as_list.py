"""Dense(units=[3]) put a Python list into the next layer's in_features (a crash in printing)."""
import keras

model = keras.Sequential([
    keras.Input(shape=(4,)),
    keras.layers.Dense([3]),
    keras.layers.Dense(2),
])
model.compile(optimizer="adam", loss="mse")
