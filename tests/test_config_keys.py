"""``get_config()`` keys equal Keras 3's for every layer with a golden file
(``tests/golden/*.npz`` stores Keras's own config): the layer is rebuilt from that config
and its key set must be the same, before and after it is built, with no key ignored.
Also: the Keras arguments minidl accepts only at their defaults reject other values."""
import json
import pathlib

import numpy as np
import pytest

import minidl as mdl

GOLDEN = sorted((pathlib.Path(__file__).parent / "golden").glob("*.npz"))


def _inputs(data):
    """The input of the golden call: ``x``, or ``x0, x1, ...`` for several inputs."""
    if "x" in data.files:
        return mdl.tensor(data["x"])
    names = sorted((k for k in data.files if k[1:].isdigit() and k[0] == "x"),
                   key=lambda k: int(k[1:]))
    return [mdl.tensor(data[k]) for k in names]


def test_golden_files_are_present():
    assert len(GOLDEN) >= 40


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_config_keys_equal_keras(path):
    data = np.load(path, allow_pickle=False)
    class_name = str(data["class_name"])
    keras_config = json.loads(str(data["config"]))
    cls = getattr(mdl.layers, class_name, None)
    assert cls is not None, f"minidl.layers has no {class_name} (needed by {path.name})"
    layer = cls.from_config(keras_config)
    unbuilt = set(layer.get_config())
    assert unbuilt == set(keras_config), (
        f"{class_name}: keys minidl lacks {sorted(set(keras_config) - unbuilt)}, keys "
        f"Keras lacks {sorted(unbuilt - set(keras_config))}")
    with mdl.no_grad():
        layer(_inputs(data), training=False)
    assert set(layer.get_config()) == unbuilt


@pytest.mark.parametrize("kwargs,message", [
    (dict(renorm=True), "renorm=True"),
    (dict(renorm_clipping=3.0), "renorm_clipping=3.0"),
    (dict(renorm_momentum=1.5), "renorm_momentum=1.5"),
    (dict(renorm_momentum=True), "renorm_momentum=True"),
])
def test_batch_normalization_renorm_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mdl.layers.BatchNormalization(**kwargs)


def test_batch_normalization_renorm_settings_without_renorm_round_trip():
    # Keras stores them even with renorm=False, where they change nothing
    layer = mdl.layers.BatchNormalization(renorm_clipping={"rmax": 3.0},
                                          renorm_momentum=0.9)
    config = layer.get_config()
    assert (config["renorm_clipping"], config["renorm_momentum"]) == ({"rmax": 3.0}, 0.9)
    x = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_allclose(layer(x, training=True).numpy(),
                               mdl.layers.BatchNormalization()(x, training=True).numpy())


def test_batch_normalization_renorm_and_synchronized_in_config():
    config = mdl.layers.BatchNormalization(synchronized=True).get_config()
    assert config["synchronized"] is True
    assert (config["renorm"], config["renorm_clipping"], config["renorm_momentum"]) == \
        (False, None, 0.99)
    assert mdl.layers.BatchNormalization.from_config(config).synchronized is True


def test_dense_quantization_config_only_none():
    assert mdl.layers.Dense(2).get_config()["quantization_config"] is None
    with pytest.raises(ValueError, match="quantization_config"):
        mdl.layers.Dense(2, quantization_config={"mode": "int8"})
