"""Small hostile files: bounded memory, one error type, and saves that keep what they
replace safe.

- Memory: each hostile file (all under 1 MB) is refused by every loader before the huge
  allocation it asks for; the peak is measured in a subprocess (``tracemalloc`` per file,
  the growth of max RSS overall) under ``RLIMIT_AS`` as a safety net.
- Errors: a malformed file given to any loader raises ``FormatError`` (a
  ``ValueError``) naming the file; paths may be ``bytes`` or ``os.PathLike``.
- Saving: permission bits survive an overwrite, minidl's stale temporary files are
  removed by the next save, and an interrupt at any point leaves nothing behind.
"""
import gzip
import io
import json
import os
import pathlib
import stat
import subprocess
import sys
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import minidl as mdl
from minidl import layers
from minidl.datasets import load_idx
from minidl.keras_files import files
from minidl.models import Sequential, load_model
from minidl.saving import FormatError, load_limits


def small_model():
    model = Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    return model


def parts(path):
    """``(header, arrays)`` of minidl's file at ``path``."""
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    return json.loads(str(arrays.pop("__minidl__")[()])), arrays


def write(path, header, arrays, compression=zipfile.ZIP_STORED):
    """minidl's file from its parts (``np.savez``'s layout, optionally compressed)."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for key, value in {"__minidl__": np.array(json.dumps(header)), **arrays}.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=False)
            archive.writestr(f"{key}.npy", buffer.getvalue())


def saved(tmp_path, name="m.minidl"):
    path = tmp_path / name
    small_model().save(path)
    return path


def layer_entries(header):
    return header["model"]["config"]["layers"]


# -- hostile files, each under 1 MB ----------------------------------------------------
def zero_member_file(path, size=400 << 20):
    """A minidl file whose first weight is ``size`` bytes of zeros, deflated (~1/1000)."""
    header, arrays = parts(saved(path.parent, "base.minidl"))
    header["weights"][0]["shape"] = [size // 4]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=9) as archive:
        for key, value in {"__minidl__": np.array(json.dumps(header)), **arrays}.items():
            if key == "weight_0":
                continue
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, value)
            archive.writestr(f"{key}.npy", buffer.getvalue())
        with archive.open("weight_0.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {
                "descr": "<f4", "fortran_order": False, "shape": (size // 4,)})
            chunk = bytes(1 << 20)
            for _ in range(size >> 20):
                member.write(chunk)


def huge_npy_header_file(path):
    """weight_0's .npy header declares 2**40 float32 values; the member holds 12."""
    header, arrays = parts(saved(path.parent, "base.minidl"))
    write(path, header, arrays)
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (1 << 40,)})
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    members["weight_0.npy"] = buffer.getvalue() + bytes(48)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def config_file(path, change):
    header, arrays = parts(saved(path.parent, "base.minidl"))
    change(header)
    write(path, header, arrays)


def units(header):
    layer_entries(header)[1]["config"]["units"] = 10 ** 9


def filters(header):   # a 4e6-filter Conv1D (a 16 MB kernel) after a reshape of the input
    layer_entries(header)[1] = {"module": "keras.layers", "class_name": "Conv1D",
                                "config": {"name": "c", "filters": 4_000_000,
                                           "kernel_size": 1}}
    layer_entries(header).insert(1, {"module": "keras.layers", "class_name": "Reshape",
                                     "config": {"name": "r", "target_shape": [4, 1]}})


def input_shape(header):
    layer_entries(header)[0]["config"]["batch_input_shape"] = [None, 100_000, 100_000]


def string_dtype(header):
    layer_entries(header)[1]["config"]["bias_initializer"] = {
        "class_name": "Constant", "config": {"value": {
            "class_name": "__numpy__", "config": {"value": ["x"], "dtype": "S1000000000"}}}}


def layer_norm(header):   # no formula in the screen: caught by the build budget
    layer_entries(header)[:] = [
        {"module": "keras.layers", "class_name": "Flatten",
         "config": {"name": "f", "batch_input_shape": [None, 512, 1024]}},
        {"module": "keras.layers", "class_name": "LayerNormalization",
         "config": {"name": "n"}}]


def upsampling(header):   # no weights at all: building runs a sample 4e8 values wide
    layer_entries(header)[1:] = [
        {"module": "keras.layers", "class_name": "Reshape",
         "config": {"name": "r", "target_shape": [4, 1]}},
        {"module": "keras.layers", "class_name": "UpSampling1D",
         "config": {"name": "u", "size": 100_000_000}}]


def idx_declaring_more_than_stored(path):
    path.write_bytes(bytes([0, 0, 8, 2]) + (1 << 20).to_bytes(4, "big") * 2 + b"x" * 100)


