"""MobileNetV3Small from ``minidl.applications`` trained from scratch on handwritten digits.

What it shows: a Keras application built by ``minidl.applications.MobileNetV3Small``
(Keras's graph, layer names and weight order: inverted residual blocks with
squeeze-and-excitation and hard-swish), trained with Adam (cosine-decayed learning rate)
on scikit-learn's bundled 8x8 digits (1,797 images; 80 % train, 20 % test), upsampled
to 32x32, the smallest input the model takes, and given as [0, 255] pixels to the
model's own rescaling. It prints one line per epoch, the test accuracy and the wall time,
saves the model (``--output``) and writes a PNG of the training curves when matplotlib
is installed.

    python examples/mobilenetv3_digits.py                 # NumPy backend, CPU
    python examples/mobilenetv3_digits.py --backend cupy  # the same on a GPU
    python examples/mobilenetv3_digits.py --quick         # a few seconds: a smoke test
"""
import argparse
import os
import sys
import time

import minidl as mdl  # first: it tunes OpenBLAS's threads before NumPy loads it

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mobilenet_digits import (  # noqa: E402
    compile_with_cosine_decay,
    load_digits_split,
    save_with_curves,
)


def upsample(images, size=32):
    """(N, 8, 8, 1) images in [0, 1] -> (N, size, size, 1) pixels in [0, 255], each pixel
    repeated into a ``size / 8`` square."""
    factor = size // images.shape[1]
    return 255.0 * images.repeat(factor, axis=1).repeat(factor, axis=2)


def build_model(alpha=0.5, classes=10):
    """MobileNetV3Small for 32x32 grey images, returning logits.

    Keras's BatchNormalization momentum of 0.999 suits ImageNet's long runs; on 1,437
    images the moving statistics would lag far behind the weights, so it is set to 0.9.
    """
    model = mdl.applications.MobileNetV3Small(input_shape=(32, 32, 1), alpha=alpha,
                                              classes=classes, classifier_activation=None)
    for layer in model.layers:
        if isinstance(layer, mdl.layers.BatchNormalization):
            layer.momentum = 0.9
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--alpha", type=float, default=0.5, help="width multiplier")
    parser.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    parser.add_argument("--quick", action="store_true",
                        help="one epoch on 64 training images (a smoke test)")
    parser.add_argument("--output", default="mobilenetv3_digits.minidl",
                        help="where to save the trained model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2],
                        help="0 silent, 1 a progress bar per epoch, 2 one line per epoch")
    args = parser.parse_args(argv)

    mdl.random.seed(args.seed)
    x_train, x_test, y_train, y_test = load_digits_split(args.seed)
    if args.quick:
        args.epochs = 1
        x_train, y_train, x_test, y_test = x_train[:64], y_train[:64], x_test[:32], \
            y_test[:32]
    x_train, x_test = upsample(x_train), upsample(x_test)
    with mdl.use_backend(args.backend):
        model = build_model(alpha=args.alpha)
    compile_with_cosine_decay(model, args.epochs, len(x_train), args.batch_size)
    if args.verbose == 1:
        model.summary()
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                        validation_data=(x_test, y_test), verbose=args.verbose)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy {accuracy:.4f} (loss {loss:.4f}), wall time {seconds:.1f} s "
          f"for {args.epochs} epochs on {args.backend}")
    save_with_curves(model, history, args.output)
    return accuracy


if __name__ == "__main__":
    main()
