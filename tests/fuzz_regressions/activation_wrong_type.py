"""activation=(3, 3, 3) or a lambda escaped the layer builder as an internal error."""
import keras

model = keras.Sequential([
    keras.Input(shape=(4,)),
    keras.layers.Dense(8, activation=(3, 3, 3)),
    keras.layers.Dense(2, activation=lambda x: x),
])
model.compile(optimizer="adam", loss="mse")
