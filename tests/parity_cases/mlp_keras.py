"""A small MLP on synthetic data: BatchNormalization, Dropout, a softmax head, a validation split."""
import keras
import numpy as np

rng = np.random.default_rng(0)
x = rng.normal(size=(300, 12))  # float64 on purpose: Keras computes in float32 anyway
y = (x[:, :3].sum(axis=1) > 0).astype("int64") + (x[:, 3] > 1).astype("int64")

keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input(shape=(12,)),
    keras.layers.Dense(32, activation="relu"),
    keras.layers.BatchNormalization(),
    keras.layers.Dropout(0.3),
    keras.layers.Dense(16, activation="tanh"),
    keras.layers.Dense(3, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.003),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=2, batch_size=32, validation_split=0.2, verbose=2)
print("accuracy", model.evaluate(x, y, verbose=0)[1])
