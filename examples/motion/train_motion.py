#!/usr/bin/env python3
"""Train Kiln's motion example: an int8 classifier of accelerometer windows.

Input: 32 samples of X/Y/Z acceleration in g (a 0.64 s window at 50 Hz,
oldest first, axes interleaved), the layout `kiln::sensor::Window` produces.
Classes: 0 still, 1 walking, 2 shaking. The training data is synthesized
(gravity, gait-like oscillation, vigorous shaking, plus noise and random
device orientation), so nothing is downloaded.

Writes beside itself: motion_int8.tflite (committed) and samples/ with
input_K.npy, label_K.txt and outputs.npy (TensorFlow Lite Micro's outputs, stacked,
from the tflite-micro package).

Run:  .venv/bin/pip install tensorflow-cpu==2.21.0 tflite-micro numpy
      .venv/bin/python train_motion.py
"""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

HERE = pathlib.Path(__file__).resolve().parent
WINDOW, RATE, SEED = 32, 50.0, 11
CLASSES = ["still", "walking", "shaking"]


def random_rotation(rng):
    q = rng.normal(size=4)
    a, b, c, d = q / np.linalg.norm(q)
    return np.array([
        [a*a + b*b - c*c - d*d, 2*(b*c - a*d), 2*(b*d + a*c)],
        [2*(b*c + a*d), a*a - b*b + c*c - d*d, 2*(c*d - a*b)],
        [2*(b*d - a*c), 2*(c*d + a*b), a*a - b*b - c*c + d*d],
    ])


def synthesize(label, rng):
    t = np.arange(WINDOW) / RATE
    gravity = np.tile([0.0, 0.0, 1.0], (WINDOW, 1))
    if label == 0:
        motion = np.zeros((WINDOW, 3))
    elif label == 1:
        f = rng.uniform(1.5, 2.5)
        phase = rng.uniform(0, 2 * np.pi)
        motion = np.stack([
            0.15 * np.sin(2 * np.pi * f * t + phase),
            0.05 * np.sin(np.pi * f * t + phase),
            0.30 * np.sin(2 * np.pi * f * t + phase + 0.5),
        ], axis=1) * rng.uniform(0.7, 1.4)
    else:
        f = rng.uniform(5.0, 9.0)
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        motion = np.outer(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)), direction) * rng.uniform(0.8, 1.6)
    x = (gravity + motion) @ random_rotation(rng).T + rng.normal(scale=0.02, size=(WINDOW, 3))
    return np.clip(x, -1.99, 1.99).astype(np.float32)


def data(n, rng):
    labels = rng.integers(0, len(CLASSES), size=n)
    return np.stack([synthesize(l, rng) for l in labels]), labels


def main():
    tf.keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    x_train, y_train = data(3000, rng)
    x_test, y_test = data(600, rng)

    def build(batch):
        inputs = tf.keras.Input(shape=(WINDOW, 3), batch_size=batch, name="window")
        x = tf.keras.layers.Flatten()(inputs)
        x = tf.keras.layers.Dense(24, activation="relu")(x)
        x = tf.keras.layers.Dense(12, activation="relu")(x)
        x = tf.keras.layers.Dense(len(CLASSES))(x)
        return tf.keras.Model(inputs, tf.keras.layers.Softmax()(x))

    train = build(None)
    train.compile(optimizer=tf.keras.optimizers.Adam(0.003), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    train.fit(x_train, y_train, epochs=30, batch_size=32, verbose=0)
    float_acc = float(np.mean(np.argmax(train.predict(x_test, verbose=0), axis=1) == y_test))
    model = build(1)
    model.set_weights(train.get_weights())

    def representative():
        for i in range(0, 600, 3):
            yield [x_train[i : i + 1]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    tflite = converter.convert()
    (HERE / "motion_int8.tflite").write_bytes(tflite)

    from tflite_micro.python.tflite_micro import runtime

    def tflm(sample):
        interp = runtime.Interpreter.from_bytes(tflite)
        interp.set_input(sample, 0)
        interp.invoke()
        return interp.get_output(0)

    q = runtime.Interpreter.from_bytes(tflite).get_input_details(0)["quantization_parameters"]
    scale, zero_point = q["scales"][0], q["zero_points"][0]
    quantized = np.clip(np.round(x_test / scale) + zero_point, -128, 127).astype(np.int8)
    int8_acc = np.mean([np.argmax(tflm(quantized[i : i + 1])) == y_test[i] for i in range(len(y_test))])

    samples = HERE / "samples"
    samples.mkdir(exist_ok=True)
    for k in range(8):
        np.save(samples / f"input_{k}.npy", quantized[k : k + 1])
        (samples / f"label_{k}.txt").write_text(f"{y_test[k]}\n")
    # TFLM's outputs stacked in one file: a saturated one-hot output on its
    # own would be byte-identical to goldens of unrelated models.
    np.save(samples / "outputs.npy", np.stack([tflm(quantized[k : k + 1]) for k in range(8)]))
    print(f"float accuracy {float_acc:.4f}, int8 (TFLM) accuracy {int8_acc:.4f} on {len(y_test)} synthetic windows")
    print(f"input scale {scale} zero point {zero_point}; wrote motion_int8.tflite ({len(tflite)} bytes)")


if __name__ == "__main__":
    main()
