"""Regenerate the Keras golden files of small functional and Sequential models in
``graphs/`` (run by hand, never by tests).

Needs Keras 3 and JAX, which are NOT dependencies of minidl:

    KERAS_BACKEND=jax /work/kenv/bin/python tests/golden/make_golden_graphs.py [PATTERN]

PATTERN is a regular expression of the case names to (re)write; the other files are left
as they are. Each function in CASES builds one small Keras model (ops on symbolic
tensors, a squeeze-and-excite block, a nested model, feature extraction, a Sequential
with an explicit ``keras.Input``), sets its weights to seeded random values and writes
``graphs/<name>.npz``, everything in float64 (``floatx`` float64, ``jax_enable_x64`` and
the dtype-promotion patch of ``make_golden.py``):

| key | contents |
|---|---|
| ``config`` | 0-d str, ``model.to_json()`` |
| ``base_config`` | 0-d str, feature extraction only: ``to_json()`` of the whole model |
| ``layer`` | 0-d str, feature extraction only: the layer whose ``output`` ends it |
| ``n_weights``, ``w0``, ``w1``, ... | the weights in ``model.get_weights()`` order |
| ``x`` | the float64 input |
| ``y`` | ``model(x, training=False)`` |
| ``gy`` | a seeded cotangent with the shape of ``y`` |
| ``dx`` | d/dx of ``sum(y * gy)``, by ``jax.grad`` over ``model.stateless_call`` |
"""

import os

os.environ["KERAS_BACKEND"] = "jax"  # must precede the keras import

import json
import pathlib
import re
import sys
import zlib

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers, ops  # noqa: E402
from keras.src.backend.common import dtypes as keras_dtypes  # noqa: E402

# Keep float64 float64 in Keras's type promotion on JAX (see make_golden.py).
keras_dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64"
keras.config.set_floatx("float64")

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_golden import check_float64, random_weight  # noqa: E402

OUT_DIR = pathlib.Path(__file__).resolve().parent / "graphs"


def hard_sigmoid(x):
    """MobileNetV3's, written with ops on symbolic tensors as Keras writes it."""
    return layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def scalar_ops():
    """Every operator with a number on either side, tensor-tensor ops and keras.ops."""
    x = keras.Input((5,), name="x")
    h = layers.Dense(4, name="dense")(x)
    a = h + 3.0
    b = 3.0 - h
    c = a * (1.0 / 6.0)
    d = b / 6
    e = -d
    f = c * e - h                       # Multiply and Subtract of two tensors
    g = 2.0 / (h * h + 1.0)             # TrueDivide with the number first
    k = ops.divide(ops.add(f, g), ops.multiply(4.0, ops.subtract(a, -1.5)))
    return keras.Model(x, 0.5 * k + f / (g + 2.0), name="scalar_ops")


def squeeze_excite():
    """Conv, BatchNormalization, hard swish with ops, squeeze-and-excite with Multiply
    layers and with ``x * se``, a residual Add: a MobileNetV3 block in miniature."""
    x = keras.Input((6, 5, 4), name="image")
    h = layers.Conv2D(8, 3, padding="same", use_bias=False, name="expand")(x)
    h = layers.BatchNormalization(name="expand_bn")(h)
    h = layers.Multiply(name="expand_hard_swish")([h, hard_sigmoid(h)])
    h = layers.DepthwiseConv2D(3, padding="same", name="depthwise")(h)
    se = layers.GlobalAveragePooling2D(keepdims=True, name="se_pool")(h)
    se = layers.Conv2D(2, 1, name="se_reduce")(se)
    se = layers.ReLU(name="se_relu")(se)
    se = layers.Conv2D(8, 1, name="se_expand")(se)
    se = hard_sigmoid(se)
    h = layers.Multiply(name="se_mul")([h, se])
    h = h * hard_sigmoid(h)                          # hard swish with ops only
    se2 = layers.GlobalAveragePooling2D(keepdims=True, name="se2_pool")(h)
    h = h * hard_sigmoid(layers.Conv2D(8, 1, name="se2_conv")(se2))  # broadcast op
    h = layers.Conv2D(4, 1, name="project")(h)
    y = layers.Add(name="residual")([x, h])
    return keras.Model(x, y, name="squeeze_excite")


