#!/usr/bin/env python3
"""TensorFlow Lite Micro's outputs for a folder of test cases, as
`cargo xtask difftest` writes them: for each `K.tflite` with inputs
`K_input_I.npy`, writes `K_output.npy` (output 0), or `K.error` with TFLM's
message when it refuses the model. One fresh interpreter per case, as for
../shared/golden. Cases run in order of K, so a case that aborts the
process (a failed TFLM check) is the first one without an answer.

usage: tflm_reference.py DIR
"""

import pathlib
import sys

import numpy as np
from tflite_micro.python.tflite_micro import runtime


ARENA_BYTES = 16 << 20


def main():
    folder = pathlib.Path(sys.argv[1])
    cases = sorted(folder.glob("*.tflite"), key=lambda p: int(p.stem))
    for model in cases:
        k = model.stem
        if (folder / f"{k}_output.npy").exists() or (folder / f"{k}.error").exists():
            continue
        try:
            # The package sizes the arena at ten times the model file by
            # default, too little for a small model with large tensors.
            interp = runtime.Interpreter.from_file(str(model), arena_size=ARENA_BYTES)
            i = 0
            while (folder / f"{k}_input_{i}.npy").exists():
                interp.set_input(np.load(folder / f"{k}_input_{i}.npy"), i)
                i += 1
            interp.invoke()
            np.save(folder / f"{k}_output.npy", interp.get_output(0))
        except Exception as e:  # TFLM refused the model: record why
            (folder / f"{k}.error").write_text(str(e) or type(e).__name__)


if __name__ == "__main__":
    main()
