"""Keras's files in and out: ``.keras`` archives, ``.weights.h5`` files and legacy
``.h5`` files, read against Keras's stored outputs, written so that Keras reads them
(the goldens in ``tests/golden/files``, made by ``tests/golden/make_golden_files.py``),
and hostile files refused without running anything or allocating much."""
import base64
import json
import marshal
import os
import pathlib
import sys
import tracemalloc
import zipfile

import h5py
import numpy as np
import pytest

import minidl as mdl
from minidl import keras_files, layers
from minidl.keras_files import legacy, screen
from minidl.models import Sequential, load_model
from minidl.saving import FormatError

FILES = pathlib.Path(__file__).resolve().parent / "golden" / "files"
ATOL = 2e-6  # float32 outputs of order 1, computed in a different order than Keras


def golden(name):
    with np.load(FILES / f"{name}.npz", allow_pickle=False) as f:
        return {key: f[key] for key in f.files}


def assert_close(actual, expected, atol=ATOL):
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=atol)


def small_cnn():
    model = Sequential([
        layers.Conv2D(3, 3, padding="same", input_shape=(6, 6, 2)),
        layers.BatchNormalization(),
        layers.DepthwiseConv2D(3, depth_multiplier=2),
        layers.SeparableConv2D(4, 2, activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(2),
    ])
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32")
                       for w in model.weights])
    return model


def tiny_input(seed=1):
    return np.random.default_rng(seed).uniform(-1, 1, (2, 6, 6, 2)).astype("float32")


# -- Keras's files into minidl ---------------------------------------------------------
@pytest.mark.parametrize("name", ["k_seq_dw_sep.keras", "k_residual.keras",
                                  "k_seq_dw_sep.h5", "k_residual.h5",
                                  "k_mobilenet_v3_small.keras", "k2_seq_dw_sep.h5",
                                  "k2_mlp_model.h5", "k2_functional.h5"])
def test_keras_written_models_load_and_match_keras_outputs(name):
    g = golden(name.split(".")[0])
    model = load_model(FILES / name)
    assert_close(model.predict(g["x"]), g["y"])


@pytest.mark.parametrize("stem", ["k_seq_dw_sep", "k_residual"])
def test_keras_weights_files_load_by_layer_and_variable_path(stem):
    g = golden(stem)
    model = load_model(FILES / f"{stem}.keras")
    model.set_weights([np.zeros(w.shape, w.dtype) for w in model.weights])
    model.load_weights(FILES / f"{stem}.weights.h5")
    assert_close(model.predict(g["x"]), g["y"])
    model.set_weights([np.zeros(w.shape, w.dtype) for w in model.weights])
    model.load_weights(FILES / f"{stem}.h5")  # legacy: by layer, in order
    assert_close(model.predict(g["x"]), g["y"])


def test_keras2_spellings_are_upgraded():
    config = {"class_name": "Model", "config": {"layers": [
        {"class_name": "DepthwiseConv2D", "config": {"groups": 1, "dtype": {
            "class_name": "Policy", "config": {"name": "float32"}}}},
        {"class_name": "BatchNormalization", "config": {"axis": [3], "renorm": False}}],
        "input_layers": [["input_1", 0, 0]], "output_layers": []}}
    legacy.upgrade_config(config, "m.h5")
    assert config["class_name"] == "Functional"
    depthwise, batchnorm = config["config"]["layers"]
    assert depthwise["config"] == {"dtype": "float32"}
    assert batchnorm["config"] == {"axis": 3}
    grouped = {"class_name": "SeparableConv2D", "config": {"groups": 2}}
    with pytest.raises(FormatError, match="groups"):
        legacy.upgrade_config(grouped, "m.h5")


# -- minidl's files into Keras ---------------------------------------------------------
@pytest.mark.parametrize("name", ["seq_dw_sep", "residual", "mobilenet_v3_small"])
def test_minidl_written_archives_gave_keras_the_same_outputs(name):
    g = golden(f"m_{name}")
    assert_close(g["y_keras"], g["y_minidl"])  # what Keras computed from minidl's file
    model = load_model(FILES / f"m_{name}.keras")
    # y_minidl came from minidl in the script's environment: equal up to BLAS rounding
    assert_close(model.predict(g["x"]), g["y_minidl"], atol=1e-7)
    if "y_keras_weights" in g:
        assert_close(g["y_keras_weights"], g["y_minidl"])
        model.set_weights([np.zeros(w.shape, w.dtype) for w in model.weights])
        model.load_weights(FILES / f"m_{name}.weights.h5")
        assert_close(model.predict(g["x"]), g["y_minidl"], atol=1e-7)


