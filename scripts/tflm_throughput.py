#!/usr/bin/env python3
"""Inferences per second of TensorFlow Lite Micro's Python interpreter
(`tflite-micro` from PyPI, reference kernels) on the samples of an .npy file
stacked on a new first axis; one interpreter, reused, on one thread.
Used by `cargo xtask bench-host`.

usage: tflm_throughput.py MODEL DATA.npy
"""

import json
import sys
import time

import numpy as np
from tflite_micro.python.tflite_micro import runtime


def main():
    model, data = sys.argv[1], np.load(sys.argv[2])
    interp = runtime.Interpreter.from_file(model)
    shape = interp.get_input_details(0)["shape"]
    start = time.perf_counter()
    for sample in data:
        interp.set_input(sample.reshape(shape), 0)
        interp.invoke()
        interp.get_output(0)
    seconds = time.perf_counter() - start
    print(json.dumps({"samples": len(data), "seconds": seconds, "inferences_per_second": len(data) / seconds}))


if __name__ == "__main__":
    main()
