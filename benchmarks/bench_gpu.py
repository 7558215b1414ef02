"""GPU speed: minidl's depthwise convolution on CuPy against PyTorch's cuDNN, the share of
memory bandwidth both reach, and digits MobileNet training on the GPU against the CPU.

Depthwise convolution, float32, kernel 3, "same", bias on, on MobileNet v1's depthwise
shapes at batch 64 and 128: the forward (no tape) and the forward+backward (input, kernel
and bias gradients). The peer is ``torch.nn.functional.conv2d`` with ``groups=C``, inputs
and weights in ``torch.channels_last`` memory format, ``torch.backends.cudnn.benchmark``
on and TF32 off (so both sides compute in float32). The contenders run interleaved in one
process (A B A B ...); each call is timed with CUDA events recorded before and after it on
the default stream (``cupy.cuda.Event`` for minidl, ``torch.cuda.Event`` for PyTorch),
after warm-up calls (CuPy's kernel compilation, cuDNN's algorithm search); the table gives
medians and the median of the per-pair ratios minidl/cuDNN. Targets: forward <= 1.5x and
forward+backward <= 2x on every shape.

Bandwidth: bytes moved over time, as a share of a measured device-to-device copy of a large
buffer (``copyto`` of 1 GiB, counted as 2x its size: one read, one write). With 4-byte
words, ``in = N*H*W*C``, ``out = N*OH*OW*C``, ``k = 9*C`` and ``b = C``:

- forward: ``4 * (in + out + k + b)`` (read x, kernel and bias; write y);
- forward+backward: ``4 * (3*in + 3*out + 3*k + 2*b)``, the three passes' reads and writes:
  the forward as above, the input gradient (read dy and the kernel, write dx) and the kernel
  and bias gradients (read x and dy, write dkernel and dbias). An implementation that makes
  more passes than these moves more bytes than counted, so its share reads lower.

Training: images/s of ``examples/mobilenet_digits.py``'s model (its ``build_model``), Adam,
batch 32 as in the example, on scikit-learn's digits (1,437 training images; random
images of the same shape when scikit-learn is missing), one warm-up epoch then a few
timed epochs, on the GPU (``backend="cupy"``) and on the CPU (``backend="numpy"``).

The timing, byte counts and tables are generic over a small device object, so
``--backend numpy`` runs the same code on the CPU (host timer, PyTorch CPU as peer when it
is installed) to check the script where there is no GPU; ``--quick`` then uses batches of 1
and 2. The targets are the GPU targets; a CPU run only checks the script.

    python benchmarks/bench_gpu.py                           # GPU, batch 64 and 128
    python benchmarks/bench_gpu.py --quick                   # GPU, batch 64, few repeats
    python benchmarks/bench_gpu.py --backend numpy --quick   # CPU check of the script
"""
import argparse
import datetime
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "examples"))

import numpy as np  # noqa: E402
from mobilenet_digits import build_model, load_digits_split  # noqa: E402
from timing import geomean, machine, measure, timed  # noqa: E402  (sets OpenBLAS env first)

import minidl as mdl  # noqa: E402

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # the table then shows minidl's times only
    torch = None

# (label, height, width, channels, stride): MobileNet v1's depthwise layers, kernel 3,
# "same"
CASES = [
    ("dw 56x56x64", 56, 56, 64, 1),
    ("dw 28x28x128", 28, 28, 128, 1),
    ("dw 14x14x256", 14, 14, 256, 1),
    ("dw 7x7x512", 7, 7, 512, 1),
    ("dw 56x56x128 s2", 56, 56, 128, 2),
    ("dw 112x112x32", 112, 112, 32, 1),
    ("dw 112x112x64 s2", 112, 112, 64, 2),
]
MODES = ("forward", "forward+backward")
TARGETS = {"forward": 1.5, "forward+backward": 2.0}  # minidl/cuDNN, on every shape
GIB = 1 << 30


class HostDevice:
    """The NumPy backend on the CPU: host timer, PyTorch CPU as peer."""

    backend, peer_label, torch_device = "numpy", "PyTorch CPU", "cpu"
    xp = np

    def settings(self, quick):
        return {"batches": (1, 2) if quick else (64, 128), "repeats": 3 if quick else 7,
                "warmup": 2, "copy_bytes": (64 if quick else 256) << 20,
                "epochs": 1 if quick else 3}

    def sync(self):
        pass

    clock = peer_clock = staticmethod(timed)

    def describe(self):
        return (f"{machine()}; minidl CPU kernels {mdl.config.cpu_kernels()}, "
                f"{mdl.config.num_threads()} threads")


