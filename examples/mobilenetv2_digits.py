"""MobileNetV2-style residual network on handwritten digits, built with the functional API.

What it shows: ``minidl.Input`` and ``minidl.models.Model(inputs, outputs)`` wiring a
graph that is not a stack: MobileNetV2 inverted residual blocks (1x1 expansion
``Conv2D`` -> BatchNormalization -> ReLU6 -> 3x3 ``DepthwiseConv2D`` -> BatchNormalization
-> ReLU6 -> 1x1 linear bottleneck ``Conv2D`` -> BatchNormalization), with a residual
``Add`` where the block keeps the stride at 1 and the channel count. It trains with Adam
(learning rate on a cosine decay) on scikit-learn's bundled 8x8 digits (1,797 images;
80 % train, 20 % test), prints one line per epoch, the test accuracy and the wall time,
saves the model (``--output``), loads it back and checks that the loaded model predicts
bit for bit the same. With ``--augment`` the network starts with random shifts, rotations
and zooms of the images (``RandomTranslation``, ``RandomRotation``, ``RandomZoom``),
active only while training.

    python examples/mobilenetv2_digits.py                 # NumPy backend, CPU
    python examples/mobilenetv2_digits.py --backend cupy  # the same on a GPU
    python examples/mobilenetv2_digits.py --epochs 5      # a shorter run
    python examples/mobilenetv2_digits.py --augment       # with data augmentation
"""
import argparse
import os
import sys
import time

import numpy as np

import minidl as mdl  # first: it tunes OpenBLAS's threads before NumPy loads it
from minidl import layers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mobilenet_digits import compile_with_cosine_decay, load_digits_split  # noqa: E402


def conv_bn(x, filters, kernel_size, name, strides=1, relu=True):
    """Conv2D (no bias) -> BatchNormalization -> ReLU6 (optional)."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False,
                      name=name)(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_BN")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x) if relu else x


def inverted_residual(x, filters, strides, expansion, name):
    """MobileNetV2's block: expand (1x1), filter (depthwise 3x3), project (linear 1x1);
    ``x + block(x)`` when the stride is 1 and the channel count is kept."""
    in_channels = x.shape[-1]
    h = x
    if expansion != 1:
        h = conv_bn(h, in_channels * expansion, 1, name=f"{name}_expand")
    h = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False,
                               name=f"{name}_depthwise")(h)
    h = layers.BatchNormalization(momentum=0.9, name=f"{name}_depthwise_BN")(h)
    h = layers.ReLU(6.0, name=f"{name}_depthwise_relu")(h)
    h = conv_bn(h, filters, 1, name=f"{name}_project", relu=False)
    if strides == 1 and in_channels == filters:
        h = layers.Add(name=f"{name}_add")([x, h])
    return h


# (filters, strides, expansion) of each block: 8x8 -> 4x4 -> 2x2 feature maps
BLOCKS = [(16, 1, 1), (24, 2, 4), (24, 1, 4), (32, 2, 4), (32, 1, 4)]


def augmentation(x):
    """Random shifts by up to 1/8 of the image, rotations by up to 15 degrees and zooms by
    up to 10 %, the borders filled with 0 (the background); identity at inference."""
    x = layers.RandomTranslation(0.125, 0.125, fill_mode="constant", name="shift")(x)
    x = layers.RandomRotation(15 / 360, fill_mode="constant", name="rotate")(x)
    return layers.RandomZoom(0.1, fill_mode="constant", name="zoom")(x)


def build_model(input_shape=(8, 8, 1), classes=10, width=16, augment=False):
    """The example's network: optional augmentation, a Conv2D stem, the inverted residual
    blocks, a 1x1 head, global average pooling, dropout and a Dense classifier (logits)."""
    inputs = mdl.Input(shape=input_shape, name="image")
    x = conv_bn(augmentation(inputs) if augment else inputs, width, 3, name="stem")
    for i, (filters, strides, expansion) in enumerate(BLOCKS):
        x = inverted_residual(x, filters, strides, expansion, name=f"block_{i}")
    x = conv_bn(x, 4 * BLOCKS[-1][0], 1, name="head")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    outputs = layers.Dense(classes, name="logits")(x)
    return mdl.models.Model(inputs, outputs, name="mobilenetv2_digits")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    parser.add_argument("--output", default="mobilenetv2_digits.minidl",
                        help="where to save the trained model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--augment", action="store_true",
                        help="random shifts, rotations and zooms while training")
    parser.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2],
                        help="0 silent, 1 a progress bar per epoch, 2 one line per epoch")
    args = parser.parse_args(argv)

    mdl.random.seed(args.seed)
    x_train, x_test, y_train, y_test = load_digits_split(args.seed)
    with mdl.use_backend(args.backend):
        model = build_model(input_shape=x_train.shape[1:], augment=args.augment)
    compile_with_cosine_decay(model, args.epochs, len(x_train), args.batch_size)
    if args.verbose:
        model.summary()
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
              validation_data=(x_test, y_test), verbose=args.verbose)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy {accuracy:.4f} (loss {loss:.4f}), wall time {seconds:.1f} s "
          f"for {args.epochs} epochs on {args.backend}")
    model.save(args.output)
    loaded = mdl.models.load_model(args.output)
    same = np.array_equal(loaded.predict(x_test), model.predict(x_test))
    print(f"saved the model to {args.output}; the loaded copy predicts "
          f"{'the same' if same else 'DIFFERENTLY'}")
    return accuracy


if __name__ == "__main__":
    main()
