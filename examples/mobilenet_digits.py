"""MobileNet-style CNN on handwritten digits, trained from scratch with minidl.

What it shows: a Conv2D stem, depthwise-separable blocks (``DepthwiseConv2D`` and
``SeparableConv2D``, each followed by BatchNormalization and ReLU6), global average
pooling and a Dense classifier, trained with Adam on scikit-learn's bundled 8x8 digits
(1,797 images; 80 % train, 20 % test). It prints per-epoch progress, the final test
accuracy and the wall time, saves the model (``--output``), and writes a PNG of the
training curves when matplotlib is installed.

    python examples/mobilenet_digits.py                 # NumPy backend, CPU
    python examples/mobilenet_digits.py --backend cupy  # the same on a GPU
    python examples/mobilenet_digits.py --data DIR      # MNIST IDX files in DIR
    mpiexec -n 2 python examples/mobilenet_digits.py --distributed  # data-parallel

With ``--distributed`` each process trains on its share of every batch (``--batch-size``
is the global batch) and uses one thread; process 0 prints and saves.
"""
import argparse
import os
import sys
import time

if "--distributed" in sys.argv:  # one thread per process; OpenBLAS reads it as NumPy loads
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("MINIDL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import minidl as mdl  # noqa: E402  (first: it tunes OpenBLAS's threads before NumPy loads)
from minidl import layers  # noqa: E402


def separable_block(filters, strides=1):
    """Depthwise 3x3 -> BN -> ReLU6 -> pointwise 1x1 -> BN -> ReLU6 (MobileNet v1)."""
    return [layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False),
            layers.BatchNormalization(momentum=0.9), layers.ReLU(6.0),
            layers.Conv2D(filters, 1, use_bias=False),
            layers.BatchNormalization(momentum=0.9), layers.ReLU(6.0)]


def build_model(input_shape=(8, 8, 1), classes=10, width=32, backend=None):
    """The example's network; ``benchmarks/train_step.py`` times the same one."""
    return mdl.models.Sequential([
        layers.Conv2D(width, 3, padding="same", use_bias=False, input_shape=input_shape),
        layers.BatchNormalization(momentum=0.9), layers.ReLU(6.0),
        *separable_block(2 * width),
        *separable_block(4 * width, strides=2),
        layers.SeparableConv2D(4 * width, 3, padding="same", use_bias=False),
        layers.BatchNormalization(momentum=0.9), layers.ReLU(6.0),
        layers.GlobalAveragePooling2D(),
        layers.Dropout(0.2),
        layers.Dense(classes),
    ], name="mobilenet_digits", backend=backend)


def load_digits_split(seed=0):
    """scikit-learn's digits as (N, 8, 8, 1) float32 in [0, 1], split 80/20 stratified."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    return train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)


def load_idx_split(folder):
    """MNIST IDX files (train-images-idx3-ubyte[.gz], ...) from ``folder``."""
    def find(stem):
        for name in (stem, stem + ".gz"):
            path = os.path.join(folder, name)
            if os.path.exists(path):
                return path
        raise FileNotFoundError(f"--data {folder}: no {stem}[.gz] there")
    load = mdl.datasets.load_idx
    x_train = load(find("train-images-idx3-ubyte"))
    y_train = load(find("train-labels-idx1-ubyte"))
    x_test = load(find("t10k-images-idx3-ubyte"))
    y_test = load(find("t10k-labels-idx1-ubyte"))
    scale = lambda a: (a.astype(np.float32) / 255.0)[..., None]  # noqa: E731
    return scale(x_train), scale(x_test), y_train.astype(np.int64), y_test.astype(np.int64)


def plot_curves(history, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    for key in ("loss", "val_loss"):
        a.plot(history.history[key], label=key)
    for key in ("accuracy", "val_accuracy"):
        b.plot(history.history[key], label=key)
    for ax, title in ((a, "loss"), (b, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def compile_with_cosine_decay(model, epochs, train_size, batch_size):
    """Compile for the digits: Adam with a learning rate decaying from 3e-3 to 3e-5
    along a cosine over the whole run, a loss on logits, and accuracy."""
    steps = epochs * -(-train_size // batch_size)
    schedule = mdl.optimizers.schedules.CosineDecay(3e-3, decay_steps=max(steps, 1),
                                                    alpha=0.01)
    model.compile(optimizer=mdl.optimizers.Adam(learning_rate=schedule),
                  loss=mdl.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])


def save_with_curves(model, history, path):
    """Save ``model`` to ``path`` and plot its training curves beside it."""
    model.save(path)
    print(f"saved the model to {path}")
    png = plot_curves(history, os.path.splitext(path)[0] + "_curves.png")
    if png:
        print(f"training curves in {png}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    parser.add_argument("--data", default=None, help="folder with MNIST IDX files")
    parser.add_argument("--output", default="mobilenet_digits.minidl",
                        help="where to save the trained model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2])
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel training over the processes of mpiexec")
    args = parser.parse_args(argv)

    if args.distributed:
        mdl.distribution.set_distribution(mdl.distribution.DataParallel())
    chief = mdl.distribution.process_id() == 0  # prints and saves
    mdl.random.seed(args.seed)
    if args.data:
        x_train, x_test, y_train, y_test = load_idx_split(args.data)
    else:
        x_train, x_test, y_train, y_test = load_digits_split(args.seed)
    model = build_model(input_shape=x_train.shape[1:], backend=args.backend)
    model.compile(optimizer=mdl.optimizers.Adam(learning_rate=3e-3),
                  loss=mdl.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    if args.verbose and chief:
        model.summary()
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                        validation_data=(x_test, y_test), verbose=args.verbose,
                        callbacks=[mdl.callbacks.ReduceLROnPlateau(
                            monitor="loss", factor=0.3, patience=3, min_lr=1e-4)])
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    if not chief:
        return accuracy
    processes = mdl.distribution.num_processes()
    print(f"test accuracy {accuracy:.4f} (loss {loss:.4f}), wall time {seconds:.1f} s "
          f"for {args.epochs} epochs on {args.backend}"
          + (f", {processes} processes" if args.distributed else ""))
    save_with_curves(model, history, args.output)
    return accuracy


if __name__ == "__main__":
    main()