class CupyDevice:
    """The CuPy backend on one GPU: CUDA event timers, PyTorch's cuDNN as peer. GPU only."""

    backend, peer_label, torch_device = "cupy", "cuDNN", "cuda"

    def __init__(self):
        self.xp = mdl.backend.resolve("cupy").xp  # RuntimeError without CuPy or a GPU
        self.cuda = self.xp.cuda

    def settings(self, quick):
        return {"batches": (64,) if quick else (64, 128), "repeats": 5 if quick else 21,
                "warmup": 5, "copy_bytes": GIB, "epochs": 1 if quick else 3}

    def sync(self):
        self.cuda.runtime.deviceSynchronize()

    def clock(self, fn):
        start, end = self.cuda.Event(), self.cuda.Event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        return self.cuda.get_elapsed_time(start, end) / 1e3

    @staticmethod
    def peer_clock(fn):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3

    def describe(self):
        runtime = self.cuda.runtime
        name = runtime.getDeviceProperties(0)["name"]
        name = name.decode() if isinstance(name, bytes) else name
        line = (f"{name}; CuPy {self.xp.__version__}, CUDA runtime "
                f"{_cuda_version(runtime.runtimeGetVersion())}, driver supports CUDA "
                f"{_cuda_version(runtime.driverGetVersion())}")
        try:  # the NVIDIA driver's own version, where nvidia-smi is on the PATH
            driver = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=20).stdout.split()
            line += f", NVIDIA driver {driver[0]}" if driver else ""
        except (OSError, subprocess.SubprocessError):
            pass
        return line


def _cuda_version(number):
    return f"{number // 1000}.{number % 1000 // 10}"


def peer_available(device):
    if torch is None:
        return False
    return device.torch_device == "cpu" or torch.cuda.is_available()


def peer_description(device):
    if torch is None:
        return "PyTorch is not installed: minidl times only"
    if not peer_available(device):
        return f"PyTorch {torch.__version__} sees no CUDA device: minidl times only"
    if device.torch_device == "cpu":
        return f"PyTorch {torch.__version__} CPU, {torch.get_num_threads()} threads"
    return (f"PyTorch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN "
            f"{torch.backends.cudnn.version()}), cudnn.benchmark=True, TF32 off")


# -- the two contenders -------------------------------------------------------------------

class MinidlDepthwise:
    """``minidl.functional.depthwise_conv2d`` on channels_last arrays of the device."""

    def __init__(self, device, x, kernel, bias, stride):
        def leaf(a):
            return mdl.tensor(a, requires_grad=True, backend=device.backend)
        self.x, self.kernel, self.bias = leaf(x), leaf(kernel), leaf(bias)
        self.stride = stride
        with mdl.no_grad():
            shape = self.apply().shape
        self.gy = device.xp.ones(shape, dtype=np.float32)

    def apply(self):
        return mdl.functional.depthwise_conv2d(self.x, self.kernel, strides=self.stride,
                                               padding="same", bias=self.bias)

    def forward(self):
        with mdl.no_grad():
            self.apply()

    def forward_backward(self):
        for t in (self.x, self.kernel, self.bias):
            t.zero_grad()
        self.apply().backward(self.gy)

    def output(self):
        with mdl.no_grad():
            return self.apply().numpy()


class TorchDepthwise:
    """``conv2d(groups=C)`` on channels_last tensors (padding 1: the same output shape as
    "same"; at stride 2 on even sizes PyTorch pads top/left where "same" pads bottom/right,
    which moves the window but not the cost)."""

    def __init__(self, device, x, kernel, bias, stride):
        def leaf(a, nchw=True):
            t = torch.from_numpy(np.ascontiguousarray(a)).to(device.torch_device)
            if nchw:
                t = t.contiguous(memory_format=torch.channels_last)
            return t.requires_grad_(True)
        self.x = leaf(x.transpose(0, 3, 1, 2))              # (N, C, H, W), NHWC in memory
        self.weight = leaf(kernel.transpose(2, 3, 0, 1))    # (C, 1, 3, 3)
        self.bias, self.stride, self.groups = leaf(bias, False), stride, x.shape[-1]
        with torch.no_grad():
            self.gy = torch.ones_like(self.apply())

    def apply(self):
        return TF.conv2d(self.x, self.weight, self.bias, stride=self.stride, padding=1,
                         groups=self.groups)

    def forward(self):
        with torch.no_grad():
            self.apply()

    def forward_backward(self):
        self.x.grad = self.weight.grad = self.bias.grad = None
        self.apply().backward(self.gy)

    def output(self):
        with torch.no_grad():
            return self.apply().permute(0, 2, 3, 1).cpu().numpy()


# -- measurements -------------------------------------------------------------------------