def _layout(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda key, obj: out.__setitem__(key, (
            getattr(obj, "shape", None), obj.attrs.get("name"))))
    return out


def test_written_weights_follow_keras_layout_exactly(tmp_path):
    model = load_model(FILES / "k_residual.keras")
    model.save_weights(tmp_path / "w.weights.h5")
    assert _layout(tmp_path / "w.weights.h5") == _layout(FILES / "k_residual.weights.h5")


# -- round trips -----------------------------------------------------------------------
def _functional_with_nested_model():
    inner = Sequential([layers.Dense(3, input_shape=(3,), name="inner_dense")],
                       name="inner")
    x = mdl.models.Input((4,), name="features")
    h = layers.Dense(3, name="a")(x)
    y = layers.Add(name="sum")([inner(h), layers.Dense(3, name="b")(x)])
    return mdl.models.Model(x, y, name="nested")


@pytest.mark.parametrize("make, input_shape", [(small_cnn, (6, 6, 2)),
                                               (_functional_with_nested_model, (4,))])
def test_minidl_to_keras_archive_to_minidl_is_exact(tmp_path, make, input_shape):
    model = make()
    rng = np.random.default_rng(3)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32")
                       for w in model.weights])
    x = rng.standard_normal((2,) + input_shape).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = load_model(path)
    assert [w.path for w in loaded.weights] == [w.path for w in model.weights]
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json",
                                              "model.weights.h5"]
        assert json.loads(archive.read("metadata.json"))["keras_version"].startswith("3.")
    model.save_weights(tmp_path / "m.weights.h5")
    loaded.set_weights([np.zeros(w.shape, w.dtype) for w in loaded.weights])
    loaded.load_weights(tmp_path / "m.weights.h5")
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    loaded.set_weights([np.zeros(w.shape, w.dtype) for w in loaded.weights])
    loaded.load_weights(path)  # the weights of an archive
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_keras_model_with_operations_round_trips_exactly(tmp_path):
    g = golden("k_mobilenet_v3_small")  # Rescaling, Multiply, and ops such as x + 3.0
    model = load_model(FILES / "k_mobilenet_v3_small.keras")
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.predict(g["x"]), model.predict(g["x"]))


def test_other_suffixes_keep_minidl_format(tmp_path):
    model = small_cnn()
    for name in ("m.h5", "m.bin", "m.keras.bak"):
        model.save(tmp_path / name)
        with zipfile.ZipFile(tmp_path / name) as archive:
            assert "__minidl__.npy" in archive.namelist()
        loaded = load_model(tmp_path / name)
        np.testing.assert_array_equal(loaded.predict(tiny_input()),
                                      model.predict(tiny_input()))
    model.save_weights(tmp_path / "w.h5")
    model.load_weights(tmp_path / "w.h5")
    assert not h5py.is_hdf5(tmp_path / "w.h5")


def test_a_keras_save_that_dies_halfway_leaves_the_previous_file(tmp_path, monkeypatch):
    model = small_cnn()
    path = tmp_path / "m.keras"
    model.save(path)
    before = path.read_bytes()
    original = zipfile.ZipFile.writestr

    def dying_writestr(self, name, data, *args, **kwargs):
        if name == "model.weights.h5":
            raise KeyboardInterrupt("power cut")
        return original(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", dying_writestr)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.keras"]


def test_compile_config_from_keras_compiles_the_model(tmp_path):
    model = small_cnn()
    model.save(tmp_path / "m.keras")
    _rewrite_config(tmp_path / "m.keras", lambda c: c.update(compile_config={
        "optimizer": {"module": "keras.optimizers", "class_name": "Adam",
                      "config": {"name": "adam", "learning_rate": 0.005},
                      "registered_name": None},
        "loss": "mean_squared_error", "metrics": None}))
    loaded = load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer).__name__ == "Adam"
    assert load_model(tmp_path / "m.keras", compile=False).optimizer is None


def test_missing_h5py_is_an_error_naming_the_extra(tmp_path, monkeypatch):
    model = small_cnn()
    model.save(tmp_path / "m.keras")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"minidl\[keras\]"):
        load_model(tmp_path / "m.keras")
    with pytest.raises(ImportError, match=r"minidl\[keras\]"):
        model.save_weights(tmp_path / "w.weights.h5")


# -- hostile files ---------------------------------------------------------------------
def _rewrite_archive(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _rewrite_config(path, change):
    members = _members(path)
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config)
    _rewrite_archive(path, members)


def _layer_entries(config):
    return config["config"]["layers"]


