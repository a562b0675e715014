"""A small convnet on synthetic 10x10x2 images: BatchNormalization, pooling, Flatten, SGD momentum."""
import keras
import numpy as np

rng = np.random.default_rng(1)
x = rng.random((200, 10, 10, 2)).astype("float32")
y = (x[:, :5, :, 0].mean(axis=(1, 2)) > x[:, 5:, :, 1].mean(axis=(1, 2))).astype("int64")
y = y * 2 + (x[:, :, :5, 0].mean(axis=(1, 2)) > 0.5)

keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input(shape=(10, 10, 2)),
    keras.layers.Conv2D(8, 3, activation="relu"),
    keras.layers.BatchNormalization(),
    keras.layers.MaxPooling2D(2),
    keras.layers.Conv2D(6, 3, padding="same"),
    keras.layers.Flatten(),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dense(4, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=2, batch_size=16, verbose=2)
print("accuracy", model.evaluate(x, y, verbose=0)[1])