def traffic_bytes(n, h, w, c, stride, mode):
    """Bytes read and written (float32) by one call; the formulas are in the docstring."""
    oh, ow = -(-h // stride), -(-w // stride)
    x, y, k, b = n * h * w * c, n * oh * ow * c, 9 * c, c
    words = x + y + k + b if mode == "forward" else 3 * x + 3 * y + 3 * k + 2 * b
    return 4 * words


def copy_bandwidth(device, nbytes, repeats):
    """Bytes/s of ``copyto`` between two buffers of ``nbytes`` (2x bytes per copy)."""
    xp = device.xp
    src = xp.ones(nbytes // 4, dtype=np.float32)
    dst = xp.empty_like(src)
    xp.copyto(dst, src)
    seconds = statistics.median(device.clock(lambda: xp.copyto(dst, src))
                                for _ in range(repeats))
    return 2 * nbytes / seconds


def depthwise_rows(device, peer_on, cfg):
    """One row per case, batch and mode: times, ratio and bandwidth; and the largest
    forward difference to the peer over the stride-1 cases."""
    rng = np.random.default_rng(0)
    rows, worst_diff = [], 0.0
    for label, h, w, c, stride in CASES:
        for n in cfg["batches"]:
            x = rng.standard_normal((n, h, w, c), dtype=np.float32)
            kernel = rng.standard_normal((3, 3, c, 1), dtype=np.float32) * 0.1
            bias = rng.standard_normal(c, dtype=np.float32) * 0.1
            ours = MinidlDepthwise(device, x, kernel, bias, stride)
            peer = TorchDepthwise(device, x, kernel, bias, stride) if peer_on else None
            if peer is not None and stride == 1 and n == cfg["batches"][0]:
                worst_diff = max(worst_diff, float(np.max(np.abs(ours.output() -
                                                                 peer.output()))))
            for mode in MODES:
                method = mode.replace("+", "_")
                mine, theirs, ratio = measure(
                    getattr(ours, method), getattr(peer, method) if peer else None,
                    cfg["repeats"], cfg["warmup"], clock=device.clock,
                    peer_clock=device.peer_clock)
                rows.append({"label": label, "n": n, "mode": mode, "ours": mine,
                             "peer": theirs, "ratio": ratio,
                             "bytes": traffic_bytes(n, h, w, c, stride, mode)})
            del ours, peer
    return rows, (worst_diff if peer_on else None)


def digits_data():
    try:
        x_train, _, y_train, _ = load_digits_split(0)
        return x_train, y_train, "scikit-learn's digits"
    except ImportError:
        rng = np.random.default_rng(0)
        return (rng.random((1437, 8, 8, 1), dtype=np.float32), rng.integers(0, 10, 1437),
                "random 8x8 images (scikit-learn is not installed)")


def train_throughput(device, x, y, batch, epochs):
    """Images/s of ``fit`` on the example's model: one warm-up epoch, then the median of
    ``epochs`` timed ones (the device synchronized at both ends)."""
    mdl.random.seed(0)
    model = build_model(input_shape=x.shape[1:], backend=device.backend)
    model.compile(optimizer=mdl.optimizers.Adam(learning_rate=3e-3),
                  loss=mdl.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    seconds = []
    for _ in range(epochs):
        device.sync()
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        device.sync()
        seconds.append(time.perf_counter() - start)
    return len(x) / statistics.median(seconds), statistics.median(seconds)


# -- report -------------------------------------------------------------------------------

def _ms(t):
    return "-" if t is None else f"{t * 1e3:.3f}"


def _ratio(r):
    return "-" if r is None else f"{r:.2f}x"


def _share(nbytes, t, copy_bw):
    return "-" if t is None else f"{100 * nbytes / t / copy_bw:.0f} %"


def markdown(header, body):
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] +
                     ["| " + " | ".join(cells) + " |" for cells in body])


def report(device, cfg, rows, worst_diff, copy_bw, training, data_note):
    peer = device.peer_label
    on_gpu = device.backend != "numpy"  # the targets are GPU targets: a CPU run is a check
    timer = "host timer (time.perf_counter)" if device.backend == "numpy" else \
        "CUDA events (cupy.cuda.Event, torch.cuda.Event)"
    setup = [["device", device.describe()],
             ["peer", peer_description(device)],
             ["minidl", f"{mdl.__version__}, backend={device.backend!r}, float32; Python "
                        f"{sys.version.split()[0]}, NumPy {np.__version__}"],
             ["date", f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}"],
             ["timing", f"{timer}, median of {cfg['repeats']} interleaved pairs after "
                        f"{cfg['warmup']} warm-up calls each"],
             ["copy bandwidth", f"{copy_bw / 1e9:.0f} GB/s ({cfg['copy_bytes'] >> 20} MiB "
                                "copyto, counted 2x)"]]
    if len(training) == 2:
        setup.append(["CPU (training row)", HostDevice().describe()])
    lines = [markdown(["setting", "value"], setup), ""]
    body = []
    for r in rows:
        target = TARGETS[r["mode"]]
        verdict = "-" if r["ratio"] is None or not on_gpu else \
            ("met" if r["ratio"] <= target else "**missed**")
        body.append([r["label"], str(r["n"]), r["mode"], _ms(r["peer"]), _ms(r["ours"]),
                     _ratio(r["ratio"]), f"<= {target}x ({verdict})",
                     f"{r['bytes'] / r['ours'] / 1e9:.0f}",
                     _share(r["bytes"], r["ours"], copy_bw),
                     _share(r["bytes"], r["peer"], copy_bw)])
    lines.append(markdown(["case (k3, same)", "N", "pass", f"{peer} ms", "minidl ms",
                           f"minidl/{peer}", "target", "minidl GB/s", "minidl % of copy",
                           f"{peer} % of copy"], body))
    summary = []
    for mode in MODES:
        ratios = [r["ratio"] for r in rows if r["mode"] == mode and r["ratio"] is not None]
        if ratios:
            worst = max(ratios)
            verdict = ("-" if not on_gpu else "met" if worst <= TARGETS[mode]
                       else "**missed**")
            summary.append([mode, f"{geomean(ratios):.2f}x", f"{worst:.2f}x",
                            f"<= {TARGETS[mode]}x on every shape ({verdict})"])
    if summary:
        lines += ["", markdown([f"minidl/{peer}", "geomean", "worst", "target"], summary)]
    lines += ["", markdown(["digits MobileNet training (batch "
                            f"{training[0]['batch']}, {training[0]['images']} "
                            "images/epoch)",
                            "images/s", "s/epoch"],
                           [[t["label"], f"{t['rate']:.0f}", f"{t['seconds']:.3f}"]
                            for t in training])]
    if len(training) == 2:
        lines.append(f"\nGPU/CPU training throughput: "
                     f"{training[0]['rate'] / training[1]['rate']:.1f}x")
    lines += ["", f"Training data: {data_note}; {cfg['epochs']} timed epoch(s) after one "
              "warm-up epoch.",
              "Bytes per call (float32, in = N*H*W*C, out = N*OH*OW*C, k = 9*C, b = C): "
              "forward 4*(in + out + k + b); "
              "forward+backward 4*(3*in + 3*out + 3*k + 2*b)."]
    lines.append("A share above 100 % means the data stayed in a cache (on a GPU, its L2) "
                 "between calls.")
    if worst_diff is not None:
        lines.append(f"Forward outputs agree with {peer} to a max |difference| of "
                     f"{worst_diff:.2e} (stride-1 cases, batch {cfg['batches'][0]}).")
    if device.backend == "numpy":
        lines.append("CPU run: checks the script only; the targets are the GPU targets "
                     "(minidl/cuDNN) and no GPU figure was measured.")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="cupy", choices=["cupy", "numpy"],
                        help="cupy: the GPU run (default); numpy: a CPU check of the "
                             "script")
    parser.add_argument("--quick", action="store_true", help="one batch size, few repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed pairs per cell")
    parser.add_argument("--train-batch", type=int, default=32, help="training batch size")
    args = parser.parse_args(argv)
    if args.backend == "cupy":
        try:
            device = CupyDevice()
        except RuntimeError as err:
            print(f"bench_gpu: no GPU run: {err}", file=sys.stderr)
            return 2
        if torch is not None:
            torch.backends.cudnn.benchmark = True
            torch.backends.cudnn.allow_tf32 = False
    else:
        device = HostDevice()
    cfg = device.settings(args.quick)
    cfg["repeats"] = args.repeats or cfg["repeats"]
    copy_bw = copy_bandwidth(device, cfg["copy_bytes"], max(cfg["repeats"], 5))
    rows, worst_diff = depthwise_rows(device, peer_available(device), cfg)
    x, y, data_note = digits_data()
    training = []
    devices = [device] + ([HostDevice()] if device.backend == "cupy" else [])
    for dev in devices:
        label = f"minidl {dev.backend} ({'GPU' if dev.backend == 'cupy' else 'CPU'})"
        rate, seconds = train_throughput(dev, x, y, args.train_batch, cfg["epochs"])
        training.append({"label": label, "rate": rate, "seconds": seconds,
                         "batch": args.train_batch, "images": len(x)})
    print(report(device, cfg, rows, worst_diff, copy_bw, training, data_note))
    return 0


if __name__ == "__main__":
    sys.exit(main())
