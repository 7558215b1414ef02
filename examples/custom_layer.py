"""A user-defined layer with its own regularizer and constraint.

What it shows: subclassing ``minidl.layers.Layer`` (weights in ``build``, maths in
``call``), a custom ``Regularizer`` (penalizing a kernel's deviation from orthogonality
along its columns, on the tape) and a custom ``Constraint`` (clipping weights to a box
after every optimizer step), the layer's config round trip, and training it in a
Sequential model on the digits.

    python examples/custom_layer.py [--epochs N]
"""
import argparse

import numpy as np

import minidl as mdl  # first: it tunes OpenBLAS's threads before NumPy loads it
from minidl import layers


class ColumnOrthogonality(mdl.regularizers.Regularizer):
    """strength * sum((W^T W - I)^2): keeps a (in, units) kernel's columns orthonormal."""

    def __init__(self, strength=1e-3):
        self.strength = strength

    def __call__(self, w):
        gram = w.T @ w
        eye = w.xp.eye(gram.shape[0], dtype=w.dtype)
        return self.strength * ((gram - eye) ** 2).sum()

    def get_config(self):
        return {"strength": self.strength}


class Box(mdl.constraints.Constraint):
    """Clip every weight to [-limit, limit]."""

    def __init__(self, limit=0.5):
        self.limit = limit

    def __call__(self, w):
        if isinstance(w, mdl.Tensor):
            return mdl.functional.clip(w, -self.limit, self.limit)
        return w.clip(-self.limit, self.limit)

    def get_config(self):
        return {"limit": self.limit}


class GatedDense(layers.Layer):
    """y = (x W + b) * sigmoid(x V): a dense layer with a learned gate."""

    def __init__(self, units, kernel_regularizer=None, kernel_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.kernel_regularizer = kernel_regularizer
        self.kernel_constraint = kernel_constraint

    def build(self, input_shape):
        n = input_shape[-1]
        self.kernel = self.add_weight("kernel", (n, self.units), "glorot_uniform",
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.gate = self.add_weight("gate", (n, self.units), "glorot_uniform")
        self.bias = self.add_weight("bias", (self.units,), "zeros")

    def call(self, inputs):
        return (inputs @ self.kernel + self.bias) * (inputs @ self.gate).sigmoid()

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args(argv)
    from sklearn.datasets import load_digits
    mdl.random.seed(0)
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    box = Box(0.5)
    model = mdl.models.Sequential([
        GatedDense(32, kernel_regularizer=ColumnOrthogonality(1e-3), kernel_constraint=box,
                   input_shape=(64,)),
        layers.Dense(10)])
    model.compile("adam", mdl.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x[:1400], y[:1400], epochs=args.epochs, batch_size=32, verbose=0,
                        validation_data=(x[1400:], y[1400:]))
    kernel = model.layers[0].kernel.numpy()
    print(f"validation accuracy {history.history['val_accuracy'][-1]:.4f}")
    print(f"regularizer penalty {float(model.losses[0].data):.5f}")
    print(f"kernel range after training [{kernel.min():.3f}, {kernel.max():.3f}] "
          f"(constraint limit {box.limit})")
    clone = GatedDense.from_config(model.layers[0].get_config())
    print(f"config round trip: {clone.get_config()['units']} units")
    assert np.abs(kernel).max() <= box.limit + 1e-7


if __name__ == "__main__":
    main()