def test_a_lambda_layer_is_refused_and_its_code_never_runs(tmp_path):
    model = small_cnn()
    path = tmp_path / "m.keras"
    model.save(path)
    marker = tmp_path / "pwned"
    code = compile(f"open({str(marker)!r}, 'w').close()", "<lambda>", "exec")
    function = {"class_name": "__lambda__", "config": {
        "code": base64.b64encode(marshal.dumps(code)).decode(), "defaults": None,
        "closure": None}}
    lam = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
           "config": {"name": "evil", "function": function, "arguments": {}}}
    _rewrite_config(path, lambda c: _layer_entries(c).append(lam))
    with pytest.raises(FormatError, match="Lambda 'evil'.*code"):
        load_model(path)
    assert not marker.exists()


@pytest.mark.parametrize("change, match", [
    (lambda e: e.update(module="evil.layers"), "module 'evil.layers'"),
    (lambda e: e.update(module="keras.layers", class_name="NoSuchLayer"), "NoSuchLayer"),
    (lambda e: e.update(registered_name="my_package>Dense"), "my_package>Dense"),
])
def test_unknown_modules_classes_and_custom_objects_are_refused(tmp_path, change, match):
    model = small_cnn()
    path = tmp_path / "m.keras"
    model.save(path)
    _rewrite_config(path, lambda c: change(_layer_entries(c)[-1]))
    with pytest.raises(FormatError, match=match):
        load_model(path)


