"""Parity case: Rescaling, GaussianNoise, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose (odd and even 'same' crops, k < s), Cropping2D, bilinear UpSampling2D, GaussianDropout, SpatialDropout2D."""
import keras
import numpy as np

np.random.seed(0)
keras.utils.set_random_seed(0)
x = np.random.rand(48, 9, 9, 3).astype("float32")
y = np.random.randint(0, 4, size=48)
model = keras.Sequential([
    keras.Input(shape=(9, 9, 3)),
    keras.layers.Rescaling(2.0, offset=-1.0),
    keras.layers.GaussianNoise(0.1),
    keras.layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2),
    keras.layers.SeparableConv2D(8, 3, padding="same", activation="relu"),
    keras.layers.Conv2DTranspose(6, 3, strides=2, padding="same"),
    keras.layers.Conv2DTranspose(5, 4, strides=2, padding="same", activation="relu"),
    keras.layers.Cropping2D(((1, 2), (3, 0))),
    keras.layers.UpSampling2D((1, 2), interpolation="bilinear"),
    keras.layers.Conv2DTranspose(4, 2, strides=3),
    keras.layers.GaussianDropout(0.2),
    keras.layers.SpatialDropout2D(0.1),
    keras.layers.SeparableConv2D(4, 3, strides=2, padding="same", depth_multiplier=2),
    keras.layers.GlobalAveragePooling2D(),
    keras.layers.Dense(4, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x, y, epochs=1, batch_size=8, verbose=0)
