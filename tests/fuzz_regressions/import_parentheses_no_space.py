"""`from.mod import(b,a)`: sorting the names and dropping the parentheses left `import` with no space after it."""
# ruff: noqa: I001, F401  (the unusual spelling is the point)
import keras
from.mod import(b,a)

model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2)])