def idx_with_a_long_stream(path):
    """A 400 KB gzip file: a 2-byte IDX header and body, then 400 MB of zeros."""
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(bytes([0, 0, 8, 1]) + (2).to_bytes(4, "big") + b"\x01\x02")
        chunk = bytes(1 << 20)
        for _ in range(400):
            f.write(chunk)


def idx_declaring_4gb_gzipped(path):
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 0x0E, 2]) + (1 << 16).to_bytes(4, "big") * 2 + bytes(1000))


HOSTILE = {
    "zero_member.minidl": ("load_model", zero_member_file, "zip bomb"),
    "zero_member_w.minidl": ("load_weights", zero_member_file, "zip bomb"),
    "npy_header.minidl": ("load_model", huge_npy_header_file, "declares shape"),
    "units.minidl": ("load_model", lambda p: config_file(p, units), "refusing to allocate"),
    "filters.minidl": ("load_model", lambda p: config_file(p, filters),
                       "refusing to allocate"),
    "input.minidl": ("load_model", lambda p: config_file(p, input_shape),
                     "values per sample"),
    "dtype.minidl": ("load_model", lambda p: config_file(p, string_dtype),
                     "dtype 'S1000000000'"),
    "layer_norm.minidl": ("load_model", lambda p: config_file(p, layer_norm),
                          "refusing to allocate"),
    "upsampling.minidl": ("load_model", lambda p: config_file(p, upsampling),
                          "values per sample"),
    "more_than_stored.idx": ("load_idx", idx_declaring_more_than_stored, "truncated"),
    "long_stream.idx.gz": ("load_idx", idx_with_a_long_stream, "too long"),
    "declares_4gb.idx.gz": ("load_idx", idx_declaring_4gb_gzipped, "can hold"),
}

MEMORY_SCRIPT = r"""
import json, resource, sys, tracemalloc
import minidl as mdl

def vm_bytes():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize"))

model = mdl.models.Sequential([mdl.layers.Dense(4, input_shape=(3,)), mdl.layers.Dense(2)])
loaders = {"load_model": mdl.models.load_model, "load_weights": model.load_weights,
           "load_idx": mdl.datasets.load_idx}
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
resource.setrlimit(resource.RLIMIT_AS, (vm_bytes() + (1 << 30), hard))  # safety net
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
tracemalloc.start()
out = {}
for loader, path in json.loads(sys.argv[1]):
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    try:
        loaders[loader](path)
        result = "loaded"
    except Exception as err:
        result = f"{type(err).__name__}: {err}"
    out[path] = [result, tracemalloc.get_traced_memory()[1] - before]
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
print(json.dumps({"cases": out, "rss_growth": grown}))
"""


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    for name, (_, make, _) in HOSTILE.items():
        make(folder / name)
        assert (folder / name).stat().st_size < 1 << 20, name
    return folder


def test_hostile_files_are_refused_within_a_small_memory_ceiling(hostile_files):
    cases = [(loader, str(hostile_files / name))
             for name, (loader, _, _) in HOSTILE.items()]
    run = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, json.dumps(cases)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    for name, (_, _, match) in HOSTILE.items():
        result, peak = report["cases"][str(hostile_files / name)]
        assert result.startswith("FormatError") and match in result, (name, result)
        assert name in result, result                 # names the file
        assert peak < 8 << 20, (name, peak)           # traced bytes
    assert report["rss_growth"] < 64 << 20, report["rss_growth"]


def test_a_keras_archive_describing_unstored_weights_is_refused_before_building(
        tmp_path):
    path = tmp_path / "m.keras"
    small_model().save(path)
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][0]["config"]["batch_shape"] = [None, 1 << 19]
    config["config"]["layers"][1:] = [   # no formula in the screen: the build budget
        {"module": "keras.layers", "class_name": "LayerNormalization",
         "config": {"name": "n"}}]
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match="refusing to allocate"):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


@pytest.mark.parametrize("name", ["units.minidl", "input.minidl", "npy_header.minidl"])
def test_raising_the_limits_lets_nothing_hostile_through(hostile_files, name):
    with load_limits(max_input_elements=1 << 30, max_expansion=1 << 10):
        with pytest.raises(FormatError):
            load_model(hostile_files / name)


def test_a_model_larger_than_a_limit_loads_once_the_limit_is_raised(tmp_path):
    model = Sequential([layers.Flatten(input_shape=(64, 64))])
    path = tmp_path / "wide.minidl"
    model.save(path)
    with pytest.raises(FormatError, match="max_input_elements=1024"):
        with load_limits(max_input_elements=1 << 10):
            load_model(path)
    with load_limits(max_input_elements=1 << 12):
        assert load_model(path)(np.ones((1, 64, 64), "float32")).shape == (1, 4096)


