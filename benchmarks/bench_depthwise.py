"""Depthwise and separable convolution speed: minidl's two CPU paths (compiled Numba
kernels and NumPy) against PyTorch CPU.

Times the forward (no tape) and forward+backward (input, kernels and bias gradients) in
float32 on MobileNet-like shapes (kernel 3, "same"). Where PyTorch is installed it runs the
same layer (``groups=C``, channels_last memory format, default threads) interleaved with
minidl in this one process (A B A B ...) and reports the median of the per-pair time ratios,
so load from other processes hits both contenders alike. Each minidl path is timed against
PyTorch in its own interleaved series; the Numba column is "-" when Numba is not installed.
PyTorch is a benchmark peer only, never a dependency of minidl.

    python benchmarks/bench_depthwise.py            # full table (about a minute)
    python benchmarks/bench_depthwise.py --quick    # a few seconds: small batches
    python benchmarks/bench_depthwise.py --markdown # the table as Markdown
    python benchmarks/bench_depthwise.py --layers   # small DepthwiseConv2D layer calls
"""
import argparse
import datetime
import importlib.util
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from timing import geomean, machine, measure  # noqa: E402  (sets OpenBLAS env first)

import minidl as mdl  # noqa: E402

try:
    import torch
except ImportError:  # the table then shows minidl's times only
    torch = None

F = mdl.functional

# (label, batch, height, width, channels, stride, filters or None for depthwise only)
CASES = [
    ("dw 56x56x64", 32, 56, 56, 64, 1, None),
    ("dw 28x28x128", 32, 28, 28, 128, 1, None),
    ("dw 14x14x256", 32, 14, 14, 256, 1, None),
    ("dw 7x7x512", 32, 7, 7, 512, 1, None),
    ("dw 56x56x128 s2", 32, 56, 56, 128, 2, None),
    ("dw 32x32x32", 64, 32, 32, 32, 1, None),
    ("dw 16x16x32", 64, 16, 16, 32, 1, None),
    ("sep 28x28x128 -> 256", 32, 28, 28, 128, 1, 256),
    ("sep 32x32x32 -> 64", 64, 32, 32, 32, 1, 64),
]
PATHS = ("numba", "numpy") if importlib.util.find_spec("numba") else ("numpy",)
TARGETS = {"numba": {"dw forward": 1.0, "dw forward+backward": 1.0,
                     "sep forward+backward": 1.2},
           "numpy": {"dw forward": 5.0, "dw forward+backward": 3.5,
                     "sep forward+backward": 1.5}}
WORST = {"numba": 1.3}  # no depthwise forward cell above this ratio
LAYER_CASES = [(64, 16, 16, 32), (64, 32, 32, 32)]  # DepthwiseConv2D through the layer
LAYER_TARGET = 1.3


class MinidlCase:
    """The minidl op on channels_last float32 arrays, with a reusable output gradient."""

    def __init__(self, n, h, w, c, stride, filters, rng):
        self.stride, self.filters = stride, filters
        self.x = mdl.tensor(rng.standard_normal((n, h, w, c), dtype=np.float32),
                            requires_grad=True)
        self.kernel = mdl.tensor(rng.standard_normal((3, 3, c, 1), dtype=np.float32) * 0.1,
                                 requires_grad=True)
        units = filters or c
        self.bias = mdl.tensor(np.zeros(units, np.float32), requires_grad=True)
        self.pointwise = None
        if filters:
            self.pointwise = mdl.tensor(
                rng.standard_normal((1, 1, c, filters), dtype=np.float32) * 0.1,
                requires_grad=True)
        with mdl.no_grad():
            self.gy = np.ones(self.apply().shape, np.float32)

    def apply(self):
        if self.filters:
            return F.separable_conv2d(self.x, self.kernel, self.pointwise,
                                      strides=self.stride, padding="same", bias=self.bias)
        return F.depthwise_conv2d(self.x, self.kernel, strides=self.stride, padding="same",
                                  bias=self.bias)

    def forward(self):
        with mdl.no_grad():
            self.apply()

    def forward_backward(self):
        for t in (self.x, self.kernel, self.bias, self.pointwise):
            if t is not None:
                t.zero_grad()
        self.apply().backward(self.gy)


class TorchCase:
    """The same layer in PyTorch: groups=C (then a 1x1 convolution), channels_last."""

    def __init__(self, n, h, w, c, stride, filters, rng):
        x = rng.standard_normal((n, c, h, w), dtype=np.float32)
        self.x = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
        self.x.requires_grad_(True)
        layers = [torch.nn.Conv2d(c, c, 3, stride=stride, padding=1, groups=c,
                                  bias=filters is None)]
        if filters:
            layers.append(torch.nn.Conv2d(c, filters, 1))
        self.net = torch.nn.Sequential(*layers).to(memory_format=torch.channels_last)
        with torch.no_grad():
            self.gy = torch.ones_like(self.net(self.x))

    def forward(self):
        with torch.no_grad():
            self.net(self.x)

    def forward_backward(self):
        self.x.grad = None
        self.net.zero_grad(set_to_none=True)
        self.net(self.x).backward(self.gy)


def on_path(path, fn):
    """``fn`` run with minidl's CPU kernels set to ``path``."""
    def call():
        mdl.config.set_cpu_kernels(path)
        fn()
    return call


