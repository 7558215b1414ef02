"""Regenerate the Keras model files in ``files/`` (run by hand, never by tests).

Needs Keras 3, JAX and h5py, which are NOT dependencies of minidl's tests, plus minidl's
own requirements (numpy, scipy, tqdm) in the same environment: minidl is imported from
this checkout, to write the files that Keras then reads.

    KERAS_BACKEND=jax /work/kenv/bin/python tests/golden/make_golden_files.py [PATTERN]

PATTERN is a regular expression of the case names to (re)write; the other files are left
as they are. Everything is float32 (Keras's default). Each case's random values are
seeded from its name.

Keras to minidl (``KERAS_CASES``): Keras builds the model, its weights are set to seeded
random values, and Keras writes

- ``k_<name>.keras`` (``model.save``), ``k_<name>.weights.h5`` (``model.save_weights``)
  and ``k_<name>.h5`` (``model.save`` to ``.h5``, the legacy format), as the case asks;
- ``k_<name>.npz``: ``x`` (a seeded input batch) and ``y`` (Keras's output for it).

``KERAS2_CASES`` write ``k2_<name>.h5`` in the layout and config spellings of Keras 2 /
tf.keras (``Model`` or ``Functional`` class names, ``batch_input_shape``, ``dtype``
strings, ``groups: 1`` on depthwise layers, ``axis: [3]``, Keras 2's ``inbound_nodes``
and ``weight_names`` such as ``conv2d/kernel:0``), from a Keras 3 model (tf.keras itself
is not installed), with ``k2_<name>.npz`` as above.

minidl to Keras (``MINIDL_CASES``): minidl builds the model (or loads a Keras-written
golden file), sets seeded random weights, and writes ``m_<name>.keras`` and
``m_<name>.weights.h5``; then Keras loads the archive with ``keras.saving.load_model``
and the weights file with ``model.load_weights`` into a second copy, and
``m_<name>.npz`` keeps ``x``, ``y_minidl`` (minidl's output before saving), ``y_keras``
(the output of the model Keras loaded) and ``y_keras_weights`` (that of the copy).

The family cases (MobileNetV3Small at 32x32 with ``alpha=0.35``: Rescaling, Multiply,
operations such as ``x + 3.0``; ``keras.applications`` from Keras to minidl,
``minidl.applications`` from minidl to Keras) draw their weights from a grid of 1/32,
take a batch of one, and store the archive deflated, which keeps them small.
"""

import os

os.environ["KERAS_BACKEND"] = "jax"  # must precede the keras import

import json  # noqa: E402
import pathlib  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import zipfile  # noqa: E402
import zlib  # noqa: E402

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers as kl  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT_DIR = pathlib.Path(__file__).resolve().parent / "files"
sys.path.insert(0, str(ROOT))

import minidl as mdl  # noqa: E402


def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def fan_in(shape):
    """Inputs per output of a kernel: a depthwise kernel (last axis 1) sums over its
    window only."""
    if len(shape) == 4 and shape[-1] == 1:
        return shape[0] * shape[1]
    return int(np.prod(shape[:-1]))


def random_value(rng, path, shape, grid):
    """Seeded weights: positive scales and variances, small biases, kernels of variance
    1 / fan-in (so deep models keep their activations in range); on a grid of 1/32 for
    the family cases."""
    if path.endswith(("gamma", "moving_variance")):
        value = rng.uniform(0.5, 1.5, shape)
    elif path.endswith(("beta", "moving_mean", "bias")):
        value = rng.uniform(-0.3, 0.3, shape)
    else:
        value = rng.normal(0.0, 1.0 / np.sqrt(fan_in(shape)), shape)
    if grid:
        value = np.round(value * 32) / 32
        if path.endswith(("gamma", "moving_variance")):
            value = np.maximum(value, 0.5)
    return value.astype("float32")


def set_random_weights(model, name, grid=False):
    rng = rng_for(name)
    for w in model.weights:
        w.assign(random_value(rng, w.path, tuple(w.shape), grid))


def random_input(name, shape, batch=2):
    return rng_for(name + "/x").uniform(-1.0, 1.0, (batch,) + shape).astype("float32")


# -- Keras models ----------------------------------------------------------------------
def keras_seq_dw_sep():
    return keras.Sequential([
        keras.Input((8, 8, 3)),
        kl.Conv2D(4, 3, padding="same", name="stem"),
        kl.BatchNormalization(),
        kl.ReLU(),
        kl.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2),
        kl.BatchNormalization(),
        kl.ReLU(max_value=6.0),
        kl.SeparableConv2D(6, 3, padding="same", activation="relu"),
        kl.MaxPooling2D(),
        kl.GlobalAveragePooling2D(),
        kl.Dense(3, activation="softmax"),
    ], name="seq_dw_sep")


