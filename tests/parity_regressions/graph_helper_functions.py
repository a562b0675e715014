"""Parity case: a functional graph built through a helper function called in a loop (inlined
and unrolled), activations and `+` applied to tensors, keras.ops.concatenate."""
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers
from tensorflow.keras.activations import relu


def residual_block(x, filters, kernel=3):
    """Two convolutions and a skip connection."""
    y = layers.Conv2D(filters, kernel, padding='same')(x)
    y = layers.BatchNormalization()(y)
    y = relu(y)
    y = layers.Conv2D(filters, kernel, padding='same')(y)
    y = x + y
    return keras.ops.relu(y)


def build(n_blocks=2):
    inputs = keras.Input(shape=(8, 8, 3))
    x = layers.Conv2D(8, 3, padding='same')(inputs)
    for _ in range(2):
        x = residual_block(x, 8)
    x = layers.GlobalAveragePooling2D()(x)
    h = layers.Dense(8)(x)
    g = layers.Dense(8)(x)
    x = keras.ops.concatenate([h, g], axis=-1)
    outputs = layers.Dense(3, activation='softmax')(x)
    return keras.Model(inputs, outputs)


np.random.seed(0)
model = build()
model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
x = np.random.rand(16, 8, 8, 3).astype('float32')
y = np.random.randint(0, 3, 16)
model.fit(x, y, epochs=1, batch_size=8)
