"""metrics=[{'a': 1}] crashed the metric lookup (an unhashable literal)."""
import keras

model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2)])
model.compile(optimizer="adam", loss="mse", metrics=[{"a": 1}])
