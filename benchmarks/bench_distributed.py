"""Data-parallel training on MPI: allreduce cost, training throughput, projected scaling.

Three parts, each run in fresh processes that this script starts with ``mpiexec``:

1. ``allreduce``: ``Communicator.allreduce`` of float32 arrays from 8 B to 16 MiB on 2
   processes (median of repeated calls), fitted by least squares to
   ``t(s) = latency + s / bandwidth``;
2. ``train``: the digits MobileNet (``examples/mobilenet_digits.py``), Adam, global batch
   64, images/s of ``fit`` with 1 process x 2 threads against 2 processes x 1 thread,
   alternated A B A B (the machine is shared) and compared by the median of the per-pair
   ratios;
3. a projection, from the fitted model and the measured compute time per step, of the
   scaling efficiency on 8 and 64 nodes (weak scaling, the batch per node fixed, ring
   allreduce of the gradients after the backward, no overlap).

    python benchmarks/bench_distributed.py            # about two minutes
    python benchmarks/bench_distributed.py --quick    # fewer sizes and rounds
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
SIZES = [2 ** k for k in range(3, 25, 2)] + [2 ** 24]  # bytes: 8 B .. 16 MiB
BATCH = 64


def mpiexec():
    local = pathlib.Path(sys.executable).with_name("mpiexec")
    return str(local) if local.exists() else "mpiexec"


def launch(part, processes, threads, *args):
    """Run ``part`` of this script in ``processes`` MPI processes of ``threads`` threads
    each; returns process 0's JSON result."""
    env = dict(os.environ, MINIDL_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    command = [mpiexec(), "-n", str(processes), sys.executable, __file__, "--part", part,
               *map(str, args)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the parts, run inside mpiexec -------------------------------------------------------
def part_allreduce(repeats):
    import numpy as np

    import minidl as mdl
    world = mdl.distribution.initialize()
    times = {}
    for size in SIZES:
        buffer = np.ones(size // 4, dtype=np.float32)
        samples = []
        for _ in range(repeats):
            world.barrier()
            start = time.perf_counter()
            world.allreduce(buffer, out=buffer)
            samples.append(time.perf_counter() - start)
        times[size] = statistics.median(samples)
    return times


def part_train(steps, epochs):
    import numpy as np

    import minidl as mdl
    sys.path.insert(0, str(HERE.parent / "examples"))
    from mobilenet_digits import build_model
    mdl.distribution.set_distribution(mdl.distribution.DataParallel())
    mdl.random.seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((BATCH * steps, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    model = build_model()
    model.compile(mdl.optimizers.Adam(1e-3),
                  mdl.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[:BATCH * 3], y[:BATCH * 3], batch_size=BATCH, verbose=0)  # warm-up
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    return {"images_per_s": len(x) * epochs / seconds,
            "step_ms": 1e3 * seconds / (steps * epochs)}


# -- the driver --------------------------------------------------------------------------
def fit_model(times):
    """Least squares of the relative errors of ``t = latency + bytes / bandwidth`` (so
    the small messages weigh as much as the large); returns (seconds, bytes/s)."""
    import numpy as np
    sizes = np.array([float(s) for s in times])
    seconds = np.array(list(times.values()))
    slope, latency = np.polyfit(sizes, seconds, 1, w=1.0 / seconds)
    return latency, 1.0 / slope


def projection(step_s, message_bytes, latency):
    """Rows (nodes, link, latency, allreduce ms, efficiency) for a ring allreduce."""
    rows = []
    for nodes in (8, 64):
        for gbits in (10, 100):
            for alpha in (latency, 50e-6):
                bandwidth = gbits * 1e9 / 8
                ring = 2 * (nodes - 1) * alpha + \
                    2 * (nodes - 1) / nodes * message_bytes / bandwidth
                rows.append((nodes, gbits, alpha, ring, step_s / (step_s + ring)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["allreduce", "train"])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("values", nargs="*", type=int)
    args = parser.parse_args(argv)
    if args.part:
        import minidl as mdl
        result = part_allreduce(*args.values) if args.part == "allreduce" else \
            part_train(*args.values)
        if mdl.distribution.process_id() == 0:
            print(json.dumps(result))
        return
    run_benchmark(args.quick)


def run_benchmark(quick):
    times = {int(k): v for k, v in launch("allreduce", 2, 1, 50 if quick else 200).items()}
    latency, bandwidth = fit_model(times)
    print("| message | allreduce, 2 processes | model |\n|---|---|---|")
    for size, seconds in times.items():
        print(f"| {size:,} B | {seconds * 1e6:.1f} us | "
              f"{(latency + size / bandwidth) * 1e6:.1f} us |")
    print(f"\nfit: latency {latency * 1e6:.1f} us, bandwidth {bandwidth / 1e9:.2f} GB/s\n")
    steps, epochs, rounds = (10, 1, 2) if quick else (20, 2, 3)
    one, two, ratios = [], [], []
    for _ in range(rounds):
        a = launch("train", 1, 2, steps, epochs)
        b = launch("train", 2, 1, steps, epochs)
        one.append(a)
        two.append(b)
        ratios.append(b["images_per_s"] / a["images_per_s"])
    median = statistics.median
    print("| digits MobileNet, batch 64 | images/s | ms/step |\n|---|---|---|")
    for name, runs in (("1 process x 2 threads", one), ("2 processes x 1 thread", two)):
        print(f"| {name} | {median(r['images_per_s'] for r in runs):.0f} | "
              f"{median(r['step_ms'] for r in runs):.1f} |")
    print(f"\n2 processes / 1 process: {median(ratios):.2f}x (per-round "
          f"{', '.join(f'{r:.2f}' for r in ratios)}; target >= 0.9x)\n")
    import minidl as mdl
    sys.path.insert(0, str(HERE.parent / "examples"))
    from mobilenet_digits import build_model
    message = 4 * build_model().count_params()  # float32 gradients (scalars aside)
    step_s = median(r["step_ms"] for r in one) / 1e3
    print(f"projection: {message:,} B of gradients, compute {step_s * 1e3:.1f} ms/step "
          f"per node (batch {BATCH}), ring allreduce after the backward\n")
    print("| nodes | link | latency | allreduce | efficiency |\n|---|---|---|---|---|")
    for nodes, gbits, alpha, ring, efficiency in projection(step_s, message, latency):
        print(f"| {nodes} | {gbits} Gb/s | {alpha * 1e6:.0f} us | {ring * 1e3:.2f} ms | "
              f"{efficiency:.1%} |")
    print(f"\n{mdl.__name__} {mdl.__version__}, {time.strftime('%Y-%m-%d %H:%M')}")


if __name__ == "__main__":
    main()
