"""Check gradients against SciPy's numerical derivatives.

What it shows: a user-defined ``minidl.Function`` (a softplus written by hand) and a
``SeparableConv2D`` layer, each checked with ``scipy.optimize.check_grad`` and
``approx_fprime`` directly, and with ``minidl.gradcheck`` (which does the same in float64
for every input and weight). It prints the errors found.

    python examples/gradcheck_scipy.py
"""
import argparse

import numpy as np
import scipy.optimize

import minidl as mdl


class Softplus(mdl.Function):
    """y = log(1 + exp(x)), stable; dy/dx = sigmoid(x)."""

    def forward(self, x):
        xp = self.xp
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, gy):
        (x,) = self.inputs
        return gy * x.sigmoid()


def check_function(rng):
    x0 = rng.standard_normal(6)

    def f(x):
        return float(Softplus.apply(mdl.tensor(x)).sum().data)

    def g(x):
        t = mdl.tensor(x, requires_grad=True)
        Softplus.apply(t).sum().backward()
        return t.grad

    error = scipy.optimize.check_grad(f, g, x0)
    numeric = scipy.optimize.approx_fprime(x0, f, 1e-7)
    print(f"Softplus: scipy.optimize.check_grad error {error:.2e}; "
          f"max |tape - approx_fprime| {np.abs(g(x0) - numeric).max():.2e}")
    print(mdl.gradcheck.check_grad(Softplus.apply, [x0]))
    return error


def check_layer(rng):
    layer = mdl.layers.SeparableConv2D(3, 3, padding="same", depth_multiplier=2,
                                       dtype="float64")
    x = rng.standard_normal((2, 5, 5, 2))
    layer(x)
    kernel = layer.depthwise_kernel
    shape = kernel.shape

    def f(flat):
        kernel.assign(flat.reshape(shape))
        return float(layer(x).sum().data)

    def g(flat):
        kernel.assign(flat.reshape(shape))
        kernel.zero_grad()
        layer(x).sum().backward()
        return kernel.grad.reshape(-1)

    w0 = kernel.numpy().reshape(-1)
    error = scipy.optimize.check_grad(f, g, w0)
    kernel.assign(w0.reshape(shape))
    print(f"SeparableConv2D depthwise kernel: scipy.optimize.check_grad error {error:.2e}")
    print(mdl.gradcheck.check_layer(layer, x, method="scipy"))
    return error


def main(argv=None):
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    rng = np.random.default_rng(0)
    errors = [check_function(rng), check_layer(rng)]
    if max(errors) > 1e-5:
        raise SystemExit(f"gradient check failed: errors {errors}")
    print("all gradients agree with scipy.optimize")


if __name__ == "__main__":
    main()
