#!/usr/bin/env python3
"""Train Kiln's ONNX examples on scikit-learn's digits (shipped inside the
package, nothing downloaded) and write them as ONNX graphs the way PyTorch
exports them: NCHW, float32, BatchNormalization left unfused after the conv.

PyPI's torch pulls gigabytes of CUDA wheels, so the networks are trained
with Keras and written with the `onnx` helper API (weights transposed to
ONNX's layouts). Writes beside itself:

  digits_cnn.onnx   Conv-BatchNormalization-Relu-MaxPool-Conv-Relu-
                    GlobalAveragePool-Flatten-Gemm-Softmax, input [1, 1, 8, 8]
  digits_mlp.onnx   Flatten-Gemm-Relu-Gemm-Relu-Gemm-Softmax, input [1, 64]
  data/test_x.npy, data/test_y.npy      the held-out split (float32 [N, 1, 8, 8], labels)
  data/calibration.npy                   200 training images, for quantization
  data/*_flat.npy                        the same, flattened for the MLP

and prints each model's held-out accuracy under ONNX's reference evaluator.

Run:  .venv/bin/pip install tensorflow-cpu==2.21.0 onnx scikit-learn numpy
      .venv/bin/python train_onnx_models.py
"""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import onnx
import tensorflow as tf
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = pathlib.Path(__file__).resolve().parent
SEED = 5


def data():
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)
    return train_test_split(x, d.target, test_size=0.2, random_state=SEED, stratify=d.target)


def cnn(x_train, y_train):
    inputs = tf.keras.Input(shape=(8, 8, 1))
    h = tf.keras.layers.Conv2D(12, 3, padding="same", use_bias=True)(inputs)
    h = tf.keras.layers.BatchNormalization()(h)
    h = tf.keras.layers.ReLU()(h)
    h = tf.keras.layers.MaxPooling2D(2)(h)
    h = tf.keras.layers.Conv2D(24, 3, padding="same", activation="relu")(h)
    h = tf.keras.layers.GlobalAveragePooling2D()(h)
    outputs = tf.keras.layers.Dense(10, activation="softmax")(h)
    model = tf.keras.Model(inputs, outputs)
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x_train[..., None], y_train, epochs=60, batch_size=32, verbose=0)
    conv1, bn, conv2, dense = [l for l in model.layers if l.weights]
    w1, b1 = conv1.get_weights()
    gamma, beta, mean, var = bn.get_weights()
    w2, b2 = conv2.get_weights()
    wd, bd = dense.get_weights()
    inits = [
        numpy_helper.from_array(w1.transpose(3, 2, 0, 1), "conv1.weight"),  # HWIO -> OIHW
        numpy_helper.from_array(b1, "conv1.bias"),
        numpy_helper.from_array(gamma, "bn.weight"),
        numpy_helper.from_array(beta, "bn.bias"),
        numpy_helper.from_array(mean, "bn.running_mean"),
        numpy_helper.from_array(var, "bn.running_var"),
        numpy_helper.from_array(w2.transpose(3, 2, 0, 1), "conv2.weight"),
        numpy_helper.from_array(b2, "conv2.bias"),
        numpy_helper.from_array(wd.T.copy(), "fc.weight"),  # [in, out] -> [out, in], Gemm transB=1
        numpy_helper.from_array(bd, "fc.bias"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["c1"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("BatchNormalization", ["c1", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"], ["b1"], epsilon=float(bn.epsilon)),
        helper.make_node("Relu", ["b1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="kiln-examples")


def mlp(x_train, y_train):
    inputs = tf.keras.Input(shape=(64,))
    h = tf.keras.layers.Dense(32, activation="relu")(inputs)
    h = tf.keras.layers.Dense(16, activation="relu")(h)
    outputs = tf.keras.layers.Dense(10, activation="softmax")(h)
    model = tf.keras.Model(inputs, outputs)
    model.compile(optimizer=tf.keras.optimizers.Adam(0.005), loss="sparse_categorical_crossentropy")
    model.fit(x_train.reshape(-1, 64), y_train, epochs=80, batch_size=32, verbose=0)
    inits, nodes, prev = [], [helper.make_node("Flatten", ["input"], ["x0"], axis=1)], "x0"
    for i, layer in enumerate(l for l in model.layers if l.weights):
        w, b = layer.get_weights()
        inits += [numpy_helper.from_array(w.T.copy(), f"fc{i}.weight"), numpy_helper.from_array(b, f"fc{i}.bias")]
        nodes.append(helper.make_node("Gemm", [prev, f"fc{i}.weight", f"fc{i}.bias"], [f"h{i}"], transB=1))
        prev = f"h{i}"
        if i < 2:
            nodes.append(helper.make_node("Relu", [prev], [f"a{i}"]))
            prev = f"a{i}"
    nodes.append(helper.make_node("Softmax", [prev], ["probabilities"], axis=1))
    graph = helper.make_graph(
        nodes, "digits_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="kiln-examples")


def accuracy(model, x, y):
    session = ReferenceEvaluator(model)
    feed_shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    hits = sum(int(np.argmax(session.run(None, {"input": x[i].reshape(feed_shape)})[0]) == y[i]) for i in range(len(x)))
    return hits / len(x)


def main():
    tf.keras.utils.set_random_seed(SEED)
    x_train, x_test, y_train, y_test = data()
    (HERE / "data").mkdir(exist_ok=True)
    np.save(HERE / "data/test_x.npy", x_test[:, None, :, :])
    np.save(HERE / "data/test_y.npy", y_test.astype(np.int64))
    np.save(HERE / "data/calibration.npy", x_train[:200, None, :, :])
    # The MLP takes flat [1, 64] inputs.
    np.save(HERE / "data/test_x_flat.npy", x_test.reshape(-1, 64))
    np.save(HERE / "data/calibration_flat.npy", x_train[:200].reshape(-1, 64))
    for name, build in [("digits_cnn", cnn), ("digits_mlp", mlp)]:
        model = build(x_train, y_train)
        onnx.checker.check_model(model)
        onnx.save(model, HERE / f"{name}.onnx")
        print(f"{name}: held-out accuracy {accuracy(model, x_test, y_test):.4f} (ONNX reference evaluator)")


if __name__ == "__main__":
    main()
