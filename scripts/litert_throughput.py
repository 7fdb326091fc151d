#!/usr/bin/env python3
"""Inferences per second of LiteRT (`ai-edge-litert` from PyPI, the TFLite
interpreter with its default XNNPACK delegate) on the samples of an .npy
file stacked on a new first axis; one interpreter, reused, with THREADS
threads. Used by `cargo xtask bench-host`. LiteRT's int8 kernels are not
bit-exact with TFLite Micro; this measures speed only.

usage: litert_throughput.py MODEL DATA.npy THREADS
"""

import json
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter


def main():
    model, data, threads = sys.argv[1], np.load(sys.argv[2]), int(sys.argv[3])
    interp = Interpreter(model_path=model, num_threads=threads)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    shape = inp["shape"]
    # One warm-up inference: XNNPACK packs its weights on the first run.
    interp.set_tensor(inp["index"], data[0].reshape(shape))
    interp.invoke()
    start = time.perf_counter()
    for sample in data:
        interp.set_tensor(inp["index"], sample.reshape(shape))
        interp.invoke()
        interp.get_tensor(out["index"])
    seconds = time.perf_counter() - start
    print(json.dumps({"samples": len(data), "seconds": seconds, "inferences_per_second": len(data) / seconds}))


if __name__ == "__main__":
    main()