def run(quick=False, repeats=None):
    """Rows ``[label, N, {path: (ms, torch ms, ratio)} for fwd, same for fwd+bwd]`` and,
    per path, geomeans and worst ratios per key."""
    repeats = repeats or (3 if quick else 9)
    rng = np.random.default_rng(0)
    ratios = {path: {key: [] for key in TARGETS[path]} for path in PATHS}
    rows = []
    for label, n, h, w, c, stride, filters in CASES:
        if quick:
            n = 2
        ours = MinidlCase(n, h, w, c, stride, filters, rng)
        peer = TorchCase(n, h, w, c, stride, filters, rng) if torch is not None else None
        row = [label, n]
        for mode in ("forward", "forward_backward"):
            cells = {}
            key = f"{'sep' if filters else 'dw'} {mode.replace('_', '+')}"
            for path in PATHS:
                cells[path] = measure(on_path(path, getattr(ours, mode)),
                                      getattr(peer, mode) if peer else None, repeats)
                if cells[path][2] is not None and key in ratios[path]:
                    ratios[path][key].append(cells[path][2])
            row.append(cells)
        rows.append(row)
    mdl.config.set_cpu_kernels("auto")
    summary = {path: {key: (geomean(values), max(values) if values else None)
                      for key, values in per_key.items()}
               for path, per_key in ratios.items()}
    return rows, summary


def _ms(t):
    return "-" if t is None else f"{t * 1e3:.2f}"


def _ratio(r):
    return "-" if r is None else f"{r:.2f}x"


def report(rows, summary, markdown=False):
    header = ["case (k3, same)", "N"]
    for mode in ("fwd", "fwd+bwd"):
        header += [f"torch {mode} ms"] + [f"{path} {mode} ms" for path in PATHS] + \
            [f"{path} ratio" for path in PATHS]
    lines, body = [], []
    for label, n, *cells in rows:
        line = [label, str(n)]
        for per_path in cells:
            theirs = next((c[1] for c in per_path.values() if c[1] is not None), None)
            line += [_ms(theirs)] + [_ms(per_path[p][0]) for p in PATHS] + \
                [_ratio(per_path[p][2]) for p in PATHS]
        body.append(line)
    if markdown:
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---" for _ in header) + "|")
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
    else:
        widths = [max(len(r[i]) for r in body + [header]) for i in range(len(header))]
        for cells in [header] + body:
            lines.append("  ".join(cell.rjust(width) for cell, width in zip(cells, widths)))
    lines.append("")
    for path in PATHS:
        for key, target in TARGETS[path].items():
            value, worst = summary[path].get(key, (None, None))
            if value is None:
                continue
            verdict = "meets" if value <= target else "MISSES"
            line = (f"{path}: geomean {key} ratio to PyTorch {value:.2f}x ({verdict} the "
                    f"<= {target}x target); worst {worst:.2f}x")
            if path in WORST and key == "dw forward":
                line += f" ({'meets' if worst <= WORST[path] else 'MISSES'} <= " \
                    f"{WORST[path]}x)"
            lines.append(line)
    if torch is None:
        lines.append("PyTorch is not installed: minidl times only.")
    else:
        lines.append(f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads, "
                     f"channels_last); minidl {mdl.config.num_threads()} threads; float32")
    lines.append(f"{machine()}; {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}")
    return "\n".join(lines)


class LayerCase:
    """``DepthwiseConv2D(3, padding="same")`` called as a layer (inference, no tape):
    the op plus the layer's fixed cost per call."""

    def __init__(self, n, h, w, c, rng):
        self.x = mdl.tensor(rng.standard_normal((n, h, w, c), dtype=np.float32))
        self.layer = mdl.layers.DepthwiseConv2D(3, padding="same")
        self.layer(self.x)

    def forward(self):
        with mdl.no_grad():
            self.layer(self.x)


def run_layers(repeats):
    """``[(label, {path: (ms, torch ms, ratio)})]`` for ``LAYER_CASES``."""
    rng = np.random.default_rng(0)
    rows = []
    for n, h, w, c in LAYER_CASES:
        ours = LayerCase(n, h, w, c, rng)
        peer = TorchCase(n, h, w, c, 1, None, rng) if torch is not None else None
        rows.append((f"DepthwiseConv2D {n}x{h}x{w}x{c}",
                     {path: measure(on_path(path, ours.forward), peer and peer.forward,
                                    repeats) for path in PATHS}))
    mdl.config.set_cpu_kernels("auto")
    return rows


def report_layers(rows):
    lines = [f"forward through the layer (target: Numba <= {LAYER_TARGET}x PyTorch)"]
    for label, cells in rows:
        parts = [f"{path} {_ms(mine)} ms ({_ratio(ratio)})"
                 for path, (mine, _, ratio) in cells.items()]
        theirs = next((c[1] for c in cells.values() if c[1] is not None), None)
        lines.append(f"  {label}: torch {_ms(theirs)} ms; " + "; ".join(parts))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small batches, few repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed pairs per cell")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--layers", action="store_true",
                        help="only the small DepthwiseConv2D layer calls")
    args = parser.parse_args(argv)
    if args.layers:
        print(report_layers(run_layers(args.repeats or 15)))
        return
    rows, summary = run(quick=args.quick, repeats=args.repeats)
    print(report(rows, summary, markdown=args.markdown))


if __name__ == "__main__":
    main()
