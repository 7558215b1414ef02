"""The training step's compiled kernels and split products against their NumPy
references: batch normalization (``minidl.kernels.normalization`` against the NumPy path
of ``BatchNormTraining``, forward and backward, over a grid of shapes, float32 and
float64, 1 and 2 threads; gradient checks on both paths), the row-block matrix products
of ``minidl.ops.products`` against ``@``, and ``python -m minidl.kernels --compile``."""
import importlib.util
import subprocess
import sys

import numpy as np
import pytest

import minidl as mdl
from minidl.autograd import Tensor
from minidl.gradcheck import check_grad
from minidl.ops import products
from minidl.ops.normalization import batch_normalization_training

HAS_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason="Numba is not installed")
BN_SHAPES = [(2, 3), (5, 1, 1, 4), (3, 4, 5, 7), (64, 9), (4, 6, 6, 33), (2, 3, 4, 5, 6)]


@pytest.fixture(autouse=True)
def _restore_settings():
    saved = mdl.config.get("cpu_kernels"), mdl.config.num_threads()
    yield
    mdl.config.set_cpu_kernels(saved[0])
    mdl.config.set_num_threads(saved[1])


def _bn_step(path, x, gamma, beta, g):
    """``(y, mean, variance, dx, dgamma, dbeta)`` of one training-mode batch norm."""
    mdl.config.set_cpu_kernels(path)
    xt, gt, bt = (mdl.tensor(a.copy(), requires_grad=True) for a in (x, gamma, beta))
    y, mean, var = batch_normalization_training(xt, gt, bt, epsilon=1e-3)
    y.backward(Tensor._wrap(g))
    return [a.numpy() for a in (y, mean, var)] + [np.asarray(t.grad) for t in (xt, gt, bt)]


@needs_numba
@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_compiled_batch_norm_matches_numpy_path(shape, dtype, threads):
    rng = np.random.default_rng(len(shape) * 7 + shape[-1])
    x = (rng.standard_normal(shape) * 3 + 5).astype(dtype)  # |mean| > std: centered sums
    gamma = rng.standard_normal(shape[-1]).astype(dtype)
    beta = rng.standard_normal(shape[-1]).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    mdl.config.set_num_threads(threads)
    compiled = _bn_step("numba", x, gamma, beta, g)
    reference = _bn_step("numpy", x, gamma, beta, g)
    tol = 2e-4 if dtype == "float32" else 1e-10
    for ours, ref in zip(compiled, reference):
        assert ours.dtype == np.dtype(dtype) and ours.shape == ref.shape
        scale = max(1.0, float(np.abs(ref).max()))
        assert np.abs(ours.astype(np.float64) - ref).max() <= tol * scale


@needs_numba
def test_compiled_batch_norm_does_not_depend_on_threads():
    rng = np.random.default_rng(3)
    x, g = rng.standard_normal((8, 5, 5, 16)), rng.standard_normal((8, 5, 5, 16))
    gamma, beta = np.ones(16), np.zeros(16)
    mdl.config.set_num_threads(1)
    one = _bn_step("numba", x, gamma, beta, g)
    mdl.config.set_num_threads(2)
    two = _bn_step("numba", x, gamma, beta, g)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("path", ["numpy"] + (["numba"] if HAS_NUMBA else []))
def test_batch_norm_gradients_on_each_path(path):
    mdl.config.set_cpu_kernels(path)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 2, 2, 3))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    check_grad(lambda a, s, o: batch_normalization_training(a, s, o)[0] ** 2,
               [x, gamma, beta])


@pytest.mark.parametrize("rows", [10, products.MIN_ROWS * 3 + 5])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_row_block_products_match_matmul(rows, dtype, threads):
    mdl.config.set_num_threads(threads)
    rng = np.random.default_rng(rows)
    a = rng.standard_normal((rows, 6)).astype(dtype)
    w = rng.standard_normal((6, 5)).astype(dtype)
    g = rng.standard_normal((rows, 5)).astype(dtype)
    tol = 1e-4 if dtype == "float32" else 1e-12
    ab, atg = products.rows_times(np, a, w), products.rows_t_times(np, a, g)
    assert ab.dtype == atg.dtype == np.dtype(dtype)
    np.testing.assert_allclose(ab, a.astype(np.float64) @ w, rtol=tol, atol=tol)
    np.testing.assert_allclose(atg, a.T.astype(np.float64) @ g, rtol=tol, atol=tol * rows)
    np.testing.assert_allclose(products.rows_times(np, a[:, :3], w[:3]),
                               a[:, :3] @ w[:3], rtol=tol, atol=tol)


