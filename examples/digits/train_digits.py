#!/usr/bin/env python3
"""Train Kiln's example model: a small int8 CNN for handwritten digits.

The data set is scikit-learn's `digits` (8x8 grey images, 10 classes), which
ships inside the package, so nothing is downloaded. The script trains a
Keras CNN, converts it to a fully int8 TFLite model with the TFLite
converter, and writes beside itself:

  digits_int8.tflite          the model (committed)
  samples/input_K.npy         a few held-out test digits, quantized (int8)
  samples/label_K.txt         their true labels
  samples/outputs.npy    TensorFlow Lite Micro's output for each, stacked

TFLM's outputs come from the `tflite-micro` package's interpreter (the
reference kernels kiln is bit-exact with); kiln's tests compare against them.

Run:  python3 -m venv .venv && .venv/bin/pip install tensorflow-cpu==2.21.0 \
          tflite-micro scikit-learn numpy && .venv/bin/python train_digits.py
"""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = pathlib.Path(__file__).resolve().parent
SEED = 7
SAMPLES = 8


def build_model():
    inputs = tf.keras.Input(shape=(8, 8, 1), batch_size=1, name="digit")
    x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = tf.keras.layers.Conv2D(16, 1, activation="relu")(x)
    x = tf.keras.layers.MaxPooling2D(2)(x)
    x = tf.keras.layers.AveragePooling2D(2)(x)
    x = tf.keras.layers.Flatten()(x)
    x = tf.keras.layers.Dense(10)(x)
    outputs = tf.keras.layers.Softmax()(x)
    return tf.keras.Model(inputs, outputs)


def main():
    tf.keras.utils.set_random_seed(SEED)
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]  # [N, 8, 8, 1] in [0, 1]
    y = digits.target
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=SEED, stratify=y)

    train_model = build_model()
    # Train with a free batch size, then copy the weights into the batch-1 model.
    free = tf.keras.Model.from_config(train_model.get_config())
    free.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    free.fit(x_train, y_train, epochs=40, batch_size=32, verbose=0)
    train_model.set_weights(free.get_weights())
    float_acc = float(np.mean(np.argmax(free.predict(x_test, verbose=0), axis=1) == y_test))

    def representative():
        for i in range(0, len(x_train), 4):
            yield [x_train[i : i + 1]]

    converter = tf.lite.TFLiteConverter.from_keras_model(train_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    tflite = converter.convert()
    (HERE / "digits_int8.tflite").write_bytes(tflite)

    from tflite_micro.python.tflite_micro import runtime

    def tflm(sample):
        interp = runtime.Interpreter.from_bytes(tflite)
        interp.set_input(sample, 0)
        interp.invoke()
        return interp.get_output(0)

    probe = runtime.Interpreter.from_bytes(tflite)
    scale, zero_point = probe.get_input_details(0)["quantization_parameters"]["scales"][0], probe.get_input_details(0)["quantization_parameters"]["zero_points"][0]
    quantized = np.clip(np.round(x_test / scale) + zero_point, -128, 127).astype(np.int8)

    correct = 0
    for i in range(len(quantized)):
        correct += int(np.argmax(tflm(quantized[i : i + 1])) == y_test[i])
    int8_acc = correct / len(quantized)

    samples = HERE / "samples"
    samples.mkdir(exist_ok=True)
    for k in range(SAMPLES):
        np.save(samples / f"input_{k}.npy", quantized[k : k + 1])
        (samples / f"label_{k}.txt").write_text(f"{y_test[k]}\n")
    # TFLM's outputs stacked in one file: a saturated one-hot output on its
    # own would be byte-identical to goldens of unrelated models.
    np.save(samples / "outputs.npy", np.stack([tflm(quantized[k : k + 1]) for k in range(SAMPLES)]))
    print(f"float accuracy {float_acc:.4f}, int8 (TFLM) accuracy {int8_acc:.4f} on {len(y_test)} held-out digits")
    print(f"wrote {HERE / 'digits_int8.tflite'} ({len(tflite)} bytes) and {SAMPLES} samples")


if __name__ == "__main__":
    main()