def keras_residual():
    inner = keras.Sequential([keras.Input((4, 4, 6)), kl.Conv2D(6, 1, name="inner_conv"),
                              kl.BatchNormalization(name="inner_bn")], name="inner")
    x = keras.Input((8, 8, 3), name="image")
    h = kl.ZeroPadding2D(1)(x)
    h = kl.Conv2D(6, 3, strides=2, name="stem")(h)
    h = kl.ReLU(6.0)(h)
    d = kl.DepthwiseConv2D(3, padding="same", name="dw")(h)
    h = kl.Add(name="skip")([h, inner(d)])
    h = kl.AveragePooling2D(2)(h)
    h = kl.Flatten()(h)
    y = kl.Dense(4, name="head")(h)
    return keras.Model(x, y, name="residual")


def keras_mlp():
    x = keras.Input((5,), name="features")
    h = kl.Dense(8, activation="relu")(x)
    y = kl.Dense(2)(kl.Dense(8, activation="tanh")(h))
    return keras.Model(x, y, name="mlp")


def mobilenet_v3_small():
    return keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None,
        pooling="avg")


# name: (builder, input shape, formats, family)
KERAS_CASES = {
    "seq_dw_sep": (keras_seq_dw_sep, (8, 8, 3), ("keras", "weights", "h5"), False),
    "residual": (keras_residual, (8, 8, 3), ("keras", "weights", "h5"), False),
    "mobilenet_v3_small": (mobilenet_v3_small, (32, 32, 3), ("keras",), True),
}

KERAS2_CASES = {
    "seq_dw_sep": (keras_seq_dw_sep, (8, 8, 3), "Sequential"),
    "mlp_model": (keras_mlp, (5,), "Model"),
    "functional": (keras_residual, (8, 8, 3), "Functional"),
}


def deflate(path):
    """Rewrite a zip archive with every member deflated."""
    with zipfile.ZipFile(path) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=9) as archive:
        for name, data in members:
            archive.writestr(name, data)


def write_keras_case(name):
    builder, shape, formats, family = KERAS_CASES[name]
    keras.utils.set_random_seed(0)
    model = builder()
    set_random_weights(model, name, grid=family)
    x = random_input(name, shape, batch=1 if family else 2)
    y = np.asarray(model.predict(x, verbose=0))
    if "keras" in formats:
        model.save(OUT_DIR / f"k_{name}.keras")
        if family:
            deflate(OUT_DIR / f"k_{name}.keras")
    if "weights" in formats:
        model.save_weights(OUT_DIR / f"k_{name}.weights.h5")
    if "h5" in formats:
        model.save(OUT_DIR / f"k_{name}.h5")
    np.savez(OUT_DIR / f"k_{name}.npz", x=x, y=y)


