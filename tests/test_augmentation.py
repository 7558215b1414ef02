"""Image augmentation, resizing and cropping: the affine sampling and the resizing op
against slow per-pixel loop references (every fill mode and interpolation), the layers'
deterministic geometry (a rotation, translation or zoom of a fixed factor range, exact
flips and quarter turns), seeds, identity at inference, configs with Keras 3's keys,
float64 gradient checks, errors. Keras's own numbers for Resizing and CenterCrop are in
the golden files (``tests/test_golden.py``)."""
import math

import numpy as np
import pytest

import minidl as mdl
from minidl import layers
from minidl.gradcheck import check_grad, check_layer
from minidl.ops.image import affine_transform, crop, resize
from minidl.testing import layer_test

FILL_MODES = ["reflect", "wrap", "constant", "nearest"]
RANDOM_LAYERS = [
    (layers.RandomFlip, {}),
    (layers.RandomTranslation, dict(height_factor=0.2, width_factor=(-0.3, 0.1))),
    (layers.RandomRotation, dict(factor=0.1)),
    (layers.RandomZoom, dict(height_factor=(-0.3, 0.2))),
    (layers.RandomCrop, dict(height=3, width=4)),
    (layers.RandomContrast, dict(factor=0.5)),
    (layers.RandomBrightness, dict(factor=0.2)),
]
KERAS_KEYS = {  # get_config() keys of Keras 3.15 (besides name, trainable, dtype)
    "RandomFlip": {"data_format", "seed", "mode"},
    "RandomTranslation": {"data_format", "height_factor", "width_factor", "fill_mode",
                          "interpolation", "seed", "fill_value"},
    "RandomRotation": {"data_format", "factor", "fill_mode", "fill_value", "interpolation",
                       "seed"},
    "RandomZoom": {"data_format", "height_factor", "width_factor", "fill_mode",
                   "interpolation", "seed", "fill_value"},
    "RandomCrop": {"data_format", "height", "width", "seed"},
    "RandomContrast": {"data_format", "factor", "value_range", "seed"},
    "RandomBrightness": {"data_format", "factor", "value_range", "seed"},
    "Resizing": {"data_format", "height", "width", "interpolation", "crop_to_aspect_ratio",
                 "pad_to_aspect_ratio", "fill_mode", "fill_value", "antialias"},
    "CenterCrop": {"data_format", "height", "width"},
}


# -- slow references -------------------------------------------------------------------
def _fold(i, n, mode):
    """Pixel index ``i`` mapped into ``[0, n)``, or None (read the fill value)."""
    if mode == "nearest":
        return min(max(i, 0), n - 1)
    if mode == "wrap":
        return i - n * math.floor(i / n)
    if mode == "reflect":
        while not 0 <= i < n:
            i = -i - 1 if i < 0 else 2 * n - 1 - i
        return i
    return i if 0 <= i < n else None


def _round_half_away(v):
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def slow_sample(x, source, interpolation, mode, fill_value=0.0):
    """Loop reference: ``out[b, y, x] = x[b]`` interpolated at ``source(b, y, x)``."""
    n, h, w, c = x.shape
    out = np.empty_like(x)
    for b in range(n):
        for i in range(h):
            for j in range(w):
                sy, sx = source(b, i, j)
                if interpolation == "nearest":
                    taps = [(_round_half_away(sy), _round_half_away(sx), 1.0)]
                else:
                    y0, x0 = math.floor(sy), math.floor(sx)
                    fy, fx = sy - y0, sx - x0
                    taps = [(y0, x0, (1 - fy) * (1 - fx)), (y0, x0 + 1, (1 - fy) * fx),
                            (y0 + 1, x0, fy * (1 - fx)), (y0 + 1, x0 + 1, fy * fx)]
                value = np.zeros(c)
                for r, q, weight in taps:
                    r, q = _fold(r, h, mode), _fold(q, w, mode)
                    pixel = np.full(c, fill_value) if r is None or q is None else x[b, r, q]
                    value += weight * pixel
                out[b, i, j] = value
    return out


