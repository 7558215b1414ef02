"""The compiled (Numba) CPU kernels of the depthwise convolution against the NumPy path
(the reference) over the whole pairwise depthwise grid, in float32 and float64, at 1 and
2 threads; gradient checks on both paths; the kernel selection and thread settings."""
import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import minidl as mdl
from minidl.gradcheck import check_grad
from minidl.ops.depthwise import Geometry, reference

F = mdl.functional
HAS_NUMBA = importlib.util.find_spec("numba") is not None
if HAS_NUMBA:
    from minidl.ops.depthwise import numba_kernels
needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason="Numba is not installed")


def _grid_module():
    """The pairwise grid, inputs and references of ``test_depthwise_ops``."""
    path = pathlib.Path(__file__).with_name("test_depthwise_ops.py")
    spec = importlib.util.spec_from_file_location("depthwise_grid", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GRID = _grid_module()
CASES, case_id, pair = GRID.CASES, GRID.case_id, GRID._pair


@pytest.fixture(autouse=True)
def _restore_settings():
    saved = mdl.config.get("cpu_kernels"), mdl.config.num_threads()
    yield
    mdl.config._settings["cpu_kernels"] = saved[0]
    mdl.config.set_num_threads(saved[1])


def _on_path(path, fn, *args):
    mdl.config.set_cpu_kernels(path)
    try:
        return fn(*args)
    finally:
        mdl.config.set_cpu_kernels("auto")


def _tolerance(dtype):
    if dtype == "float32":
        return dict(rtol=2e-5, atol=2e-5)
    return dict(rtol=1e-12, atol=1e-12)


# -- the compiled kernels against the NumPy path -------------------------------------------

def _compiled_results(x, kernel, bias, g, geo, threads=1, **options):
    """Forward, both gradients, each gradient alone and the bias gradient, compiled."""
    backward = numba_kernels.backward
    y = numba_kernels.forward(x, kernel, bias, geo, threads=threads)
    dx, dkernel = backward(x, kernel, g, geo, threads=threads, **options)
    dx_only = backward(None, kernel, g, geo, True, False, threads=threads, **options)[0]
    dkernel_only = backward(x, None, g, geo, False, True, threads=threads, **options)[1]
    dbias = numba_kernels.bias_grad(g, threads=threads)
    return y, dx, dkernel, dx_only, dkernel_only, dbias


def _reference_results(x, kernel, bias, g, geo):
    """The same on the reference kernels."""
    y = reference.forward(np, x, kernel, bias, geo)
    dx, dkernel = reference.backward(np, x, kernel, g, geo)
    dx_only = reference.backward(np, None, kernel, g, geo, True, False)[0]
    dkernel_only = reference.backward(np, x, None, g, geo, False, True)[1]
    return y, dx, dkernel, dx_only, dkernel_only, reference.bias_grad(np, g)


@needs_numba
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_compiled_kernels_match_numpy_path_over_grid(case, dtype, threads, rng):
    x, kernel, bias = (None if a is None else a.astype(dtype)
                       for a in GRID.make_inputs(case, rng))
    bias = rng.standard_normal(kernel.shape[2] * kernel.shape[3]).astype(dtype)
    geo = Geometry(x.shape, kernel.shape, pair(case["strides"]), pair(case["dilation"]),
                   case["padding"])
    g = rng.standard_normal(geo.output_shape).astype(dtype)
    compiled = _compiled_results(x, kernel, bias, g, geo, threads)
    expected = _reference_results(x, kernel, bias, g, geo)
    for name, a, b in zip(["y", "dx", "dkernel", "dx alone", "dkernel alone", "db"],
                          compiled, expected):
        assert a.dtype == dtype and a.shape == b.shape, name
        np.testing.assert_allclose(a, b, err_msg=name, **_tolerance(dtype))
    np.testing.assert_allclose(compiled[0], GRID.reference_depthwise(
        x, kernel, pair(case["strides"]), case["padding"], pair(case["dilation"]), bias),
        **_tolerance(dtype))


@needs_numba
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_per_pixel_backward_matches_numpy_path_over_grid(case, rng):
    """The grid's channel counts take the row backward at column stride 1; with the row
    threshold at 0 they take the per-pixel backward instead."""
    x, kernel, _ = GRID.make_inputs(case, rng)
    geo = Geometry(x.shape, kernel.shape, pair(case["strides"]), pair(case["dilation"]),
                   case["padding"])
    g = rng.standard_normal(geo.output_shape)
    compiled = _compiled_results(x, kernel, None, g, geo, row_channels=0)
    for a, b in zip(compiled, _reference_results(x, kernel, None, g, geo)):
        np.testing.assert_allclose(a, b, **_tolerance("float64"))


ROW_CASES = [  # (x shape, kernel shape, strides, dilation, padding) around row_channels
    ((2, 5, 7, 32), (3, 3, 32, 1), (1, 1), (1, 1), "same"),    # at the threshold: rows
    ((2, 5, 7, 33), (3, 3, 33, 1), (1, 1), (1, 1), "same"),    # above: per pixel
    ((1, 6, 9, 16), (3, 3, 16, 2), (1, 1), (1, 2), "valid"),   # M = 2: 32 channels, rows
    ((2, 7, 6, 5), (2, 3, 5, 1), (2, 1), (2, 1), "same"),      # row stride 2: rows
    ((2, 6, 8, 5), (3, 3, 5, 1), (1, 2), (1, 1), "same"),      # column stride 2: per pixel
    ((1, 3, 2, 4), (5, 5, 4, 1), (1, 1), (1, 1), "same"),      # kernel wider than the image
]


@needs_numba
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("args", ROW_CASES)
def test_row_and_pixel_backward_around_the_threshold(args, dtype, threads, rng):
    x_shape, k_shape, strides, dilation, padding = args
    x = rng.standard_normal(x_shape).astype(dtype)
    kernel = rng.standard_normal(k_shape).astype(dtype)
    geo = Geometry(x_shape, k_shape, strides, dilation, padding)
    g = rng.standard_normal(geo.output_shape).astype(dtype)
    compiled = _compiled_results(x, kernel, None, g, geo, threads)
    expected = _reference_results(x, kernel, None, g, geo)
    for name, a, b in zip(["y", "dx", "dkernel", "dx alone", "dkernel alone", "db"],
                          compiled, expected):
        assert a.dtype == dtype and a.shape == b.shape, name
        np.testing.assert_allclose(a, b, err_msg=name, **_tolerance(dtype))


def _op_results(case, x, kernel, bias, gy):
    """Forward and gradients through the public op, in the case's data format."""
    xt, kt, bt = (mdl.tensor(a, requires_grad=True) for a in (x, kernel, bias))
    y = GRID.run_depthwise(case, xt, kt, bt)
    y.backward(mdl.tensor(gy))
    return y.numpy(), xt.grad, kt.grad, bt.grad


@needs_numba
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES[::3], ids=case_id)
def test_public_op_gives_the_same_on_both_paths(case, dtype, rng):
    x, kernel, _ = GRID.make_inputs(case, rng)
    bias = rng.standard_normal(kernel.shape[2] * kernel.shape[3])
    x, kernel, bias = (a.astype(dtype) for a in (x, kernel, bias))
    with mdl.no_grad():
        shape = GRID.run_depthwise(case, x, kernel, bias).shape
    gy = rng.standard_normal(shape).astype(dtype)
    for a, b in zip(_on_path("numba", _op_results, case, x, kernel, bias, gy),
                    _on_path("numpy", _op_results, case, x, kernel, bias, gy)):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, **_tolerance(dtype))


