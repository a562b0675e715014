"""The framework module itself called (a mutated `print(...)`): its resolved name has no dot."""
import keras

keras("epoch", 1)
model = keras.Sequential([keras(3)])
model.add(keras())