def test_one_blas_thread_restores_the_count():
    from minidl.kernels import blas
    controls = blas._blas_controls()
    if not controls:
        pytest.skip("the BLAS thread controls were not found")
    get, _ = controls
    before = get()
    with blas.one_blas_thread():
        assert get() == 1
        with blas.one_blas_thread():
            assert get() == 1
    assert get() == before


@needs_numba
def test_compile_ahead_of_time_command():
    result = subprocess.run([sys.executable, "-m", "minidl.kernels", "--compile",
                             "--dtype", "float64", "--only", "normalization",
                             "--only", "elementwise"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "normalization" in result.stdout


def test_threads_now_takes_one_thread_for_small_work_or_busy_cpus(monkeypatch):
    from minidl.kernels import threads
    monkeypatch.setattr(threads, "free_cpus", lambda: 2)
    assert threads.threads_now(2) == 2
    assert threads.threads_now(2, threads.MIN_WORK_PER_THREAD) == 1
    assert threads.threads_now(1, 10 ** 9) == 1
    monkeypatch.setattr(threads, "free_cpus", lambda: 1)
    assert threads.threads_now(2, 10 ** 9) == 1


def test_free_cpus_leave_out_this_process_and_count_others(monkeypatch):
    from minidl.kernels import threads
    monkeypatch.setattr(threads, "_usable", 2)
    monkeypatch.setattr(threads, "_state", {"time": None, "busy": None, "own": None,
                                            "free": 2})
    clock = iter([0.0, 1.0, 2.0])
    monkeypatch.setattr(threads.time, "monotonic", lambda: next(clock))
    ticks = 1 / threads._TICK  # ticks per second
    samples = iter([(0, 0), (2 * ticks, 2 * ticks), (3 * ticks, 2 * ticks)])
    monkeypatch.setattr(threads, "_read_times", lambda: next(samples))
    assert threads.free_cpus() == 2  # first look: no window yet
    assert threads.free_cpus() == 2  # both CPUs busy, all of it this process's own
    assert threads.free_cpus() == 1  # one CPU kept busy by another process


def test_usable_cpus_follow_affinity_and_quota(monkeypatch):
    monkeypatch.setattr(mdl.config.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3},
                        raising=False)
    monkeypatch.setattr(mdl.config, "_cgroup_quota", lambda: None)
    assert mdl.config.usable_cpus() == 4
    monkeypatch.setattr(mdl.config, "_cgroup_quota", lambda: 1.5)
    assert mdl.config.usable_cpus() == 2
    monkeypatch.setattr(mdl.config, "_cgroup_quota", lambda: 0.2)
    assert mdl.config.usable_cpus() == 1


def test_malloc_tuning_can_be_turned_off():
    code = ("from minidl.kernels import memory; import minidl; "
            "print(memory._done)")
    env = dict(__import__("os").environ, MINIDL_MALLOC_TUNING="0")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.stdout.strip() == "[False]", result.stderr


@needs_numba
@pytest.mark.parametrize("bounds", [(0.0, 6.0), (None, 1.0), (-1.0, None)])
@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_compiled_clip_gradient_matches_numpy_path(bounds, strict, dtype, threads):
    from minidl.ops.math import _MIN_COMPILED, Clip
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((2, _MIN_COMPILED)) * 4).astype(dtype)
    x[0, :4] = [0.0, 6.0, 1.0, -1.0]  # on the bounds
    x[0, 4] = np.nan
    g = rng.standard_normal(x.shape).astype(dtype)
    g[1, 0] = np.nan
    mdl.config.set_num_threads(threads)
    grads = []
    for path in ("numba", "numpy"):
        mdl.config.set_cpu_kernels(path)
        xt = mdl.tensor(x, requires_grad=True)
        Clip(*bounds, strict=strict)(xt).backward(Tensor._wrap(g))
        grads.append(np.asarray(xt.grad))
    assert grads[0].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(grads[0], grads[1])