@needs_numba
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_1d_and_separable_forms_on_both_paths(data_format, rng):
    x = rng.standard_normal((2, 9, 3)).astype("float32")
    dk, pk = rng.standard_normal((3, 3, 2)), rng.standard_normal((1, 6, 4))
    bias = rng.standard_normal(4).astype("float32")
    if data_format == "channels_first":
        x = np.ascontiguousarray(np.swapaxes(x, 1, 2))

    def run():
        xt, bt = mdl.tensor(x, requires_grad=True), mdl.tensor(bias, requires_grad=True)
        y1 = F.depthwise_conv1d(xt, dk.astype("float32"), strides=2, padding="same",
                                data_format=data_format)
        y2 = F.separable_conv1d(xt, dk.astype("float32"), pk.astype("float32"),
                                dilation_rate=2, padding="same", data_format=data_format,
                                bias=bt)
        (y1.sum() + (y2 * y2).sum()).backward()
        return y1.numpy(), y2.numpy(), xt.grad, bt.grad
    for a, b in zip(_on_path("numba", run), _on_path("numpy", run)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@needs_numba
@pytest.mark.parametrize("channels", [16, 40])  # row and per-pixel backward
def test_reductions_do_not_depend_on_the_thread_count(channels, rng):
    """dkernel and db sum fixed chunks in a fixed order: bit-identical at 1 and 2
    threads."""
    x = rng.standard_normal((3, 40, 9, channels)).astype("float32")
    kernel = rng.standard_normal((3, 3, channels, 1)).astype("float32")
    geo = Geometry(x.shape, kernel.shape, (1, 1), (1, 1), "same")
    g = rng.standard_normal(geo.output_shape).astype("float32")
    results = [_compiled_results(x, kernel, None, g, geo, threads) for threads in (1, 2)]
    for single, double in zip(*results):
        np.testing.assert_array_equal(single, double)


@needs_numba
def test_non_finite_values_stay_in_place_on_the_compiled_path(rng):
    x = rng.standard_normal((1, 5, 6, 2))
    x[0, 2, 5, 0] = np.inf
    kernel = rng.standard_normal((3, 3, 2, 1))
    y = _on_path("numba", lambda: F.depthwise_conv2d(x, kernel, padding="same").numpy())
    with np.errstate(invalid="ignore"):
        expected = GRID.reference_depthwise(x, kernel, (1, 1), "same", (1, 1))
    np.testing.assert_array_equal(np.isfinite(y), np.isfinite(expected))
    np.testing.assert_allclose(y[np.isfinite(y)], expected[np.isfinite(y)], atol=1e-12)


# -- gradients on both paths ---------------------------------------------------------------

PATHS = [pytest.param("numba", marks=needs_numba), "numpy"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", CASES[1::6], ids=case_id)
def test_gradients_on_each_path(path, case, rng):
    x, kernel, bias = GRID.make_inputs(case, rng)
    inputs = [x, kernel] + ([bias] if bias is not None else [])
    _on_path(path, check_grad, lambda *t: GRID.run_depthwise(
        case, t[0], t[1], t[2] if len(t) > 2 else None, True), inputs)


@pytest.mark.parametrize("path", PATHS)
def test_fused_and_differentiable_backwards_agree_on_each_path(path, rng):
    def grads(create_graph):
        x = mdl.tensor(rng.standard_normal((2, 7, 6, 3)), requires_grad=True)
        k = mdl.tensor(rng.standard_normal((3, 3, 3, 2)), requires_grad=True)
        b = mdl.tensor(rng.standard_normal(6), requires_grad=True)
        y = F.depthwise_conv2d(x, k, strides=2, padding="same", bias=b)
        return mdl.grad((y * y).sum(), [x, k, b], create_graph=create_graph)
    mdl.random.seed(0)
    state = rng.bit_generator.state
    fused = _on_path(path, grads, False)
    rng.bit_generator.state = state
    taped = _on_path(path, grads, True)
    assert taped[0].creator is not None
    for a, b in zip(fused, taped):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)


# -- selection and threads -----------------------------------------------------------------

def test_choice_is_validated_and_reported():
    with pytest.raises(ValueError, match="cpu_kernels='fast'"):
        mdl.config.set_cpu_kernels("fast")
    mdl.config.set_cpu_kernels("NumPy")
    assert mdl.config.cpu_kernels() == "numpy"
    mdl.config.set_cpu_kernels("auto")
    assert mdl.config.cpu_kernels() == ("numba" if HAS_NUMBA else "numpy")


def test_without_numba_auto_falls_back_and_numba_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # as if Numba were not installed
    assert mdl.config.cpu_kernels() == "numpy"
    y = F.depthwise_conv2d(np.ones((1, 3, 3, 1)), np.ones((3, 3, 1, 1)), padding="same")
    assert float(y.numpy()[0, 1, 1, 0]) == 9.0
    with pytest.raises(RuntimeError, match=r"pip install 'minidl\[fast\]'"):
        mdl.config.set_cpu_kernels("numba")


def test_num_threads_setting(monkeypatch):
    monkeypatch.setitem(mdl.config._settings, "num_threads", mdl.config.num_threads())
    assert mdl.config.num_threads() >= 1
    mdl.config.set_num_threads(1)
    assert mdl.config.num_threads() == 1
    for bad in (0, -2, 1.5, True, "2"):
        with pytest.raises(ValueError, match=f"num_threads={bad!r}"):
            mdl.config.set_num_threads(bad)


def _python(code, tmp_path, **env):
    full = {k: v for k, v in os.environ.items() if k != "MINIDL_CPU_KERNELS"}
    full.update(MINIDL_HOME=str(tmp_path), **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full, check=False)


def test_env_var_and_config_file_choose(tmp_path):
    code = "import minidl as m; print(m.config.cpu_kernels(), m.config.num_threads())"
    out = _python(code, tmp_path, MINIDL_CPU_KERNELS="numpy")
    assert out.stdout.split() == ["numpy", str(os.cpu_count())], out.stderr
    out = _python(code, tmp_path, MINIDL_CPU_KERNELS="gpu")
    assert "cpu_kernels='gpu'" in out.stderr
    (tmp_path / "minidl.json").write_text(json.dumps({"cpu_kernels": "numpy",
                                                      "num_threads": 1}))
    out = _python(code, tmp_path)
    assert out.stdout.split() == ["numpy", "1"], out.stderr


def test_minidl_imports_and_runs_without_numba(tmp_path):
    code = ("import sys; sys.modules['numba'] = None\n"
            "import numpy as np, minidl as m\n"
            "y = m.functional.depthwise_conv2d(np.ones((1, 3, 3, 1)),\n"
            "                                  np.ones((3, 3, 1, 1)))\n"
            "print(m.config.cpu_kernels(), float(y.numpy().sum()), "
            "'numba' in sys.modules and sys.modules['numba'] is not None)")
    out = _python(code, tmp_path)
    assert out.stdout.split() == ["numpy", "9.0", "False"], out.stderr
