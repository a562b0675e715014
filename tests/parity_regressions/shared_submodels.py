"""An autoencoder with an encoder and a decoder that share its layers (the Keras blog's pattern:
`encoder = Model(input_img, encoded)`, `decoder_layer = autoencoder.layers[-1]`)."""
import numpy as np
from keras.layers import Dense, Input
from keras.models import Model

np.random.seed(0)
input_img = Input(shape=(16,))
encoded = Dense(4, activation="relu")(input_img)
decoded = Dense(16, activation="sigmoid")(encoded)
autoencoder = Model(input_img, decoded)
encoder = Model(input_img, encoded)
encoded_input = Input(shape=(4,))
decoder_layer = autoencoder.layers[-1]
decoder = Model(encoded_input, decoder_layer(encoded_input))
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
x = np.random.rand(32, 16).astype("float32")
autoencoder.fit(x, x, epochs=2, batch_size=8, shuffle=False)
codes = encoder.predict(x)
restored = decoder.predict(codes)
print(float(np.abs(restored - autoencoder.predict(x)).max()))
