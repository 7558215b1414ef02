"""One training step of the digits MobileNet (examples/mobilenet_digits.py) against the
same architecture in PyTorch CPU, plus the tape's fixed cost per op.

A step is forward, loss, backward and an Adam update, batch 64, float32, on 8x8x1 (the
digits) and 28x28x1 (MNIST-sized) inputs. Each of minidl's CPU paths (compiled Numba
kernels when Numba is installed, and NumPy) runs interleaved with PyTorch in one process;
the table gives medians in ms, images/s and the per-pair ratio. PyTorch is a benchmark
peer only; without it the table shows minidl alone.

    python benchmarks/train_step.py            # about a minute
    python benchmarks/train_step.py --quick    # a few seconds
"""
import argparse
import datetime
import importlib.util
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "examples"))

from timing import geomean, machine, measure  # noqa: E402  (sets OpenBLAS env first)

import numpy as np  # noqa: E402

import minidl as mdl  # noqa: E402
from mobilenet_digits import build_model  # noqa: E402

try:
    import torch
except ImportError:
    torch = None


class MinidlStep:
    def __init__(self, shape, batch, rng):
        self.model = build_model(input_shape=shape)
        self.model.compile(mdl.optimizers.Adam(1e-3),
                           mdl.losses.SparseCategoricalCrossentropy(from_logits=True))
        self.x = rng.random((batch,) + shape, dtype=np.float32)
        self.y = rng.integers(0, 10, batch)

    def __call__(self):
        self.model.train_on_batch(self.x, self.y)


def on_path(path, fn):
    """``fn`` run with minidl's CPU kernels set to ``path``."""
    def call():
        mdl.config.set_cpu_kernels(path)
        fn()
    return call


def torch_model(width=32, classes=10):
    nn = torch.nn

    def bn(c):
        return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)

    def block(cin, cout, stride):
        return [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), bn(cin),
                nn.ReLU6(), nn.Conv2d(cin, cout, 1, bias=False), bn(cout), nn.ReLU6()]

    w = width
    return nn.Sequential(
        nn.Conv2d(1, w, 3, padding=1, bias=False), bn(w), nn.ReLU6(),
        *block(w, 2 * w, 1), *block(2 * w, 4 * w, 2),
        nn.Conv2d(4 * w, 4 * w, 3, padding=1, groups=4 * w, bias=False),
        nn.Conv2d(4 * w, 4 * w, 1, bias=False), bn(4 * w), nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(4 * w, classes))


class TorchStep:
    def __init__(self, shape, batch, rng):
        h, w, c = shape
        self.net = torch_model().to(memory_format=torch.channels_last)
        self.opt = torch.optim.Adam(self.net.parameters(), 1e-3)
        x = rng.random((batch, c, h, w), dtype=np.float32)
        self.x = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
        self.y = torch.from_numpy(rng.integers(0, 10, batch))
        self.loss = torch.nn.CrossEntropyLoss()

    def __call__(self):
        self.opt.zero_grad(set_to_none=True)
        self.loss(self.net(self.x), self.y).backward()
        self.opt.step()


def tape_cost_us(repeats=20000):
    """Forward + backward of ``a * b`` on 1-element tensors, in microseconds."""
    import time
    a = mdl.tensor([1.0], requires_grad=True)
    b = mdl.tensor([2.0], requires_grad=True)
    for _ in range(1000):
        (a * b).backward()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats // 5):
            (a * b).backward()
        best = min(best, (time.perf_counter() - start) / (repeats // 5))
    return best * 1e6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 15
    rng = np.random.default_rng(0)
    paths = ("numba", "numpy") if importlib.util.find_spec("numba") else ("numpy",)
    print(f"{machine()}; {datetime.date.today()}")
    print(f"{'input':>10} {'path':>6} {'minidl ms':>10} {'img/s':>8} {'torch ms':>9} "
          f"{'img/s':>8} {'ratio':>6}")
    ratios = {path: [] for path in paths}
    for shape in ((8, 8, 1), (28, 28, 1)):
        ours = MinidlStep(shape, args.batch, rng)
        peer = TorchStep(shape, args.batch, rng) if torch is not None else None
        for path in paths:
            mine, theirs, ratio = measure(on_path(path, ours), peer, repeats)
            ratios[path].append(ratio)
            label = "x".join(map(str, shape))
            torch_cols = (f"{theirs * 1e3:9.2f} {args.batch / theirs:8.0f} {ratio:5.2f}x"
                          if theirs else f"{'-':>9} {'-':>8} {'-':>6}")
            print(f"{label:>10} {path:>6} {mine * 1e3:10.2f} {args.batch / mine:8.0f} "
                  f"{torch_cols}")
    mdl.config.set_cpu_kernels("auto")
    if torch is not None:
        for path in paths:
            target = 1.2 if path == "numba" else 2.5
            print(f"{path}: geomean step ratio to PyTorch {geomean(ratios[path]):.2f}x "
                  f"(target <= {target}x)")
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads; minidl "
              f"{mdl.config.num_threads()} threads")
    print(f"tape fixed cost, forward+backward of a*b on 1-element tensors: "
          f"{tape_cost_us():.1f} us")


if __name__ == "__main__":
    main()
