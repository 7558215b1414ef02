"""Where one training step of the digits MobileNet spends its time, per op kind.

Every ``Function``'s ``forward`` and ``backward`` is timed (exclusive of the ops it runs
inside itself) and charged to a kind: BatchNormalization, the Conv2D stem (3x3),
depthwise, pointwise (1x1 convolutions), activations, loss, other ops (pooling, Dense,
dropout, reshapes); the optimizer's ``apply_gradients`` is timed as a whole; what is left
of the step is the tape, the layers' Python and the training loop. Batch 64, Adam,
float32, as ``train_step.py``.

    python benchmarks/profile_step.py                # 28x28x1, both CPU paths
    python benchmarks/profile_step.py --shape 8 --steps 20
    python benchmarks/profile_step.py --optimizer per-weight   # the unfused update
"""
import argparse
import collections
import datetime
import importlib.util
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "examples"))

import numpy as np  # noqa: E402
from mobilenet_digits import build_model  # noqa: E402
from timing import machine  # noqa: E402  (sets OpenBLAS env first)

import minidl as mdl  # noqa: E402
from minidl.autograd import Function  # noqa: E402

KINDS = ("BatchNorm", "Conv2D stem", "depthwise", "pointwise", "activations", "loss",
         "other ops", "optimizer", "tape/layers/loop")
ACTIVATIONS = {"Clip", "Relu", "Mul", "Where"}
LOSSES = {"SparseSoftmaxCrossEntropy", "SoftmaxCrossEntropy", "LogSoftmax", "Softmax"}


def kind_of(function, arrays):
    name = type(function).__name__
    if name.startswith("BatchNorm"):
        return "BatchNorm"
    if name.startswith("DepthwiseConv"):
        return "depthwise"
    if name == "Pointwise":
        return "pointwise"
    if name == "Conv":
        kernel = arrays[1] if arrays else function.inputs[1]
        return "pointwise" if all(k == 1 for k in kernel.shape[:-2]) else "Conv2D stem"
    if name in ACTIVATIONS:
        return "activations"
    if name in LOSSES:
        return "loss"
    return "other ops"


class Clock:
    """Exclusive time per kind: a nested op's time is taken off its caller's."""

    def __init__(self):
        self.totals = collections.Counter()
        self.stack = []

    def run(self, kind, fn, *args):
        self.stack.append(0.0)
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            spent = time.perf_counter() - start
            inner = self.stack.pop()
            self.totals[kind] += spent - inner
            if self.stack:
                self.stack[-1] += spent


def instrument(clock):
    """Wrap ``forward`` and ``backward`` of every Function class in place."""
    seen, todo = set(), [Function]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        for method in ("forward", "backward"):
            original = cls.__dict__.get(method)
            if original is None or (cls, method) in seen:
                continue
            seen.add((cls, method))

            def timed(self, *args, _original=original, _method=method):
                kind = kind_of(self, args if _method == "forward" else ())
                return clock.run(kind, _original, self, *args)
            setattr(cls, method, timed)


def profile(clock, shape, path, steps, rng, fused=True):
    mdl.config.set_cpu_kernels(path)
    model = build_model(input_shape=shape)
    optimizer = mdl.optimizers.Adam(1e-3)
    optimizer.fused = fused
    model.compile(optimizer, mdl.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = rng.random((64,) + shape, dtype=np.float32)
    y = rng.integers(0, 10, 64)
    for _ in range(3):
        model.train_on_batch(x, y)
    apply = optimizer.apply_gradients
    optimizer.apply_gradients = lambda *a, **k: clock.run("optimizer", apply, *a, **k)
    clock.totals.clear()
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    total = (time.perf_counter() - start) / steps
    per_step = {kind: clock.totals[kind] / steps for kind in KINDS[:-1]}
    per_step["tape/layers/loop"] = total - sum(per_step.values())
    return total, per_step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, default=28)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--optimizer", choices=("fused", "per-weight"), default="fused")
    args = parser.parse_args(argv)
    clock = Clock()
    instrument(clock)
    paths = ("numba", "numpy") if importlib.util.find_spec("numba") else ("numpy",)
    shape = (args.shape, args.shape, 1)
    print(f"{machine()}; {datetime.datetime.now():%Y-%m-%d %H:%M}; load "
          f"{os.getloadavg()[0]:.2f}; minidl {mdl.config.num_threads()} threads")
    rows = {}
    for path in paths:
        rows[path] = profile(clock, shape, path, args.steps, np.random.default_rng(0),
                             fused=args.optimizer == "fused")
    print(f"| {args.shape}x{args.shape} step, ms | " + " | ".join(paths) + " |")
    print("|---|" + "---|" * len(paths))
    for kind in KINDS:
        print(f"| {kind} | " + " | ".join(f"{rows[p][1][kind] * 1e3:.1f}" for p in paths)
              + " |")
    print("| **step** | " + " | ".join(f"**{rows[p][0] * 1e3:.1f}**" for p in paths) + " |")


if __name__ == "__main__":
    main()