# -- Keras 2's spellings ---------------------------------------------------------------
def keras2_value(value):
    """A Keras 3 config in Keras 2's words: no modules, registered names or build
    configs; dtype policies as strings."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy":
            return value["config"]["name"]
        return {k: keras2_value(v) for k, v in value.items()
                if k not in ("module", "registered_name", "build_config", "compile_config",
                             "shared_object_id", "quantization_config", "optional")}
    if isinstance(value, list):
        return [keras2_value(v) for v in value]
    return value


def keras2_nodes(nodes):
    out = []
    for node in nodes:
        args = node["args"][0]
        tensors = args if isinstance(args, list) else [args]
        out.append([t["config"]["keras_history"] + [{}] for t in tensors])
    return out


def keras2_layer(entry, ndim):
    entry = keras2_value(entry)
    config = entry["config"]
    if entry["class_name"] == "InputLayer":
        config["batch_input_shape"] = config.pop("batch_shape")
        config["ragged"] = False
    if entry["class_name"] == "DepthwiseConv2D":
        config["groups"] = 1
    if entry["class_name"] == "BatchNormalization":
        config["axis"] = [config["axis"] % ndim]
    if "inbound_nodes" in entry:
        entry["inbound_nodes"] = keras2_nodes(entry["inbound_nodes"])
    return entry


def keras2_config(model, class_name, ndim):
    config = json.loads(model.to_json())["config"]
    layers = [keras2_layer(entry, ndim) for entry in config["layers"]]
    out = {"name": config["name"], "layers": layers}
    if class_name != "Sequential":
        def wrap(v):
            return v if isinstance(v[0], list) else [v]

        out["input_layers"] = wrap(config["input_layers"])
        out["output_layers"] = wrap(config["output_layers"])
    return {"class_name": class_name, "config": out, "keras_version": "2.13.1",
            "backend": "tensorflow"}


def write_keras2_weights(group, model):
    group.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = b"2.13.1"
    for layer in model.layers:
        weights = layer.trainable_weights + layer.non_trainable_weights
        names = [f"{layer.name}/{w.path.split('/')[-1]}:0" if not hasattr(layer, "layers")
                 else f"{'/'.join(w.path.split('/')[-2:])}:0" for w in weights]
        layer_group = group.create_group(layer.name)
        layer_group.attrs["weight_names"] = [n.encode() for n in names]
        for n, w in zip(names, weights):
            layer_group.create_dataset(n, data=np.asarray(w))


def write_keras2_case(name):
    builder, shape, class_name = KERAS2_CASES[name]
    keras.utils.set_random_seed(0)
    model = builder()
    set_random_weights(model, "k2_" + name)
    x = random_input("k2_" + name, shape)
    y = np.asarray(model.predict(x, verbose=0))
    config = keras2_config(model, class_name, len(shape) + 1)
    with h5py.File(OUT_DIR / f"k2_{name}.h5", "w") as f:
        f.attrs["keras_version"] = b"2.13.1"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        write_keras2_weights(f.create_group("model_weights"), model)
    np.savez(OUT_DIR / f"k2_{name}.npz", x=x, y=y)


# -- minidl models, read back by Keras -------------------------------------------------
def minidl_seq_dw_sep():
    L = mdl.layers
    return mdl.models.Sequential([
        L.Conv2D(4, 3, padding="same", input_shape=(9, 9, 2)),
        L.BatchNormalization(),
        L.ReLU(),
        L.DepthwiseConv2D((3, 2), strides=2, padding="same", depth_multiplier=3),
        L.BatchNormalization(),
        L.ReLU(max_value=6.0),
        L.SeparableConv2D(5, 3, padding="valid", depth_multiplier=2, activation="relu"),
        L.MaxPooling2D(),
        L.Flatten(),
        L.Dense(3, activation="softmax"),
    ], name="minidl_seq")


def minidl_residual():
    L = mdl.layers
    x = mdl.models.Input((8, 8, 3), name="image")
    h = L.Conv2D(6, 3, strides=2, padding="same", name="stem")(x)
    h = L.BatchNormalization(name="stem_bn")(h)
    h = L.ReLU(6.0)(h)
    d = L.DepthwiseConv2D(3, padding="same", name="dw")(h)
    d = L.Conv2D(6, 1, name="project")(d)
    h = L.Add(name="skip")([h, d])
    h = L.GlobalAveragePooling2D()(h)
    return mdl.models.Model(x, L.Dense(4, name="head")(h), name="minidl_residual")


def minidl_mobilenet_v3_small():
    return mdl.applications.MobileNetV3Small(input_shape=(32, 32, 3), alpha=0.35,
                                             include_top=False, weights=None,
                                             pooling="avg")


# name: (builder, input shape, family)
MINIDL_CASES = {
    "seq_dw_sep": (minidl_seq_dw_sep, (9, 9, 2), False),
    "residual": (minidl_residual, (8, 8, 3), False),
    "mobilenet_v3_small": (minidl_mobilenet_v3_small, (32, 32, 3), True),
}


def write_minidl_case(name):
    builder, shape, family = MINIDL_CASES[name]
    model = builder()
    rng = rng_for("m_" + name)
    model.set_weights([random_value(rng, w.path, w.shape, family) for w in model.weights])
    x = random_input("m_" + name, shape, batch=1 if family else 2)
    y_minidl = model.predict(x)
    archive, weights = OUT_DIR / f"m_{name}.keras", OUT_DIR / f"m_{name}.weights.h5"
    model.save(archive)
    if family:
        deflate(archive)
    else:
        model.save_weights(weights)
    loaded = keras.saving.load_model(archive)
    y_keras = np.asarray(loaded.predict(x, verbose=0))
    out = {"x": x, "y_minidl": y_minidl, "y_keras": y_keras}
    if not family:
        copy = keras.saving.load_model(archive)
        for w in copy.weights:
            w.assign(np.zeros(w.shape, w.dtype))
        copy.load_weights(weights)
        out["y_keras_weights"] = np.asarray(copy.predict(x, verbose=0))
    np.savez(OUT_DIR / f"m_{name}.npz", **out)


def main(pattern=".*"):
    OUT_DIR.mkdir(exist_ok=True)
    jobs = [(f"k_{n}", write_keras_case, n) for n in KERAS_CASES] + \
           [(f"k2_{n}", write_keras2_case, n) for n in KERAS2_CASES] + \
           [(f"m_{n}", write_minidl_case, n) for n in MINIDL_CASES]
    for label, write, name in jobs:
        if re.search(pattern, label):
            write(name)
            print("wrote", label)


if __name__ == "__main__":
    main(*sys.argv[1:2])
