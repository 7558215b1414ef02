"""Every layer against Keras 3's own float64 numbers (``tests/golden/*.npz``, see the
README there): the layer is rebuilt from the Keras config as Keras wrote it, given the
same weights, and its output, input gradient(s), weight gradients and (BatchNormalization
in training) moving statistics must match to ~1e-10. A layer of several inputs (merging)
has ``x0, x1, ...`` and ``dx0, dx1, ...`` in place of ``x`` and ``dx``.

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


def _numbered(data, key):
    """``[key0, key1, ...]``: the keys of the inputs (or their gradients), in order."""
    keys = []
    while f"{key}{len(keys)}" in data.files:
        keys.append(f"{key}{len(keys)}")
    assert keys, f"no {key!r} and no {key}0 in the golden file"
    return keys


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

    several = "x" not in data.files
    x_keys = _numbered(data, "x") if several else ["x"]
    x_host = [data[k] for k in x_keys]
    assert all(v.dtype == np.float64 for v in x_host)
    with mdl.no_grad():
        layer([mdl.tensor(v) for v in x_host] if several else mdl.tensor(x_host[0]),
              training=False)  # builds
    n_weights, n_trainable = int(data["n_weights"]), int(data["n_trainable"])
    assert len(layer.weights) == n_weights
    assert len(layer.trainable_weights) == n_trainable
    layer.set_weights([data[f"w{i}"] for i in range(n_weights)])

    xs = [mdl.tensor(v, requires_grad=True) for v in x_host]
    y = layer(xs if several else xs[0], training=training)
    assert y.dtype == np.float64
    _close(y.numpy(), data["y"], f"{path.stem}: output")

    weights = list(layer.trainable_weights)
    loss = (y * mdl.tensor(data["gy"])).sum()
    grads = mdl.grad(loss, xs + weights)
    dx_keys = _numbered(data, "dx") if several else ["dx"]
    assert len(dx_keys) == len(xs)
    for key, g in zip(dx_keys, grads):
        _close(g.numpy(), data[key], f"{path.stem}: input gradient {key}")
    for i, (w, g) in enumerate(zip(weights, grads[len(xs):])):
        _close(g.numpy(), data[f"dw{i}"], f"{path.stem}: gradient of {w.path}")

    moving = sorted(k for k in data.files if k.startswith("moving_after"))
    for key, w in zip(moving, layer.non_trainable_weights):
        _close(w.numpy(), data[key], f"{path.stem}: {w.path} after the call")
    assert len(moving) in (0, len(layer.non_trainable_weights))