def slow_resize(x, height, width, interpolation):
    """Loop reference of half-pixel-centre resizing (edge pixels kept)."""
    n, h, w, c = x.shape
    out = np.zeros((n, height, width, c))
    for i in range(height):
        for j in range(width):
            if interpolation == "nearest":
                out[:, i, j] = x[:, int((i + 0.5) * h / height), int((j + 0.5) * w / width)]
                continue
            sy = min(max((i + 0.5) * h / height - 0.5, 0), h - 1)
            sx = min(max((j + 0.5) * w / width - 0.5, 0), w - 1)
            y0 = min(int(sy), h - 2) if h > 1 else 0
            x0 = min(int(sx), w - 2) if w > 1 else 0
            fy, fx = sy - y0, sx - x0
            for r, q, weight in [(y0, x0, (1 - fy) * (1 - fx)), (y0, x0 + 1, (1 - fy) * fx),
                                 (y0 + 1, x0, fy * (1 - fx)), (y0 + 1, x0 + 1, fy * fx)]:
                if weight:
                    out[:, i, j] += weight * x[:, r, q]
    return out


def _transform_source(t):
    def source(b, i, j):
        a0, a1, a2, b0, b1, b2, c0, c1 = t[b]
        k = c0 * j + c1 * i + 1
        return (b0 * j + b1 * i + b2) / k, (a0 * j + a1 * i + a2) / k
    return source


TRANSFORMS = np.array([[1.0, 0.0, -1.5, 0.0, 1.0, 2.25, 0.0, 0.0],
                       [0.8, -0.3, 1.1, 0.4, 1.2, -0.9, 0.0, 0.0],
                       [0.9, 0.1, 0.3, -0.2, 1.1, 0.5, 0.02, -0.03]])


# -- the ops ---------------------------------------------------------------------------
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_affine_transform_matches_loop_reference(backend, rng, interpolation, fill_mode):
    x = rng.standard_normal((3, 5, 6, 2))
    y = affine_transform(mdl.tensor(x), TRANSFORMS, interpolation, fill_mode, 0.5)
    expected = slow_sample(x, _transform_source(TRANSFORMS), interpolation, fill_mode, 0.5)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_affine_transform_channels_first_and_dtype(rng):
    x = rng.standard_normal((3, 4, 5, 2)).astype(np.float32)
    last = affine_transform(x, TRANSFORMS, fill_mode="wrap")
    first = affine_transform(x.transpose(0, 3, 1, 2), TRANSFORMS, fill_mode="wrap",
                             data_format="channels_first")
    assert last.dtype == first.dtype == np.float32
    np.testing.assert_allclose(first.numpy().transpose(0, 2, 3, 1), last.numpy(), rtol=1e-6)


