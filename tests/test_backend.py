"""Backends, config, seeding, and the guard that keeps op modules on ``xp``."""
import ast
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import minidl as mdl

ROOT = pathlib.Path(mdl.__file__).parent


def test_default_backend_is_numpy_and_compares_to_its_name():
    b = mdl.get_backend()
    assert b.name == "numpy" and b == "numpy" and b.xp is np


def test_use_backend_restores_the_previous_default():
    previous = mdl.get_backend()
    with mdl.use_backend("numpy") as b:
        assert mdl.get_backend() is b
    assert mdl.get_backend() is previous


def test_unknown_backend_name_is_a_value_error():
    with pytest.raises(ValueError, match="backend='torch'"):
        mdl.set_backend("torch")
    with pytest.raises(ValueError, match="backend='jax'"):
        mdl.tensor([1.0], backend="jax")


def test_tensor_to_and_backend_attribute(backend):
    t = mdl.tensor(np.arange(3.0), requires_grad=True, backend=backend)
    assert t.backend == backend
    back = t.to("numpy")
    assert isinstance(back.data, np.ndarray) and back.requires_grad
    np.testing.assert_array_equal(back.numpy(), [0.0, 1.0, 2.0])


@pytest.mark.skipif("cupy" in mdl.backend.available_backends(), reason="CuPy and a GPU are "
                    "present, so the missing-GPU message cannot be produced here")
def test_cupy_without_gpu_or_cupy_names_the_fix():
    with pytest.raises(RuntimeError) as info:
        mdl.tensor([1.0], backend="cupy")
    message = str(info.value)
    assert "backend='cupy'" in message
    assert "pip install" in message or "no CUDA GPU" in message


@pytest.mark.gpu
@pytest.mark.skipif("cupy" not in mdl.backend.available_backends(), reason="needs CuPy "
                    "and a CUDA GPU")
def test_mixing_backends_in_one_op_is_a_clear_error():
    a = mdl.tensor(np.ones(2), backend="numpy")
    b = mdl.tensor(np.ones(2), backend="cupy")
    with pytest.raises(ValueError, match="cannot mix"):
        a + b
    with pytest.raises(ValueError, match="cannot mix"):
        b + np.ones(2)


def _run(code, **env):
    full = dict(os.environ, **env)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=full, check=False)
    return out


def test_minidl_backend_env_var_is_read(tmp_path):
    out = _run("import minidl as m; print(m.get_backend().name)", MINIDL_BACKEND="numpy",
               MINIDL_HOME=str(tmp_path))
    assert out.stdout.strip() == "numpy", out.stderr
    out = _run("import minidl as m; m.tensor([1.0])", MINIDL_BACKEND="nope",
               MINIDL_HOME=str(tmp_path))
    assert "backend='nope'" in out.stderr


def test_config_file_sets_floatx_and_data_format(tmp_path):
    (tmp_path / "minidl.json").write_text(json.dumps(
        {"floatx": "float64", "image_data_format": "channels_first", "epsilon": 1e-5}))
    code = ("import minidl as m; print(m.config.floatx(), m.config.image_data_format(), "
            "m.config.epsilon(), m.tensor([1.0]).dtype)")
    out = _run(code, MINIDL_HOME=str(tmp_path))
    expected = ["float64", "channels_first", "1e-05", "float64"]
    assert out.stdout.split() == expected, out.stderr


def test_bad_config_file_is_a_clear_error(tmp_path):
    (tmp_path / "minidl.json").write_text("{not json")
    out = _run("import minidl", MINIDL_HOME=str(tmp_path))
    assert "minidl.json is not valid JSON" in out.stderr


@pytest.mark.parametrize("setter,value", [("set_floatx", "float8"),
                                          ("set_image_data_format", "nhwc"),
                                          ("set_epsilon", -1.0)])
def test_config_setters_reject_bad_values(setter, value):
    with pytest.raises(ValueError, match=repr(value)):
        getattr(mdl.config, setter)(value)


def test_seed_makes_draws_reproducible(backend):
    mdl.random.seed(7)
    a = mdl.random.generator(backend).random(5)
    mdl.random.seed(7)
    b = mdl.random.generator(backend).random(5)
    assert (a == b).all()


def test_rng_state_round_trips_through_json():
    mdl.random.seed(3)
    state = json.loads(json.dumps(mdl.random.get_state()))
    first = mdl.random.host_generator().random(3)
    mdl.random.set_state(state)
    np.testing.assert_array_equal(mdl.random.host_generator().random(3), first)


def test_seed_rejects_non_integers():
    with pytest.raises(ValueError, match="seed=1.5"):
        mdl.random.seed(1.5)


# Modules that implement array maths must reach it through the backend's ``xp`` so the
# CuPy path runs the same lines. They may still use NumPy for metadata (dtypes, shapes);
# host-side modules (initializers draw on the host, the gradient checker works on float64
# host copies, saving and the training loop handle host data) are exempt, and so is a
# line marked ``# host`` (a deliberate host-side value, such as a scalar counter) or a
# whole function whose ``def`` line is marked so (host-side constants, file formats).
HOST_SIDE = {"backend.py", "random.py", "gradcheck.py", "initializers.py", "testing.py",
             "identifiers.py", "training.py", "saving.py", "datasets.py", "data.py"}
METADATA = {"dtype", "shape", "ndim", "ndarray", "generic", "integer", "floating", "number",
            "bool_", "float16", "float32", "float64", "int32", "int64", "finfo", "iinfo",
            "issubdtype", "result_type", "prod", "isscalar"}


def _array_modules():
    for path in sorted(ROOT.rglob("*.py")):
        compiled = "numba" in path.name or path.parent.name == "kernels"  # CPU-only code
        if path.name not in HOST_SIDE and not compiled:
            yield path


def _numpy_uses(tree):
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names if a.name == "numpy"}
            for a in node.names:
                if a.name.startswith("numpy."):
                    yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("numpy"):
            for a in node.names:
                if node.module != "numpy" or a.name not in METADATA:
                    yield node.lineno, f"{node.module}.{a.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id in aliases and node.attr not in METADATA:
            yield node.lineno, f"{node.value.id}.{node.attr}"


@pytest.mark.parametrize("path", list(_array_modules()),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_op_modules_never_use_numpy_directly_for_array_maths(path):
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    host = {n for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and
            lines[node.lineno - 1].rstrip().endswith("# host")
            for n in range(node.lineno, node.end_lineno + 1)}
    host |= {n for n, line in enumerate(lines, 1) if line.rstrip().endswith("# host")}
    uses = [(n, use) for n, use in _numpy_uses(tree) if n not in host]
    assert not uses, (f"{path.relative_to(ROOT)} calls NumPy for array maths at "
                      f"{uses}; use the backend's xp (tensor.xp / Function.xp) instead")
