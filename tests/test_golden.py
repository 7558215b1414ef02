"""Every layer against Keras 3's own float64 numbers (``tests/golden/*.npz``, see the
README there): the layer is rebuilt from the Keras config as Keras wrote it, given the
same weights, and its output, input gradient, weight gradients and (BatchNormalization in
training) moving statistics must match to ~1e-10.

A golden file whose layer class minidl lacks fails (it is a missing feature, not a
reason to skip)."""
import json
import pathlib

import numpy as np
import pytest

import minidl as mdl

GOLDEN = sorted((pathlib.Path(__file__).parent / "golden").glob("*.npz"))
RTOL = 1e-10


def _close(actual, expected, what):
    # relative to the array's scale, so entries near zero do not demand more digits
    scale = max(float(np.abs(expected).max()), 1.0) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale,
                               err_msg=what)


def test_golden_files_are_present():
    assert len(GOLDEN) >= 40, f"expected the Keras golden files, found {len(GOLDEN)}"


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_layer_matches_keras(path):
    data = np.load(path, allow_pickle=False)
    class_name = str(data["class_name"])
    config = json.loads(str(data["config"]))
    training = bool(data["training"])
    cls = getattr(mdl.layers, class_name, None)
    assert cls is not None, f"minidl.layers has no {class_name} (needed by {path.name})"
    layer = cls.from_config(config)

    x_host = data["x"]
    assert x_host.dtype == np.float64
    with mdl.no_grad():
        layer(mdl.tensor(x_host), training=False)  # builds
    n_weights, n_trainable = int(data["n_weights"]), int(data["n_trainable"])
    assert len(layer.weights) == n_weights
    assert len(layer.trainable_weights) == n_trainable
    layer.set_weights([data[f"w{i}"] for i in range(n_weights)])

    x = mdl.tensor(x_host, requires_grad=True)
    y = layer(x, training=training)
    assert y.dtype == np.float64
    _close(y.numpy(), data["y"], f"{path.stem}: output")

    weights = list(layer.trainable_weights)
    loss = (y * mdl.tensor(data["gy"])).sum()
    grads = mdl.grad(loss, [x] + weights)
    _close(grads[0].numpy(), data["dx"], f"{path.stem}: input gradient")
    for i, (w, g) in enumerate(zip(weights, grads[1:])):
        _close(g.numpy(), data[f"dw{i}"], f"{path.stem}: gradient of {w.path}")

    moving = sorted(k for k in data.files if k.startswith("moving_after"))
    for key, w in zip(moving, layer.non_trainable_weights):
        _close(w.numpy(), data[key], f"{path.stem}: {w.path} after the call")
    assert len(moving) in (0, len(layer.non_trainable_weights))
