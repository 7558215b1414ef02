"""One training step of the digits MobileNet (examples/mobilenet_digits.py) against the
same architecture in PyTorch CPU, plus the tape's fixed cost per op.

A step is forward, loss, backward and an Adam update, batch 64, float32, on 8x8x1 (the
digits) and 28x28x1 (MNIST-sized) inputs. Each of minidl's CPU paths (compiled Numba
kernels when Numba is installed, and NumPy) runs interleaved with PyTorch in one process;
the table gives medians in ms, images/s and the per-pair ratio. PyTorch is a benchmark
peer only; without it the table shows minidl alone.

    python benchmarks/train_step.py            # about a minute
    python benchmarks/train_step.py --quick    # a few seconds
    python benchmarks/train_step.py --small    # also another small separable CNN (SGD)
    python benchmarks/train_step.py --accuracy # also the digits' time to 97 % accuracy
    python benchmarks/train_step.py --hog      # then again beside a spinning process
"""
import argparse
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
from timing import machine, measure  # noqa: E402  (sets OpenBLAS env first)

import minidl as mdl  # noqa: E402

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
        # Keras momentum=0.9, as the example
        return nn.BatchNorm2d(c, eps=1e-3, momentum=0.1)

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


def small_cnn(shape):
    """Another small separable CNN: a Conv2D stem, two strided SeparableConv2D blocks with
    the activation in the layer, global pooling and a Dense head."""
    layers = mdl.layers
    return mdl.models.Sequential([
        layers.Conv2D(16, 3, padding="same", activation="relu", input_shape=shape),
        layers.SeparableConv2D(32, 3, strides=2, padding="same", activation="relu"),
        layers.SeparableConv2D(64, 3, strides=2, padding="same", activation="relu"),
        layers.GlobalAveragePooling2D(), layers.Dense(10)])


def torch_small_cnn():
    nn = torch.nn

    def separable(cin, cout):
        return [nn.Conv2d(cin, cin, 3, 2, 1, groups=cin, bias=False),
                nn.Conv2d(cin, cout, 1), nn.ReLU()]
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), *separable(16, 32),
                         *separable(32, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(64, 10))


class SmallStep(MinidlStep):
    def __init__(self, shape, batch, rng):
        self.model = small_cnn(shape)
        self.model.compile(mdl.optimizers.SGD(0.01),
                           mdl.losses.SparseCategoricalCrossentropy(from_logits=True))
        self.x = rng.random((batch,) + shape, dtype=np.float32)
        self.y = rng.integers(0, 10, batch)


class TorchSmallStep(TorchStep):
    def __init__(self, shape, batch, rng, threads):
        super().__init__(shape, batch, rng)
        self.net = torch_small_cnn().to(memory_format=torch.channels_last)
        self.opt = torch.optim.SGD(self.net.parameters(), 0.01)
        self.threads = threads

    def __call__(self):
        torch.set_num_threads(self.threads)
        super().__call__()


def small_cnn_table(args, paths, rng):
    """The small CNN (SGD) against PyTorch's faster of 1 and 2 threads."""
    print("small separable CNN, SGD, batch 64: minidl against PyTorch's faster of 1 and 2 "
          f"threads (load {os.getloadavg()[0]:.2f})")
    print(f"{'input':>10} {'path':>6} {'minidl ms':>10} {'torch ms':>9} {'threads':>7} "
          f"{'ratio':>6}")
    for shape in ((16, 16, 1), (28, 28, 1)):
        ours = SmallStep(shape, args.batch, rng)
        for path in paths:
            best = None
            for threads in (1, 2):
                peer = TorchSmallStep(shape, args.batch, rng, threads)
                mine, theirs, ratio = measure(on_path(path, ours), peer, args.repeats)
                if best is None or theirs < best[1]:
                    best = (mine, theirs, ratio, threads)
            torch.set_num_threads(mdl.config.num_threads())
            print(f"{'x'.join(map(str, shape)):>10} {path:>6} {best[0] * 1e3:10.2f} "
                  f"{best[1] * 1e3:9.2f} {best[3]:7d} {best[2]:5.2f}x", flush=True)
    mdl.config.set_cpu_kernels("auto")