def nested_models():
    """A functional model and a Sequential model (with its Input) used as layers, the
    functional one twice (shared weights)."""
    i = keras.Input((4,), name="inner_in")
    t = layers.Dense(4, activation="tanh", name="inner_dense")(i)
    inner = keras.Model(i, t * 2.0 + 1.0, name="inner")
    seq = keras.Sequential([keras.Input((4,), name="seq_in"),
                            layers.Dense(3, name="seq_dense"), layers.ReLU(name="seq_relu"),
                            layers.Dense(2, name="seq_out")], name="seq")
    x = keras.Input((4,), name="x")
    a = inner(x)
    b = inner(-a)
    y = seq(layers.Add(name="both")([a, b]) - x)
    return keras.Model(x, y, name="nested")


def feature_base():
    x = keras.Input((7, 6, 3), name="image")
    h = layers.Conv2D(4, 3, strides=2, padding="same", name="stem")(x)
    h = layers.ReLU(6.0, name="stem_relu")(h)
    h = layers.DepthwiseConv2D(3, padding="same", name="dw")(h)
    h = layers.BatchNormalization(name="dw_bn")(h)
    h = h * hard_sigmoid(h)
    h = layers.GlobalAveragePooling2D(name="pool")(h)
    return keras.Model(x, layers.Dense(3, name="logits")(h), name="base")


def feature_extraction():
    """``Model(base.input, base.get_layer("dw_bn").output)``."""
    base = feature_base()
    return keras.Model(base.input, base.get_layer("dw_bn").output, name="features"), \
        base, "dw_bn"


def sequential_input():
    """A Sequential model that starts with ``keras.Input``."""
    return keras.Sequential([
        keras.Input((4, 4, 2), name="image"),
        layers.Conv2D(3, 3, padding="same", name="conv"),
        layers.BatchNormalization(name="bn"),
        layers.ReLU(6.0, name="relu6"),
        layers.Reshape((48,), name="flat"),
        layers.Dense(5, activation="relu", name="hidden"),
        layers.Dense(2, name="out"),
    ], name="sequential_input")


CASES = {fn.__name__: fn for fn in (scalar_ops, squeeze_excite, nested_models,
                                     feature_extraction, sequential_input)}


def make_golden(name):
    # Seeded from the file name, so adding cases leaves the other files unchanged.
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    keras.utils.clear_session()
    built = CASES[name]()
    model, extra = (built[0], built[1:]) if isinstance(built, tuple) else (built, ())
    source = extra[0] if extra else model   # feature extraction: the base owns the weights
    source.set_weights([random_weight(rng, v) for v in source.weights])
    weights = model.get_weights()
    shape = (2,) + tuple(model.inputs[0].shape[1:])
    x = rng.standard_normal(shape)
    trainable = [jnp.asarray(v.value) for v in model.trainable_variables]
    non_trainable = [jnp.asarray(v.value) for v in model.non_trainable_variables]

    def objective(trainable, x, gy):
        y, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        return jnp.sum(y * gy), y

    y = np.asarray(model(x, training=False), dtype=np.float64)
    gy = rng.standard_normal(y.shape)
    grad_fn = jax.grad(objective, argnums=1, has_aux=True)
    check_float64(name, jax.make_jaxpr(grad_fn)(trainable, jnp.asarray(x), gy))
    dx, y_again = grad_fn(trainable, jnp.asarray(x), gy)
    np.testing.assert_allclose(np.asarray(y_again), y, rtol=1e-12, atol=1e-14)
    arrays = dict(config=np.array(model.to_json()), n_weights=np.array(len(weights)),
                  x=x, y=y, gy=gy, dx=np.asarray(dx, dtype=np.float64))
    if extra:
        arrays.update(base_config=np.array(extra[0].to_json()), layer=np.array(extra[1]))
    arrays.update({f"w{i}": np.asarray(w, dtype=np.float64) for i, w in enumerate(weights)})
    for key, value in arrays.items():
        assert value.dtype != object, key
        if value.dtype.kind == "f":
            assert value.dtype == np.float64, key
    json.loads(str(arrays["config"]))
    np.savez(OUT_DIR / f"{name}.npz", **arrays)
    return arrays


def main(argv):
    """``make_golden_graphs.py [PATTERN]``: write every case, or those whose name matches
    the regular expression PATTERN."""
    print(f"keras {keras.__version__}, jax {jax.__version__}, numpy {np.__version__}")
    OUT_DIR.mkdir(exist_ok=True)
    pattern = re.compile(argv[0]) if argv else None
    written = 0
    for name in CASES:
        if pattern is not None and not pattern.search(name):
            continue
        arrays = make_golden(name)
        written += 1
        print(f"wrote graphs/{name}.npz  x{arrays['x'].shape} -> y{arrays['y'].shape}, "
              f"{int(arrays['n_weights'])} weights")
    print(f"{written} files written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