def test_limits_come_from_minidl_json(tmp_path):
    path = saved(tmp_path)
    mdl.limits.set_process_limits({"max_depth": 3})  # what minidl.json's load_limits does
    try:
        with pytest.raises(FormatError, match="deeper than 3"):
            load_model(path)
        with load_limits(max_depth=200):
            load_model(path)
    finally:
        mdl.limits.set_process_limits({})
    with pytest.raises(ValueError, match="unknown load limit 'max_rows'"):
        with load_limits(max_rows=3):
            pass
    with pytest.raises(ValueError, match="unknown load limit 'max_rows'"):
        mdl.limits.set_process_limits({"max_rows": 3})


# -- one error type --------------------------------------------------------------------
def _damaged_minidl(tmp_path, damage):
    header, arrays = parts(saved(tmp_path))
    if damage == "header_not_object":
        header = [1, 2]
    elif damage == "weights_not_list":
        header["weights"] = {"a": 1}
    elif damage == "weight_meta_not_dict":
        header["weights"][0] = "kernel"
    elif damage == "model_not_dict":
        header["model"] = "Sequential"
    elif damage == "layers_not_list":
        header["model"]["config"]["layers"] = 7
    elif damage == "layer_config_not_dict":
        layer_entries(header)[1]["config"] = [1]
    elif damage == "compile_not_dict":
        header["compile"] = 3
    elif damage == "optimizer_garbage":
        header["compile"]["optimizer"] = {"class_name": "Adam", "config": {"beta_1": []}}
    elif damage == "rng_state":
        arrays["rng_state"] = np.zeros(3, np.uint64)
    elif damage == "deep_config":
        layer_entries(header)[1]["config"]["units"] = json.loads("[" * 150 + "]" * 150)
    elif damage == "big_endian":
        arrays["weight_0"] = arrays["weight_0"].astype(">f4")
    elif damage == "strings":
        arrays["weight_0"] = np.array(["abc"])
    elif damage == "structured":
        arrays["weight_0"] = np.zeros(3, dtype=[("a", "f4")])
    elif damage == "missing_array":
        del arrays["weight_1"]
    path = tmp_path / f"{damage}.minidl"
    write(path, header, arrays)
    if damage == "deep_json":   # nested past the JSON parser's recursion limit
        text = json.dumps(header)[:-1] + ', "x": ' + "[" * 5000 + "]" * 5000 + "}"
        with zipfile.ZipFile(path) as archive:
            members = {n: archive.read(n) for n in archive.namelist()}
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.array(text))
        members["__minidl__.npy"] = buffer.getvalue()
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)
    return path


@pytest.mark.parametrize("damage", [
    "header_not_object", "weights_not_list", "weight_meta_not_dict", "model_not_dict",
    "layers_not_list", "layer_config_not_dict", "compile_not_dict", "optimizer_garbage",
    "rng_state", "deep_json", "deep_config", "big_endian", "strings", "structured",
    "missing_array"])
def test_malformed_minidl_files_raise_format_error_naming_the_file(tmp_path, damage):
    path = _damaged_minidl(tmp_path, damage)
    with pytest.raises(FormatError, match=f"{damage}.minidl"):
        load_model(path)


def test_an_unparsable_npy_header_is_a_format_error(tmp_path):
    # NumPy's header parser raises tokenize.TokenError on an unclosed bracket
    path = saved(tmp_path)
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (3,"
    header += b" " * (117 - len(header)) + b"\n"
    members["weight_0.npy"] = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + \
        header + b"\x00" * 12
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(FormatError, match="weight_0.*no valid .npy header"):
        load_model(path)


@pytest.mark.parametrize("cut", [10, 100, 1000, -200, -22])
def test_truncated_minidl_files_raise_format_error(tmp_path, cut):
    path = saved(tmp_path)
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(FormatError, match="m.minidl"):
        load_model(path)
    model = small_model()
    model.build((None, 3))
    with pytest.raises(FormatError, match="m.minidl"):
        model.load_weights(path)


def test_a_corrupt_deflate_stream_is_a_format_error(tmp_path):
    header, arrays = parts(saved(tmp_path))
    path = tmp_path / "c.minidl"
    write(path, header, {k: np.ones(v.shape, v.dtype) for k, v in arrays.items()},
          compression=zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    start = data.index(b"weight_0.npy") + len("weight_0.npy") + 20
    data[start: start + 16] = os.urandom(16)
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="c.minidl"):
        load_model(path)


@pytest.mark.parametrize("content", [
    b"\x1f\x8b" + os.urandom(40),               # not a gzip stream: zlib/gzip errors
    gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 4]) + b"ab")[:-6],
])
def test_corrupt_gzip_idx_files_raise_format_error(tmp_path, content):
    path = tmp_path / "bad.idx.gz"
    path.write_bytes(content)
    with pytest.raises(FormatError, match="bad.idx.gz"):
        load_idx(path)


