#!/usr/bin/env python3
"""Quantize Kiln's ONNX examples with onnxruntime's quantizer, the way a
PyTorch user would before handing kiln a pre-quantized model: static
quantization in the QDQ format, int8 activations (per tensor) and int8
weights (per channel), calibrated on data/calibration*.npy. Writes beside
itself:

  digits_cnn_qdq.onnx          after onnxruntime's pre-processing (batch norm
                               fused into the conv, as its docs advise)
  digits_cnn_qdq_unfused.onnx  without it: the batch norm is quantized on its
                               own (a Q/DQ pair between the conv and it)
  digits_mlp_qdq.onnx
  data/<model>_ort_top1.npy    onnxruntime's top-1 class on data/test_x*.npy

and prints each model's held-out accuracy under onnxruntime beside the float
model's. Run after train_onnx_models.py:

  .venv/bin/pip install onnxruntime==1.32.0 onnx numpy sympy
  .venv/bin/python quantize_onnx_models.py
"""

import pathlib
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

HERE = pathlib.Path(__file__).resolve().parent


class Samples(CalibrationDataReader):
    def __init__(self, x):
        self.batches = iter([{"input": x[i : i + 1]} for i in range(len(x))])

    def get_next(self):
        return next(self.batches, None)


def quantize(float_model, out, calibration, pre_process):
    with tempfile.TemporaryDirectory() as tmp:
        source = float_model
        if pre_process:
            source = pathlib.Path(tmp) / "pre.onnx"
            quant_pre_process(str(float_model), str(source))
        quantize_static(
            str(source),
            str(out),
            Samples(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
        )


def top1(model, x):
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return np.array([int(np.argmax(session.run(None, {"input": x[i : i + 1]})[0])) for i in range(len(x))])


def main():
    data = HERE / "data"
    y = np.load(data / "test_y.npy")
    for name, flat, pre_process in [
        ("digits_cnn_qdq", "", True),
        ("digits_cnn_qdq_unfused", "", False),
        ("digits_mlp_qdq", "_flat", True),
    ]:
        float_model = HERE / (name.split("_qdq")[0] + ".onnx")
        x = np.load(data / f"test_x{flat}.npy")
        quantize(float_model, HERE / f"{name}.onnx", np.load(data / f"calibration{flat}.npy"), pre_process)
        predicted = top1(HERE / f"{name}.onnx", x)
        np.save(data / f"{name}_ort_top1.npy", predicted.astype(np.int64))
        print(
            f"{name}: held-out accuracy {np.mean(predicted == y):.4f} under onnxruntime "
            f"(float model {np.mean(top1(float_model, x) == y):.4f})"
        )


if __name__ == "__main__":
    main()
