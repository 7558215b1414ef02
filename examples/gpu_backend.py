"""The digits MobileNet on a GPU: the same model and data with ``backend="cupy"``.

What it shows: switching backends is one argument. Without CuPy or without a GPU, minidl
says which is missing and how to fix it; this script prints that message and exits
cleanly.

    python examples/gpu_backend.py [--epochs N]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mobilenet_digits  # noqa: E402

import minidl as mdl  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--output", default="mobilenet_digits_gpu.minidl")
    args = parser.parse_args(argv)
    try:
        mdl.backend.resolve("cupy")
    except RuntimeError as err:
        print(f"No GPU run: {err}")
        return None
    return mobilenet_digits.main(["--backend", "cupy", "--epochs", str(args.epochs),
                                  "--output", args.output])


if __name__ == "__main__":
    main()