@pytest.mark.parametrize("text, match", [
    ("[" * 100_000 + "]" * 100_000, "nested too deep"),
    ('{"floatx": "float8"}', "float8"),
    ('{"load_limits": {"max_depth": -1}}', "max_depth"),
    ("\xff\xfe", "not valid JSON"),
])
def test_a_bad_minidl_json_is_a_format_error_even_at_import(tmp_path, text, match):
    (tmp_path / "minidl.json").write_bytes(text.encode("utf-8", "surrogateescape")
                                           if text != "\xff\xfe" else b"\xff\xfe")
    run = subprocess.run(
        [sys.executable, "-c", "import minidl"], capture_output=True, text=True,
        env={**os.environ, "MINIDL_HOME": str(tmp_path)}, timeout=120)
    assert "minidl.limits.FormatError: cannot load" in run.stderr, run.stderr[-2000:]
    assert "minidl.json" in run.stderr and match in run.stderr
    assert "RecursionError" not in run.stderr


@pytest.mark.parametrize("kind", ["bytes", "pathlike"])
def test_paths_may_be_bytes_or_pathlike(tmp_path, kind):
    convert = os.fsencode if kind == "bytes" else pathlib.Path
    model = small_model()
    model.build((None, 3))
    for name in ("m.minidl", "m.keras", "w.weights.h5"):
        if name.startswith("w"):
            model.save_weights(convert(str(tmp_path / name)))
            model.load_weights(convert(str(tmp_path / name)))
        else:
            model.save(convert(str(tmp_path / name)))
            load_model(convert(str(tmp_path / name)))
    mdl.datasets.save_idx(tmp_path / "x.idx", np.arange(3, dtype=np.uint8))
    np.testing.assert_array_equal(load_idx(convert(str(tmp_path / "x.idx"))), [0, 1, 2])
    (tmp_path / "bad.minidl").write_bytes(b"junk")
    with pytest.raises(FormatError, match=r"cannot load '.*bad.minidl'"):
        load_model(convert(str(tmp_path / "bad.minidl")))


# -- saving ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["m.minidl", "m.keras", "w.weights.h5"])
def test_overwriting_keeps_the_permission_bits(tmp_path, name):
    model = small_model()
    model.build((None, 3))
    path = tmp_path / name
    save = model.save_weights if name.startswith("w") else model.save
    save(path)
    os.chmod(path, 0o600)
    save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    os.chmod(path, 0o640)
    save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_the_temporary_file_is_never_more_readable_than_the_file_it_replaces(
        tmp_path, monkeypatch):
    path = saved(tmp_path)
    os.chmod(path, 0o600)
    seen = []
    real_fsync = os.fsync

    def watching_fsync(fd):
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        real_fsync(fd)
    monkeypatch.setattr(os, "fsync", watching_fsync)
    small_model().save(path)
    assert seen == [0o600]


def test_stale_temporary_files_are_removed_by_the_next_save(tmp_path):
    old = time.time() - files.STALE_SECONDS - 60
    stale = tmp_path / ".minidl-0123456789abcdef.tmp"
    fresh = tmp_path / ".minidl-fedcba9876543210.tmp"    # maybe a save in progress
    others = [tmp_path / ".minidl-notours.tmp", tmp_path / "notes.tmp",
              tmp_path / ".minidl-0123456789abcdef.tmp.keep"]
    for p in [stale, fresh] + others:
        p.write_bytes(b"partial")
        if p is not fresh:
            os.utime(p, (old, old))
    small_model().save(tmp_path / "m.minidl")
    assert not stale.exists()
    assert fresh.exists() and all(p.exists() for p in others)


@pytest.mark.parametrize("where", ["open", "fchmod", "write", "fsync", "replace"])
def test_an_interrupt_anywhere_leaves_the_previous_file_and_no_temporary(
        tmp_path, monkeypatch, where):
    path = saved(tmp_path)
    os.chmod(path, 0o600)
    before = path.read_bytes()

    def interrupt(real):
        def wrapped(*args, **kwargs):
            result = real(*args, **kwargs)   # the step happened, then the signal came
            if where == "open":
                os.close(result)
            raise KeyboardInterrupt(where)
        return wrapped
    def never(*args, **kwargs):   # os.replace is atomic: it happened or it did not
        if where == "write":
            args[0].write(b"PK partial")
        raise KeyboardInterrupt(where)
    if where in ("replace", "write"):
        monkeypatch.setattr(*((os, "replace") if where == "replace" else (np, "savez")),
                            never)
    else:
        monkeypatch.setattr(os, where, interrupt(getattr(os, where)))
    with pytest.raises(KeyboardInterrupt):
        small_model().save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.minidl"]
