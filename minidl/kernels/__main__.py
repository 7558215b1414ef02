"""``python -m minidl.kernels --compile``: compile minidl's CPU kernels ahead of time (or
load them from the cache), running each part once on a tiny input in each dtype."""
import argparse
import sys
import time

import numpy as np

from .. import config
from ..autograd import tensor
from ..ops.depthwise import depthwise_conv2d
from ..ops.math import _MIN_COMPILED, clip
from ..ops.normalization import batch_normalization_training

__all__ = ["compile_all", "PARTS", "main"]

PARTS = ("normalization", "elementwise", "depthwise")


def compile_all(dtypes: "tuple[str, ...]" = ("float32", "float64"),
                parts: "tuple[str, ...]" = PARTS, report=print) -> None:
    """Compile (or load from the cache) every compiled kernel of ``parts`` in each of
    ``dtypes``; ``report(line)`` is told each step.

    Raises:
        RuntimeError: Numba is not importable.
    """
    saved = config.get("cpu_kernels")
    config.set_cpu_kernels("numba")
    try:
        for dtype in dtypes:
            for part in parts:
                start = time.perf_counter()
                _RUNS[part](np.dtype(dtype))
                report(f"{part} ({dtype}): ready in {time.perf_counter() - start:.1f} s")
    finally:
        config.set_cpu_kernels(saved)


def _normalization(dtype):
    x = tensor(np.ones((2, 3, 3, 4), dtype), requires_grad=True)
    scale = tensor(np.ones(4, dtype), requires_grad=True)
    offset = tensor(np.zeros(4, dtype), requires_grad=True)
    batch_normalization_training(x, scale, offset)[0].sum().backward()


def _elementwise(dtype):
    x = tensor(np.ones(_MIN_COMPILED, dtype), requires_grad=True)
    clip(x, 0.0, 6.0).sum().backward()


def _depthwise(dtype):
    from ..ops.depthwise.numba_kernels import ROW_CHANNELS  # Numba: imported when asked
    for channels, strides in ((4, 1), (ROW_CHANNELS + 1, 1), (4, 2)):
        x = tensor(np.ones((1, 5, 5, channels), dtype), requires_grad=True)
        kernel = tensor(np.ones((3, 3, channels, 1), dtype), requires_grad=True)
        bias = tensor(np.zeros(channels, dtype), requires_grad=True)
        depthwise_conv2d(x, kernel, strides, "same", bias=bias).sum().backward()


_RUNS = {"normalization": _normalization, "elementwise": _elementwise,
         "depthwise": _depthwise}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minidl.kernels",
                                     description="minidl's compiled (Numba) CPU kernels")
    parser.add_argument("--compile", action="store_true",
                        help="compile every kernel now (once; cached on disk)")
    parser.add_argument("--dtype", action="append", choices=("float32", "float64"),
                        help="only this dtype (repeatable; default both)")
    parser.add_argument("--only", action="append", choices=PARTS,
                        help="only this part (repeatable; default all)")
    args = parser.parse_args(argv)
    if not args.compile:
        parser.print_help()
        return 0
    try:
        config.set_cpu_kernels("numba")
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return 1
    compile_all(tuple(args.dtype or ("float32", "float64")), tuple(args.only or PARTS),
                report=lambda line: print(line, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
