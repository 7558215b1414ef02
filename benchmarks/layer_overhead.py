"""A layer call's fixed cost: forward (training mode, on the tape) and backward of each
layer kind of a small CNN on a tiny input, (2, 4, 4, 8) float32, in microseconds (best
of 5 runs of 2,000 calls). Small CNNs are many small layers, so this is what a step pays
per layer before any arithmetic.

    python benchmarks/layer_overhead.py
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from timing import machine  # noqa: E402  (sets OpenBLAS env first)

import minidl as mdl  # noqa: E402
from minidl import layers  # noqa: E402

LAYERS = {
    "Conv2D 3x3": lambda: layers.Conv2D(8, 3, padding="same", use_bias=False),
    "Conv2D 1x1": lambda: layers.Conv2D(8, 1, use_bias=False),
    "DepthwiseConv2D": lambda: layers.DepthwiseConv2D(3, padding="same", use_bias=False),
    "SeparableConv2D": lambda: layers.SeparableConv2D(8, 3, padding="same",
                                                      activation="relu"),
    "BatchNormalization": lambda: layers.BatchNormalization(),
    "ReLU(6)": lambda: layers.ReLU(6.0),
    "GlobalAveragePooling2D": lambda: layers.GlobalAveragePooling2D(),
}


def per_call_us(layer, x, calls=2000):
    def once():
        y = layer(x, training=True)
        y.sum().backward()
    for _ in range(200):
        once()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls // 5):
            once()
        best = min(best, (time.perf_counter() - start) / (calls // 5))
    return best * 1e6


def main():
    print(f"{machine()}; load {os.getloadavg()[0]:.2f}; CPU kernels "
          f"{mdl.config.cpu_kernels()}")
    x = mdl.tensor(np.random.default_rng(0).random((2, 4, 4, 8), dtype=np.float32),
                   requires_grad=True)
    base = per_call_us(lambda t, training: t * 1.0, x)
    print(f"{'layer':>24} {'us / call':>10}")
    print(f"{'(x * 1.0, for scale)':>24} {base:10.1f}")
    for name, make in LAYERS.items():
        print(f"{name:>24} {per_call_us(make(), x):10.1f}")


if __name__ == "__main__":
    main()