@pytest.mark.parametrize("size", [(3, 4), (8, 9), (5, 13), (1, 2)])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_resize_matches_loop_reference(backend, rng, size, interpolation):
    x = rng.standard_normal((2, 5, 6, 3))
    y = resize(mdl.tensor(x), *size, interpolation=interpolation)
    np.testing.assert_allclose(y.numpy(), slow_resize(x, *size, interpolation), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_affine_transform_gradcheck(rng, fill_mode):
    x = rng.standard_normal((3, 4, 5, 2))
    check_grad(lambda t: affine_transform(t, TRANSFORMS, "bilinear", fill_mode, 0.5), [x])
    check_grad(lambda t: affine_transform(t, TRANSFORMS,
                                          "nearest", fill_mode), [x])


@pytest.mark.parametrize("kwargs", [
    dict(height=7, width=3), dict(height=2, width=9, interpolation="nearest"),
    dict(height=3, width=3, antialias=True),
    dict(height=4, width=2, crop_to_aspect_ratio=True),
    dict(height=4, width=8, pad_to_aspect_ratio=True, fill_value=1.0),
])
def test_resize_and_crop_gradcheck(rng, kwargs):
    x = rng.standard_normal((2, 5, 4, 2))
    check_grad(lambda t: resize(t, **kwargs), [x])
    check_grad(lambda t: crop(t, 1, 0, 3, 2, "channels_first"), [x])


# -- deterministic geometry of the layers ----------------------------------------------
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_rotation_translation_zoom_fixed_factor(rng, interpolation, fill_mode):
    x = rng.standard_normal((2, 6, 5, 2))
    h, w = 6, 5
    cy, cx = (h - 1) / 2, (w - 1) / 2
    angle = math.radians(0.1 * 360)
    cases = [
        (layers.RandomRotation((0.1, 0.1)),
         lambda b, i, j: (cy + math.sin(angle) * (j - cx) + math.cos(angle) * (i - cy),
                          cx + math.cos(angle) * (j - cx) - math.sin(angle) * (i - cy))),
        (layers.RandomTranslation((0.5, 0.5), (-0.2, -0.2)),
         lambda b, i, j: (i - 0.5 * h, j + 0.2 * w)),
        (layers.RandomZoom((0.5, 0.5), (-0.4, -0.4)),
         lambda b, i, j: (cy + 1.5 * (i - cy), cx + 0.6 * (j - cx))),
        (layers.RandomZoom((-0.25, -0.25)),
         lambda b, i, j: (cy + 0.75 * (i - cy), cx + 0.75 * (j - cx))),
    ]
    for layer, source in cases:
        layer.fill_mode, layer.interpolation = fill_mode, interpolation
        layer.fill_value = 2.0
        layer._dtype = "float64"
        y = layer(x, training=True)
        expected = slow_sample(x, source, interpolation, fill_mode, 2.0)
        np.testing.assert_allclose(y.numpy(), expected, atol=1e-12, err_msg=layer.name)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_quarter_turn_is_rot90(rng, interpolation):
    x = rng.standard_normal((2, 5, 5, 3))
    turn = layers.RandomRotation((0.25, 0.25), interpolation=interpolation, dtype="float64")
    np.testing.assert_allclose(turn(x, training=True).numpy(), np.rot90(x, 1, axes=(1, 2)),
                               atol=1e-12)


@pytest.mark.parametrize("mode,flip", [
    ("horizontal", lambda im: im[:, ::-1]), ("vertical", lambda im: im[::-1]),
    ("horizontal_and_vertical", lambda im: im[::-1, ::-1]),
])
def test_flip_exact(backend, rng, mode, flip):
    x = rng.standard_normal((16, 3, 4, 2)).astype(np.float32)
    y = layers.RandomFlip(mode, seed=2)(mdl.tensor(x), training=True).numpy()
    flipped = [np.array_equal(y[b], flip(x[b])) for b in range(16)]
    kept = [np.array_equal(y[b], x[b]) for b in range(16)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert any(flipped) and any(kept)


def test_flip_channels_first(rng):
    x = rng.standard_normal((8, 2, 3, 4))
    y = layers.RandomFlip("horizontal", seed=1, data_format="channels_first",
                          dtype="float64")(x, training=True).numpy()
    assert all(np.array_equal(y[b], x[b]) or np.array_equal(y[b], x[b][:, :, ::-1])
               for b in range(8))


def test_random_crop_windows(rng):
    x = rng.standard_normal((2, 6, 7, 1))
    layer = layers.RandomCrop(3, 4, seed=0, dtype="float64")
    corners = set()
    for _ in range(20):
        y = layer(x, training=True).numpy()
        assert y.shape == (2, 3, 4, 1)
        found = [(i, j) for i in range(4) for j in range(4)
                 if np.array_equal(y, x[:, i:i + 3, j:j + 4])]
        assert len(found) == 1
        corners.add(found[0])
    assert len(corners) > 3
    assert layer.compute_output_shape((None, 6, 7, 1)) == (None, 3, 4, 1)


def test_random_crop_small_input_resizes():
    x = np.arange(2 * 7 * 6 * 1, dtype=np.float64).reshape(2, 7, 6, 1)
    y = layers.RandomCrop(9, 4, dtype="float64")(x, training=True).numpy()
    # Keras's rule: the aspect window starts at column 1; 4 columns, 7 rows, resized
    np.testing.assert_allclose(y, slow_resize(x[:, :, 1:5], 9, 4, "bilinear"), atol=1e-12)


def test_contrast_and_brightness_formulas(rng):
    x = rng.uniform(50, 200, (4, 3, 5, 2))
    y = layers.RandomBrightness((0.1, 0.1), dtype="float64")(x, training=True).numpy()
    np.testing.assert_allclose(y, np.minimum(x + 25.5, 255), rtol=1e-14)
    y = layers.RandomBrightness(0.5, value_range=(0, 1))(x / 255, training=True).numpy()
    assert y.min() >= 0 and y.max() <= 1
    layer = layers.RandomContrast((0.2, 0.3), value_range=(-1e9, 1e9), dtype="float64")
    y = layer(x, training=True).numpy()
    means = x.mean(axis=(1, 2), keepdims=True)
    factors = (y - means) / (x - means)
    assert np.allclose(factors, factors[:, :1, :1, :1], rtol=1e-9)   # one per image
    assert np.all((factors >= 0.8) & (factors <= 1.3))
    clipped = layers.RandomContrast(0.5, value_range=(100, 150))(x, training=True).numpy()
    assert clipped.min() >= 100 and clipped.max() <= 150


# -- seeds, inference, configs ---------------------------------------------------------
@pytest.mark.parametrize("cls,kwargs", RANDOM_LAYERS,
                         ids=lambda v: getattr(v, "__name__", ""))
def test_seeds_reproducible(backend, rng, cls, kwargs):
    x = mdl.tensor(rng.uniform(0, 255, (4, 6, 7, 2)).astype(np.float32))
    mdl.random.seed(7)
    layer = cls(**kwargs)
    first = [layer(x, training=True).numpy() for _ in range(3)]
    mdl.random.seed(7)
    again = [layer(x, training=True).numpy() for _ in range(3)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(first[0], f) for f in first[1:])
    seeded = [cls(seed=11, **kwargs)(x, training=True).numpy() for _ in range(2)]
    np.testing.assert_array_equal(seeded[0], seeded[1])


@pytest.mark.parametrize("cls,kwargs", RANDOM_LAYERS,
                         ids=lambda v: getattr(v, "__name__", ""))
def test_identity_at_inference(rng, cls, kwargs):
    x = rng.uniform(0, 255, (2, 6, 7, 3)).astype(np.float32)
    layer = cls(**kwargs)
    if cls is layers.RandomCrop:   # the centred window of the target's aspect ratio
        np.testing.assert_allclose(layer(x).numpy(),
                                   slow_resize(x[:, :5], 3, 4, "bilinear"), rtol=1e-5)
        return
    for out in (layer(x), layer(x, training=False)):
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out.numpy(), x)
    np.testing.assert_array_equal(layer(x[0]).numpy(), x[0])          # one image
    assert layer(x.astype(np.uint8)).dtype == np.float32


@pytest.mark.parametrize("cls,kwargs", RANDOM_LAYERS + [
    (layers.Resizing, dict(height=3, width=5, interpolation="nearest")),
    (layers.Resizing, dict(height=4, width=2, crop_to_aspect_ratio=True)),
    (layers.CenterCrop, dict(height=3, width=2)),
], ids=lambda v: getattr(v, "__name__", ""))
def test_harness_and_keras_config_keys(cls, kwargs):
    layer_test(cls, kwargs, (2, 6, 7, 3), expected_num_trainable_weights=0,
               expected_num_non_trainable_weights=0)
    config = cls(**kwargs).get_config()
    assert set(config) == KERAS_KEYS[cls.__name__] | {"name", "trainable", "dtype"}
    assert cls.from_config(config).get_config() == config


def test_keras_config_values():
    assert layers.RandomRotation(0.1).get_config()["factor"] == (-0.1, 0.1)
    assert layers.RandomContrast(0.2).get_config()["factor"] == (0.0, 0.2)   # Keras's rule
    assert layers.RandomBrightness(0.2, value_range=(255, 0)).get_config()["value_range"] \
        == [0, 255]
    config = layers.RandomTranslation(0.1, [0.2, 0.3]).get_config()
    assert (config["height_factor"], config["width_factor"]) == (0.1, (0.2, 0.3))
    assert layers.RandomZoom(0.1).get_config()["fill_mode"] == "reflect"


def test_layers_gradcheck_fixed_factor(rng):
    x = rng.standard_normal((2, 5, 4, 2))
    for layer in [layers.RandomRotation((0.1, 0.1), fill_mode="constant"),
                  layers.RandomZoom((0.2, 0.2)),
                  layers.RandomTranslation((0.3, 0.3), (0.2, 0.2)),
                  layers.Resizing(3, 6), layers.CenterCrop(3, 3)]:
        check_layer(layer, x, training=True)


def test_in_a_model_trains(rng):
    model = mdl.models.Sequential([
        mdl.Input((8, 8, 1)), layers.RandomFlip("horizontal"), layers.RandomRotation(0.05),
        layers.RandomZoom(0.1), layers.RandomCrop(6, 6), layers.Flatten(), layers.Dense(2)])
    model.compile("sgd", "mse")
    x = rng.standard_normal((4, 8, 8, 1))
    loss = model.train_on_batch(x, np.zeros((4, 2)))
    assert np.isfinite(np.ravel(loss)[0])
    assert model.predict(x, verbose=0).shape == (4, 2)


@pytest.mark.parametrize("make,message", [
    (lambda: layers.RandomRotation(1.5), "factor=1.5"),
    (lambda: layers.RandomRotation((0.1, 0.2, 0.3)), "pair"),
    (lambda: layers.RandomZoom(-1.0), r"height_factor=-1\.0.*\(-1"),
    (lambda: layers.RandomTranslation(0.1, "a"), "width_factor='a'"),
    (lambda: layers.RandomContrast(-0.1), "factor=-0.1"),
    (lambda: layers.RandomBrightness(0.1, value_range=3), "value_range=3"),
    (lambda: layers.RandomRotation(0.1, fill_mode="mirror"), "fill_mode='mirror'"),
    (lambda: layers.RandomZoom(0.1, interpolation="bicubic"), "interpolation='bicubic'"),
    (lambda: layers.RandomFlip("diagonal"), "mode='diagonal'"),
    (lambda: layers.RandomCrop(0, 3), "height=0"),
    (lambda: layers.Resizing(3, 2.5), "width=2.5"),
    (lambda: layers.Resizing(3, 3, interpolation="lanczos3"), "lanczos3"),
    (lambda: layers.Resizing(3, 3, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True),
     "only one"),
    (lambda: layers.CenterCrop(3, 3, data_format="nhwc"), "data_format='nhwc'"),
    (lambda: layers.RandomFlip(seed=-1), "seed=-1"),
    (lambda: layers.CenterCrop(2, 2)(np.zeros((2, 3))), "rank 3"),
    (lambda: affine_transform(np.zeros((2, 3, 3, 1)), np.zeros((3, 8))), r"\(3, 8\)"),
    (lambda: affine_transform(np.zeros((2, 3, 3, 1)), np.zeros(8), data_format="nchw"),
     "data_format='nchw'"),
    (lambda: crop(np.zeros((2, 5, 4, 2)), 1, 2, 3, 2, "channels_first"),
     "left=2, height=3, width=2 is not inside images of 4x2"),
    (lambda: crop(np.zeros((2, 5, 4, 2)), -1, 0, 3, 2), r"\(top, left\)=\(-1, 0\)"),
    (lambda: crop(np.zeros((2, 5, 4, 2)), 0, 0, 0, 2), r"\(height, width\)=\(0, 2\)"),
    (lambda: resize(np.zeros((2, 5, 4, 2)), 3, 0), r"\(height, width\)=\(3, 0\)"),
    (lambda: resize(np.zeros((2, 5, 4, 2)), 3, 3, data_format="hwc"), "data_format='hwc'"),
])
def test_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_example_builds_with_augmentation(rng):
    import importlib.util
    import pathlib
    import sys
    examples = pathlib.Path(__file__).resolve().parent.parent / "examples"
    spec = importlib.util.spec_from_file_location("mobilenetv2_digits",
                                                  examples / "mobilenetv2_digits.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(examples))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(examples))
    model = module.build_model(augment=True)
    names = [layer.name for layer in model.layers]
    assert names[1:4] == ["shift", "rotate", "zoom"]
    model.compile("adam", mdl.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = rng.uniform(0, 16, (4, 8, 8, 1)).astype(np.float32)
    assert np.isfinite(np.ravel(model.train_on_batch(x, np.arange(4)))[0])
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
