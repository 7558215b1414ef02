"""Property-based fuzzing of every loader: whatever the bytes, a loader either loads the
file or raises ``FormatError`` (a ``ValueError``) naming it, never another exception.

Mutations: flipped, overwritten, inserted and cut bytes of valid files (minidl's own, a
``.keras`` archive, a ``.weights.h5`` file, IDX plain and gzipped), and random JSON
swapped in anywhere in minidl's header and in ``minidl.json``. Example counts are in
``EXAMPLES`` (times ``$MINIDL_FUZZ_SCALE`` for a longer run); the runs are derandomized,
so CI sees the same cases every time.
"""
import functools
import io
import json
import os
import pathlib
import shutil
import tempfile
import zipfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import minidl as mdl  # noqa: E402
from minidl import config, layers  # noqa: E402
from minidl.datasets import load_idx, save_idx  # noqa: E402
from minidl.models import Sequential, load_model  # noqa: E402
from minidl.saving import FormatError  # noqa: E402

EXAMPLES = {"minidl_bytes": 300, "minidl_header": 300, "keras_bytes": 150,
            "weights_h5_bytes": 100, "idx_bytes": 300, "minidl_json": 200}
SCALE = float(os.environ.get("MINIDL_FUZZ_SCALE", "1"))
FUZZ = dict(deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.function_scoped_fixture])


def examples(name):
    return max(1, int(EXAMPLES[name] * SCALE))


def small_model():
    model = Sequential([layers.Conv1D(2, 2, input_shape=(5, 2)), layers.Flatten(),
                        layers.Dense(3)])
    model.compile(optimizer="adam", loss="mse")
    return model


@functools.cache
def valid_files():
    """``{name: bytes}`` of valid files (not a fixture: hypothesis would print them)."""
    folder = pathlib.Path(tempfile.mkdtemp())
    model = small_model()
    model.train_on_batch(np.ones((2, 5, 2), "float32"), np.ones((2, 3), "float32"))
    model.save(folder / "m.minidl")
    model.save(folder / "m.keras")
    model.save_weights(folder / "w.weights.h5")
    save_idx(folder / "x.idx", np.arange(24, dtype=np.int16).reshape(2, 3, 4))
    save_idx(folder / "x.idx.gz", np.arange(24, dtype=np.float32).reshape(4, 6))
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    shutil.rmtree(folder)
    return files


edits = st.lists(st.tuples(st.sampled_from(["flip", "set", "insert", "cut"]),
                           st.floats(0, 1, exclude_max=True), st.binary(min_size=1,
                                                                        max_size=8)),
                 min_size=1, max_size=4)


def mutate(data, changes):
    data = bytearray(data)
    for kind, where, payload in changes:
        at = int(where * len(data)) if data else 0
        if kind == "flip" and data:
            data[at] ^= payload[0] or 1
        elif kind == "set":
            data[at: at + len(payload)] = payload
        elif kind == "insert":
            data[at:at] = payload
        else:
            del data[at:]
    return bytes(data)


def loads_or_refuses(load, path):
    """``load(path)`` succeeds or raises FormatError naming ``path``."""
    try:
        load(path)
    except FormatError as err:
        assert os.path.basename(path) in str(err), str(err)


def built_model():
    model = small_model()
    model.build((None, 5, 2))
    return model


@settings(max_examples=examples("minidl_bytes"), **FUZZ)
@given(changes=edits)
def test_mutated_minidl_files(tmp_path, changes):
    path = tmp_path / "m.minidl"
    path.write_bytes(mutate(valid_files()["m.minidl"], changes))
    loads_or_refuses(load_model, path)
    loads_or_refuses(built_model().load_weights, path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) |
    st.floats(allow_nan=True) | st.text(max_size=6) |
    st.sampled_from(["Dense", "Sequential", "float32", "S100000000", "__numpy__",
                     "__tuple__", "keras.layers", "os", 10 ** 9, -1, [None, 10 ** 6]]),
    lambda children: st.lists(children, max_size=4) |
    st.dictionaries(st.sampled_from(["class_name", "config", "module", "units",
                                     "layers", "dtype", "value", "shape", "name",
                                     "batch_input_shape", "filters", "kernel_size"]),
                    children, max_size=4),
    max_leaves=12)


def replace_somewhere(value, choice, replacement):
    """``value`` with its ``choice``-th sub-value (depth first) replaced."""
    nodes = []

    def walk(v, parent, key):
        nodes.append((parent, key))
        if isinstance(v, dict):
            for k in list(v):
                walk(v[k], v, k)
        elif isinstance(v, list):
            for i in range(len(v)):
                walk(v[i], v, i)
    walk(value, None, None)
    parent, key = nodes[choice % len(nodes)]
    if parent is None:
        return replacement
    parent[key] = replacement
    return value


@settings(max_examples=examples("minidl_header"), **FUZZ)
@given(choice=st.integers(0, 10 ** 6), replacement=json_values)
def test_minidl_headers_with_random_json_anywhere(tmp_path, choice, replacement):
    source = io.BytesIO(valid_files()["m.minidl"])
    with zipfile.ZipFile(source) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    header = json.loads(str(np.load(io.BytesIO(members["__minidl__.npy"]))[()]))
    header = replace_somewhere(header, choice, replacement)
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array(json.dumps(header)))
    members["__minidl__.npy"] = buffer.getvalue()
    path = tmp_path / "h.minidl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    loads_or_refuses(load_model, path)
    loads_or_refuses(built_model().load_weights, path)


@settings(max_examples=examples("keras_bytes"), **FUZZ)
@given(changes=edits)
def test_mutated_keras_archives(tmp_path, changes):
    path = tmp_path / "m.keras"
    path.write_bytes(mutate(valid_files()["m.keras"], changes))
    loads_or_refuses(load_model, path)


@settings(max_examples=examples("weights_h5_bytes"), **FUZZ)
@given(changes=edits)
def test_mutated_keras_weights_files(tmp_path, changes):
    path = tmp_path / "w.weights.h5"
    path.write_bytes(mutate(valid_files()["w.weights.h5"], changes))
    loads_or_refuses(built_model().load_weights, path)


@settings(max_examples=examples("idx_bytes"), **FUZZ)
@given(changes=edits, name=st.sampled_from(["x.idx", "x.idx.gz"]))
def test_mutated_idx_files(tmp_path, changes, name):
    path = tmp_path / name
    path.write_bytes(mutate(valid_files()[name], changes))
    loads_or_refuses(load_idx, path)


@settings(max_examples=examples("minidl_json"), **FUZZ)
@given(values=st.dictionaries(st.sampled_from(["floatx", "epsilon", "image_data_format",
                                               "num_threads", "load_limits", "backend"]),
                              json_values, max_size=3) | json_values,
       nest=st.integers(0, 3000))
def test_random_minidl_json(tmp_path, monkeypatch, values, nest):
    text = "[" * nest + json.dumps(values) + "]" * nest
    (tmp_path / "minidl.json").write_text(text)
    monkeypatch.setenv("MINIDL_HOME", str(tmp_path))
    saved = dict(config._settings)
    try:
        config._load()
    except FormatError as err:
        assert "minidl.json" in str(err)
    finally:
        config._settings.clear()
        config._settings.update(saved)
    assert mdl.config.floatx() == saved["floatx"]
