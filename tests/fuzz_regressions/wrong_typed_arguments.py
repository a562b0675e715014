"""Wrong-typed arguments that once crashed the translator, one model each."""
import keras

negative = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(-2), keras.layers.Dense(1)])
boolean = keras.Sequential([keras.Input(shape=(6, 1)), keras.layers.Conv1D(2, True),
                            keras.layers.Flatten(), keras.layers.Dense(1)])
dict_activation = keras.Sequential([keras.Input(shape=(4,)),
                                    keras.layers.Dense(3, activation={"a": 1})])
list_head = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3, activation=[3])])
list_head.compile(optimizer="adam", loss="categorical_crossentropy")
tuple_kernel = keras.Sequential([keras.Input(shape=(6, 6, 1)),
                                 keras.layers.Conv2D(2, (3, 3, 3), strides=2, padding="same"),
                                 keras.layers.Flatten(), keras.layers.Dense(1)])