def test_custom_objects_given_by_the_caller_are_used(tmp_path):
    class Twice(layers.Layer):
        def call(self, inputs):
            return inputs * 2.0

    model = Sequential([layers.Dense(2, input_shape=(3,)), Twice()])
    model.save(tmp_path / "m.keras")
    with pytest.raises(FormatError, match="Twice"):
        load_model(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras", custom_objects={"Twice": Twice})
    x = np.ones((1, 3), np.float32)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


def test_weights_that_do_not_fit_are_refused_naming_the_weight(tmp_path):
    small_cnn().save_weights(tmp_path / "w.weights.h5")
    other = Sequential([layers.Conv2D(5, 3, padding="same", input_shape=(6, 6, 2)),
                        layers.BatchNormalization(),
                        layers.DepthwiseConv2D(3, depth_multiplier=2),
                        layers.SeparableConv2D(4, 2), layers.GlobalAveragePooling2D(),
                        layers.Dense(2)])
    with pytest.raises(FormatError, match=r"conv2d\w*/kernel' has shape \(3, 3, 2, 5\)"):
        other.load_weights(tmp_path / "w.weights.h5")
    fewer = Sequential([layers.Conv2D(3, 3, padding="same", input_shape=(6, 6, 2))])
    with pytest.raises(FormatError, match="no place for"):
        fewer.load_weights(tmp_path / "w.weights.h5")


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_a_config_declaring_far_more_weights_than_stored_is_refused_before_building(
        tmp_path):
    model = Sequential([layers.Dense(4, input_shape=(3,))])
    path = tmp_path / "m.keras"
    model.save(path)

    def grow(config):  # 200k x 50k float32: 40 GB if it were built
        dense = _layer_entries(config)[-1]
        dense["config"]["units"] = 50_000
        dense["build_config"]["input_shape"] = [None, 200_000]
        _layer_entries(config)[0]["config"]["batch_shape"] = [None, 200_000]

    _rewrite_config(path, grow)

    def load():
        with pytest.raises(FormatError, match="by its config"):
            load_model(path)
    assert _peak_bytes(load) < 20 << 20


def test_an_input_shape_far_too_large_is_refused(tmp_path):
    model = small_cnn()
    path = tmp_path / "m.keras"
    model.save(path)
    _rewrite_config(path, lambda c: _layer_entries(c)[0]["config"].update(
        batch_shape=[None, 100_000, 100_000, 2]))
    with pytest.raises(FormatError, match="values per sample"):
        load_model(path)


def test_a_zip_bomb_is_refused_before_decompressing(tmp_path):
    path = tmp_path / "m.keras"
    small_cnn().save(path)
    members = _members(path)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", members["config.json"])
        archive.writestr("metadata.json", members["metadata.json"])
        archive.writestr("model.weights.h5", bytes(64 << 20))  # 64 MB of zeros, ~64 KB
    assert path.stat().st_size < 1 << 20

    def load():
        with pytest.raises(FormatError, match="zip bomb"):
            load_model(path)
    assert _peak_bytes(load) < 8 << 20


def test_member_names_never_become_paths(tmp_path):
    path = tmp_path / "inner" / "m.keras"
    path.parent.mkdir()
    small_cnn().save(path)
    members = _members(path)
    members["../escaped.txt"] = b"x"
    members["/tmp/absolute.txt"] = b"x"
    _rewrite_archive(path, members)
    load_model(path)
    assert sorted(os.listdir(tmp_path)) == ["inner"]
    assert os.listdir(tmp_path / "inner") == ["m.keras"]


@pytest.mark.parametrize("name", ["k_seq_dw_sep.h5", "k_seq_dw_sep.keras",
                                  "k_seq_dw_sep.weights.h5"])
def test_truncated_files_are_clear_errors(tmp_path, name):
    data = (FILES / name).read_bytes()
    path = tmp_path / name
    for cut in (len(data) // 2, len(data) - 100):
        path.write_bytes(data[:cut])
        with pytest.raises(FormatError, match=f"{name}.*(HDF5|zip|archive)"):
            if name.endswith(".weights.h5"):
                load_model(FILES / "k_seq_dw_sep.keras").load_weights(path)
            else:
                load_model(path)


def _weights_file_with(tmp_path, make_dataset):
    model = Sequential([layers.Dense(2, input_shape=(3,))])
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "a") as f:
        del f["layers/dense/vars/0"]
        make_dataset(f["layers/dense/vars"])
    return model, path


@pytest.mark.parametrize("make_dataset, match", [
    (lambda g: g.create_dataset("0", shape=(1 << 20, 1 << 12), dtype="float32",
                                chunks=(1024, 1024), compression="gzip"), "bomb"),
    (lambda g: g.create_dataset("0", shape=(1 << 20, 1 << 12), dtype="float32"),
     "stores 0 bytes"),
    (lambda g: g.create_dataset("0", data=np.array([b"x" * 10])), "only numbers"),
    (lambda g: g.__setitem__("0", h5py.SoftLink("/layers/dense/vars/1")), "link"),
    (lambda g: g.__setitem__("0", h5py.ExternalLink("/etc/passwd", "/x")), "link"),
])
def test_hostile_hdf5_datasets_are_refused_before_reading(tmp_path, make_dataset, match):
    model, path = _weights_file_with(tmp_path, make_dataset)
    assert path.stat().st_size < 1 << 20

    def load():
        with pytest.raises(FormatError, match=match):
            model.load_weights(path)
    assert _peak_bytes(load) < 8 << 20


def test_a_huge_dataset_inside_a_legacy_file_is_refused(tmp_path):
    path = tmp_path / "m.h5"
    path.write_bytes((FILES / "k2_mlp_model.h5").read_bytes())
    with h5py.File(path, "a") as f:
        weights = f["model_weights"]
        group = next(weights[n] for n in weights.attrs["layer_names"]
                     if len(weights[n].attrs["weight_names"]))
        name = group.attrs["weight_names"][0]
        del group[name]
        group.create_dataset(name, shape=(1 << 30, 1 << 10), dtype="float64",
                             chunks=(1 << 16, 1), compression="gzip")

    def load():
        with pytest.raises(FormatError, match="bomb"):
            load_model(path)
    assert _peak_bytes(load) < 8 << 20


def test_a_lambda_in_a_legacy_file_is_refused(tmp_path):
    path = tmp_path / "m.h5"
    path.write_bytes((FILES / "k2_mlp_model.h5").read_bytes())
    with h5py.File(path, "a") as f:
        config = json.loads(f.attrs["model_config"])
        config["config"]["layers"].insert(1, {"class_name": "Lambda", "config": {
            "name": "lam", "function": ["4wEAAAAAAAAA", None, None],
            "function_type": "lambda"}, "name": "lam", "inbound_nodes": []})
        f.attrs["model_config"] = json.dumps(config).encode()
    with pytest.raises(FormatError, match="Lambda 'lam'"):
        load_model(path)


def test_screen_refuses_code_and_foreign_modules_everywhere_in_a_config():
    nested = {"class_name": "Dense", "config": {"kernel_initializer": {
        "module": "os", "class_name": "system", "config": {}}}}
    with pytest.raises(FormatError, match="module 'os'"):
        screen.check_config({"class_name": "Sequential", "config": {"layers": [nested]}},
                            "m.keras")
    screen.check_config(nested, "m.keras", custom_objects={"system": object})
    with pytest.raises(FormatError, match="TFOpLambda"):
        screen.check_config({"class_name": "TFOpLambda", "config": {}}, "m.keras")


def test_format_error_names_the_file_and_is_a_value_error():
    err = keras_files.FormatError("dir/m.keras", "config.json is missing")
    assert isinstance(err, ValueError)
    assert str(err) == "cannot load 'dir/m.keras': config.json is missing"
    assert mdl.saving.FormatError is keras_files.FormatError
