"""Regenerate the whole-model Keras golden files in ``models/`` (run by hand, never by tests).

Needs Keras 3 and JAX, which are NOT dependencies of minidl:

    KERAS_BACKEND=jax /work/kenv/bin/python tests/golden/make_golden_models.py [PATTERN]

PATTERN is a regular expression of the case names to (re)write; the other files are left
as they are. Each case in CASES builds one ``keras.applications`` model with
``weights=None``, sets its weights by the rule in ``rule_weights`` and writes
``models/<name>.npz``, everything in float32 (Keras's default):

| key | contents |
|---|---|
| ``application`` | 0-d str, the ``keras.applications`` function, e.g. ``"MobileNetV2"`` |
| ``kwargs`` | 0-d str, JSON of the keyword arguments it was called with |
| ``config`` | 0-d str, ``model.to_json()`` |
| ``weight_spec`` | 0-d str, JSON list of ``[path, shape, dtype, layer class]`` per weight, in ``model.get_weights()`` order |
| ``seed``, ``gain`` | 0-d int and float, the seed and kernel gain of the weight rule |
| ``x`` | a seeded float32 input batch of 2 |
| ``y`` | the model's output for ``x`` in inference mode |
| ``gy`` | a seeded cotangent with the shape of ``y`` |
| ``dx`` | d/dx of ``sum(y * gy)``, by ``jax.grad`` over ``model.stateless_call`` |

The weights themselves are not stored (Xception alone has 21 million): ``rule_weights``
draws them from ``seed`` and ``weight_spec``, and ``tests/test_applications.py`` draws
the same arrays with its own copy of the rule.
"""

import os

os.environ["KERAS_BACKEND"] = "jax"  # must precede the keras import

import json
import pathlib
import re
import sys
import zlib

import jax
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

OUT_DIR = pathlib.Path(__file__).resolve().parent / "models"

LOGITS = dict(weights=None, classes=10, classifier_activation=None)
SOFTMAX = dict(weights=None, classes=10)

# (file name, keras.applications function, keyword arguments, input range, kernel gain)
CASES = [
    ("mobilenet", "MobileNet", dict(input_shape=(32, 32, 3), alpha=0.25, **SOFTMAX),
     (-1, 1), 2.0),
    ("mobilenet_v2", "MobileNetV2", dict(input_shape=(32, 32, 3), alpha=0.35, **LOGITS),
     (-1, 1), 2.0),
    ("mobilenet_v2_notop_avg", "MobileNetV2",
     dict(input_shape=(32, 32, 3), alpha=0.35, include_top=False, pooling="avg",
          weights=None), (-1, 1), 2.0),
    ("mobilenet_v3_small", "MobileNetV3Small",
     dict(input_shape=(32, 32, 3), alpha=0.75, **LOGITS), (0, 255), 2.0),
    ("mobilenet_v3_small_minimalistic", "MobileNetV3Small",
     dict(input_shape=(32, 32, 3), alpha=0.5, minimalistic=True, **LOGITS), (0, 255), 2.0),
    ("mobilenet_v3_large", "MobileNetV3Large",
     dict(input_shape=(32, 32, 3), alpha=0.75, **SOFTMAX), (0, 255), 2.0),
    ("efficientnet_b0", "EfficientNetB0", dict(input_shape=(32, 32, 3), **LOGITS), (0, 255),
     2.0),
    ("xception", "Xception", dict(input_shape=(71, 71, 3), **LOGITS), (-1, 1), 1.0),
    ("nasnet_mobile", "NASNetMobile", dict(input_shape=(32, 32, 3), **LOGITS), (-1, 1), 1.0),
]


