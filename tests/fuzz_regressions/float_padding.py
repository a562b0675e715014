"""A float where ZeroPadding2D expects sizes crashed shape inference (a float is no CST node)."""
import keras

model = keras.Sequential([
    keras.Input(shape=(6, 6, 1)),
    keras.layers.ZeroPadding2D(padding=((1e-300, 1), (1, 1))),
    keras.layers.Flatten(),
    keras.layers.Dense(2),
])
model.compile(optimizer="adam", loss="mse")