def minidl_to_accuracy(path, data, batch, target, max_epochs):
    """``(seconds of training, epochs)`` until the digits test accuracy reaches
    ``target`` (None if it does not within ``max_epochs``): ``fit`` one epoch at a time,
    Adam 3e-3 (the example's rate), evaluation not timed."""
    x_train, x_test, y_train, y_test = data
    mdl.config.set_cpu_kernels(path)
    mdl.random.seed(0)
    model = build_model(input_shape=x_train.shape[1:])
    model.compile(mdl.optimizers.Adam(3e-3),
                  mdl.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    seconds = 0.0
    for epoch in range(1, max_epochs + 1):
        start = time.perf_counter()
        model.fit(x_train, y_train, batch_size=batch, epochs=1, verbose=0)
        seconds += time.perf_counter() - start
        if model.evaluate(x_test, y_test, verbose=0)[1] >= target:
            return seconds, epoch
    return seconds, None


def torch_to_accuracy(data, batch, target, max_epochs):
    """The same with PyTorch: the same network, Adam 3e-3, batch, shuffled epochs."""
    x_train, x_test, y_train, y_test = data
    torch.manual_seed(0)
    net = torch_model().to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    loss = torch.nn.CrossEntropyLoss()
    to_nchw = lambda a: torch.from_numpy(a.transpose(0, 3, 1, 2).copy()).contiguous(  # noqa
        memory_format=torch.channels_last)
    xt, yt, xv = to_nchw(x_train), torch.from_numpy(y_train), to_nchw(x_test)
    rng = np.random.default_rng(0)
    seconds = 0.0
    for epoch in range(1, max_epochs + 1):
        start = time.perf_counter()
        net.train()
        order = torch.from_numpy(rng.permutation(len(yt)))
        for i in range(0, len(yt), batch):
            idx = order[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss(net(xt[idx]), yt[idx]).backward()
            opt.step()
        seconds += time.perf_counter() - start
        net.eval()
        with torch.no_grad():
            accuracy = (net(xv).argmax(1).numpy() == y_test).mean()
        if accuracy >= target:
            return seconds, epoch
    return seconds, None


def accuracy_table(args, paths):
    """Time to 97 % test accuracy on the digits, each minidl path and PyTorch."""
    from mobilenet_digits import load_digits_split
    data = load_digits_split(0)
    target, max_epochs = 0.97, 40
    print(f"digits to {target:.0%} test accuracy, batch {args.batch}, Adam 3e-3 (at most "
          f"{max_epochs} epochs, after one warm-up epoch; load {os.getloadavg()[0]:.2f}):")
    results = {}
    for path in paths:  # each after an untimed epoch of a throwaway model (warm caches)
        minidl_to_accuracy(path, data, args.batch, 1.0, 1)
        results[path] = minidl_to_accuracy(path, data, args.batch, target, max_epochs)
    if torch is not None:
        torch.set_num_threads(mdl.config.num_threads())
        torch_to_accuracy(data, args.batch, 1.0, 1)
        results["torch"] = torch_to_accuracy(data, args.batch, target, max_epochs)
    for name, (seconds, epochs) in results.items():
        reached = f"{epochs} epochs" if epochs else f"not reached in {max_epochs} epochs"
        print(f"{name:>8}: {seconds:6.1f} s ({reached})")
    mdl.config.set_cpu_kernels("auto")


def tape_cost_us(repeats=20000):
    """Forward + backward of ``a * b`` on 1-element tensors, in microseconds."""
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


def hog():
    """A process that spins on one CPU until stopped (another user's busy job)."""
    import multiprocessing
    process = multiprocessing.get_context("spawn").Process(target=_spin, daemon=True)
    process.start()
    return process


def _spin():
    while True:
        pass


def table(args, paths, rng):
    """``{(shape, path): (minidl s, torch s, ratio)}``, printed as it goes."""
    print(f"{'input':>10} {'path':>6} {'minidl ms':>10} {'img/s':>8} {'torch ms':>9} "
          f"{'img/s':>8} {'ratio':>6}   (load {os.getloadavg()[0]:.2f})")
    cells = {}
    for shape in ((8, 8, 1), (28, 28, 1)):
        ours = MinidlStep(shape, args.batch, rng)
        peer = TorchStep(shape, args.batch, rng) if torch is not None else None
        for path in paths:
            mine, theirs, ratio = measure(on_path(path, ours), peer, args.repeats)
            cells[shape, path] = (mine, theirs, ratio)
            label = "x".join(map(str, shape))
            torch_cols = (f"{theirs * 1e3:9.2f} {args.batch / theirs:8.0f} {ratio:5.2f}x"
                          if theirs else f"{'-':>9} {'-':>8} {'-':>6}")
            print(f"{label:>10} {path:>6} {mine * 1e3:10.2f} {args.batch / mine:8.0f} "
                  f"{torch_cols}", flush=True)
    mdl.config.set_cpu_kernels("auto")
    return cells


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--small", action="store_true",
                        help="also another small separable CNN (SGD) at 16x16 and 28x28")
    parser.add_argument("--accuracy", action="store_true",
                        help="also the time to 97 %% test accuracy on the digits")
    parser.add_argument("--hog", action="store_true",
                        help="then the same with a spinning process on one CPU")
    args = parser.parse_args(argv)
    args.repeats = 3 if args.quick else 15
    rng = np.random.default_rng(0)
    paths = ("numba", "numpy") if importlib.util.find_spec("numba") else ("numpy",)
    if torch is not None:
        torch.set_num_threads(mdl.config.num_threads())
    print(f"{machine()}; {datetime.datetime.now():%Y-%m-%d %H:%M}")
    cells = table(args, paths, rng)
    if torch is not None:
        for path in paths:
            target = 1.2 if path == "numba" else 2.0
            worst = max(cells[shape, p][2] for shape, p in cells if p == path)
            print(f"{path}: worst step ratio to PyTorch {worst:.2f}x (target <= {target}x "
                  "on each)")
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads; minidl "
              f"{mdl.config.num_threads()} threads")
    print(f"tape fixed cost, forward+backward of a*b on 1-element tensors: "
          f"{tape_cost_us():.1f} us")
    if torch is not None and args.small:
        small_cnn_table(args, paths, rng)
    if args.accuracy:
        accuracy_table(args, paths)
    if args.hog:
        busy = hog()
        try:
            print("with a spinning process on one CPU:")
            loaded = table(args, paths, rng)
        finally:
            busy.terminate()
        print(f"{'input':>10} {'path':>6} {'slowdown':>9} {'torch':>6} {'vs numpy':>9}")
        for (shape, path), (mine, theirs, _) in loaded.items():
            slow = mine / cells[shape, path][0]
            peer = f"{theirs / cells[shape, path][1]:5.2f}x" if theirs else "-"
            versus = mine / loaded[shape, "numpy"][0]
            print(f"{'x'.join(map(str, shape)):>10} {path:>6} {slow:8.2f}x {peer:>6} "
                  f"{versus:8.2f}x")


if __name__ == "__main__":
    main()