def rule_weights(seed, weight_spec, gain):
    """The weights for ``weight_spec``, drawn in order from ``default_rng(seed)``.

    Each weight ``[path, shape, dtype, layer class]`` gets, by the last part of its path:

    - an integer dtype (Normalization's ``count``): zeros, nothing drawn;
    - a name ending in ``variance``: ``uniform(0.5, 1.5)``;
    - ``gamma``: ``1 + 0.1 * normal``;
    - ``beta``, ``bias`` or a name ending in ``mean``: ``0.1 * normal``;
    - anything else (a kernel): ``normal * sqrt(gain / fan_in)``, with ``fan_in`` the
      product of the shape without its last axis, or without its last two axes for a
      depthwise kernel (named ``depthwise_kernel``, or the kernel of a
      ``DepthwiseConv2D``). ``gain`` is chosen per model so that activations stay of
      order one through it: 2 (He's) after ReLU-like units; 1 where residual sums would
      otherwise grow block after block.

    Every value is drawn in float64 and then cast to the weight's dtype.
    """
    rng = np.random.default_rng(seed)
    out = []
    for path, shape, dtype, layer_class in weight_spec:
        leaf, shape = path.rsplit("/", 1)[-1], tuple(shape)
        if np.dtype(dtype).kind in "iu":
            value = np.zeros(shape)
        elif leaf.endswith("variance"):
            value = rng.uniform(0.5, 1.5, shape)
        elif leaf == "gamma":
            value = 1.0 + 0.1 * rng.standard_normal(shape)
        elif leaf in ("beta", "bias") or leaf.endswith("mean"):
            value = 0.1 * rng.standard_normal(shape)
        else:
            depthwise = leaf == "depthwise_kernel" or layer_class == "DepthwiseConv2D"
            fan_in = int(np.prod(shape[:-2] if depthwise else shape[:-1]))
            value = rng.standard_normal(shape) * np.sqrt(gain / max(fan_in, 1))
        out.append(value.astype(dtype))
    return out


def weight_spec_of(model):
    """``[path, shape, dtype, layer class]`` of every weight, in ``get_weights()`` order."""
    owner = {}
    for layer in model.layers:
        for variable in layer.weights:
            owner[id(variable)] = type(layer).__name__
    return [[v.path, list(v.shape), str(np.dtype(v.dtype)), owner[id(v)]]
            for v in model.weights]


def make_golden(name, application, kwargs, input_range, gain):
    seed = zlib.crc32(name.encode())  # from the file name: other cases stay unchanged
    rng = np.random.default_rng(seed + 1)
    keras.utils.clear_session()
    model = getattr(keras.applications, application)(**kwargs)
    spec = weight_spec_of(model)
    model.set_weights(rule_weights(seed, spec, gain))
    for layer in model.layers:
        # Normalization computes with a copy of its statistics made when it was built or
        # loaded; set_weights alone leaves the copy at mean 0, variance 1
        if isinstance(layer, keras.layers.Normalization):
            layer.finalize_state()

    x = rng.uniform(*input_range, size=(2,) + tuple(kwargs["input_shape"]))
    x = x.astype(np.float32)
    trainable = [jnp.asarray(v.value) for v in model.trainable_variables]
    non_trainable = [jnp.asarray(v.value) for v in model.non_trainable_variables]

    def forward(x):
        out, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        return out

    y = np.asarray(forward(jnp.asarray(x)))
    gy = rng.standard_normal(y.shape).astype(np.float32)
    dx = jax.grad(lambda x: jnp.sum(forward(x) * gy))(jnp.asarray(x))
    arrays = dict(application=np.array(application), kwargs=np.array(json.dumps(kwargs)),
                  config=np.array(model.to_json()), weight_spec=np.array(json.dumps(spec)),
                  seed=np.array(seed, dtype=np.int64), gain=np.array(gain), x=x, y=y, gy=gy,
                  dx=np.asarray(dx))
    for key in ("x", "y", "gy", "dx"):
        assert arrays[key].dtype == np.float32 and np.isfinite(arrays[key]).all(), key
    np.savez_compressed(OUT_DIR / f"{name}.npz", **arrays)
    return arrays, model.count_params()


def main(argv):
    """``make_golden_models.py [PATTERN]``: write every case, or those whose name matches
    the regular expression PATTERN."""
    print(f"keras {keras.__version__}, jax {jax.__version__}, numpy {np.__version__}")
    names = [case[0] for case in CASES]
    assert len(names) == len(set(names)), "duplicate file names"
    pattern = re.compile(argv[0]) if argv else None
    OUT_DIR.mkdir(exist_ok=True)
    for name, application, kwargs, input_range, gain in CASES:
        if pattern is not None and not pattern.search(name):
            continue
        arrays, params = make_golden(name, application, kwargs, input_range, gain)
        y = arrays["y"]
        print(f"wrote {name}.npz  {application}: {params:,} params, x{arrays['x'].shape} -> "
              f"y{y.shape}, |y| max {np.abs(y).max():.3g}, |dx| max "
              f"{np.abs(arrays['dx']).max():.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
