"""``minidl.distribution`` on one process: the world of one, the communicator's
collectives, the shares of a batch, the data-parallel step's packing and checks (run on a
world of one), and, through ``mpiexec``, that a failing process stops every process.

The multi-process checks (equality with one process, synchronized BatchNormalization,
shares of an epoch, checkpoints) are in ``tests/mpi``, run by ``.ci/run`` under
``mpiexec -n 2`` and ``-n 3``.
"""
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import minidl as mdl
from minidl.distribution import Communicator, DataParallel
from minidl.distribution import world as world_module

_dp = sys.modules["minidl.distribution.data_parallel"]


@pytest.fixture(autouse=True)
def _no_distribution():
    yield
    mdl.distribution.set_distribution(None)


def _world(size, rank):
    """A communicator that reports ``size`` processes (only its arithmetic is used)."""
    world = Communicator()
    world.size, world.rank = size, rank
    return world


def test_a_process_outside_mpiexec_is_a_world_of_one():
    world = mdl.distribution.initialize()
    assert world is mdl.distribution.initialize()
    assert (world.size, world.rank, world.comm) == (1, 0, None)
    assert mdl.distribution.num_processes() == 1 and mdl.distribution.process_id() == 0


@pytest.mark.parametrize("op, expected", [("sum", [1.0, -2.0]), ("mean", [1.0, -2.0]),
                                          ("max", [1.0, -2.0]), ("min", [1.0, -2.0])])
def test_the_collectives_of_a_world_of_one(op, expected):
    world = Communicator()
    a = np.array([1.0, -2.0])
    out = world.allreduce(a, op=op)
    assert out is not a
    np.testing.assert_array_equal(out, expected)
    assert world.allreduce(a, op=op, out=a) is a
    assert world.broadcast(a) is a
    np.testing.assert_array_equal(world.allgather(np.ones((2, 3))), np.ones((2, 3)))
    assert world.allgather_object({"a": 1}) == [{"a": 1}]
    assert world.broadcast_object("x") == "x"


def test_bad_collective_arguments_are_clear_errors():
    world = Communicator()
    with pytest.raises(ValueError, match="op='prod' must be one of"):
        world.allreduce(np.ones(2), op="prod")
    for op in (None, "Sum", ["sum"]):
        with pytest.raises(ValueError, match=re.escape(f"op={op!r} must be one of")):
            world.allreduce(np.ones(2), op=op)
    for dtype in ("int64", "int32", "uint8", "bool"):
        with pytest.raises(TypeError, match=f"allreduce\\(op='mean'\\) of a {dtype} array"):
            world.allreduce(np.ones(2, dtype=dtype), op="mean")
    counts = np.array([3, -1], dtype="int64")  # the other ops keep integers exact
    for op in ("sum", "max", "min"):
        out = world.allreduce(counts, op=op)
        assert out.dtype == counts.dtype and out.tolist() == [3, -1]
    assert world.allreduce(np.ones(2, np.float32), op="mean").dtype == np.float32
    with pytest.raises(TypeError, match="must be a NumPy or CuPy array"):
        world.allgather([1, 2])
    with pytest.raises(TypeError, match="set_distribution takes"):
        mdl.distribution.set_distribution("data_parallel")
    with pytest.raises(TypeError, match="communicator must be"):
        DataParallel(communicator=object())


def test_under_a_launcher_without_mpi4py_initialize_names_the_fix(monkeypatch):
    monkeypatch.setenv("PMI_RANK", "0")
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setattr(world_module, "_world", None)
    with pytest.raises(RuntimeError, match=r'pip install "minidl\[mpi\]"'):
        mdl.distribution.initialize()


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_the_shares_of_a_batch_are_contiguous_disjoint_and_even(size):
    for n in range(14):
        shares = [DataParallel(_world(size, rank)).bounds(n) for rank in range(size)]
        assert shares[0][0] == 0 and shares[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(shares, shares[1:]))
        lengths = [stop - start for start, stop in shares]
        assert max(lengths) - min(lengths) <= 1 and lengths == sorted(lengths, reverse=True)


def test_the_global_batch_must_be_a_multiple_of_the_processes():
    parallel = DataParallel(_world(3, 1))
    assert parallel.local_batch_size(12) == 4
    with pytest.raises(ValueError, match="batch_size=10 is the global batch, split over 3 "
                                         "processes, so it must be a multiple of 3; use "
                                         "e.g. 9"):
        parallel.local_batch_size(10)
    assert parallel.verbose(1) == 0 and DataParallel(_world(3, 0)).verbose(1) == 1


def test_a_world_of_one_keeps_the_single_process_path():
    mdl.distribution.set_distribution(DataParallel())
    assert mdl.distribution.distribution() is not None
    assert mdl.distribution.data_parallel() is None


def _model(synchronized=None):
    mdl.random.seed(2)
    layers = [mdl.layers.Dense(4, activation="tanh", input_shape=(3,), dtype="float64")]
    if synchronized is not None:
        layers.append(mdl.layers.BatchNormalization(synchronized=synchronized,
                                                    dtype="float64"))
    layers.append(mdl.layers.Dense(2, dtype="float64"))
    model = mdl.models.Sequential(layers)
    model.compile(mdl.optimizers.Adam(0.01),
                  mdl.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def _data(n=10):
    rng = np.random.default_rng(1)
    return rng.normal(size=(n, 3)), rng.integers(0, 2, size=n)


def test_fit_with_data_parallel_on_one_process_is_fit_alone():
    x, y = _data()
    alone = _model(synchronized=False)
    alone.fit(x, y, batch_size=4, epochs=2, verbose=0)
    mdl.distribution.set_distribution(DataParallel())
    parallel = _model(synchronized=True)
    parallel.fit(x, y, batch_size=4, epochs=2, verbose=0)
    for a, b in zip(parallel.get_weights(), alone.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_the_data_parallel_step_on_a_world_of_one_is_the_plain_step(backend):
    x, y = _data()
    plain, parallel = _model(), _model()
    run = DataParallel().fit_run(parallel)
    for _ in range(3):
        expected = plain._train_step(x, y)
        loss, size = run.step(x, y, len(x), "here")
        assert size == len(x)
        np.testing.assert_allclose(loss, expected, rtol=1e-14)
    for a, b in zip(parallel.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert run.logs(0.5) == {"loss": 0.5, "accuracy": plain.compiled_metrics[0].result()}


def test_the_reducer_packs_by_dtype_and_scales_by_the_global_batch():
    weights = [mdl.Variable(np.ones((2, 3), dtype="float32")),
               mdl.Variable(np.ones(4)), mdl.Variable(np.ones(2, dtype="float32"))]
    weights[0].grad = np.arange(6, dtype="float32").reshape(2, 3)
    weights[1].grad = np.full(4, 0.5)
    reducer = _dp._Reducer(weights, 3)
    assert sorted(b.size for b in reducer.buffers.values()) == [8, 8]  # scalars, flag: f64
    sums, nonfinite = reducer.reduce(Communicator(), weights, 3, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(sums, [1.0, 2.0, 3.0])
    assert nonfinite == 0
    grads = reducer.gradients(6)
    np.testing.assert_array_equal(grads[0], weights[0].grad / 2)
    np.testing.assert_array_equal(grads[1], weights[1].grad / 2)
    np.testing.assert_array_equal(grads[2], np.zeros(2, dtype="float32"))
    assert grads[0].dtype == np.float32 and reducer.packs(weights)
    assert not reducer.packs(weights[:2])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_the_reducer_counts_the_processes_with_a_non_finite_gradient(bad):
    weights = [mdl.Variable(np.ones(3, dtype="float32")), mdl.Variable(np.ones(2))]
    weights[0].grad = np.array([1.0, bad, 2.0], dtype="float32")
    weights[1].grad = np.ones(2)
    reducer = _dp._Reducer(weights, 1)
    sums, nonfinite = reducer.reduce(Communicator(), weights, 2, [5.0])
    assert nonfinite == 1 and sums.tolist() == [5.0]
    weights[0].grad = np.ones(3, dtype="float32")
    weights[1].grad[0] = bad  # in the buffer that also holds the scalars
    assert reducer.reduce(Communicator(), weights, 2, [5.0])[1] == 1
    weights[1].grad[0] = 1.0
    assert reducer.reduce(Communicator(), weights, 2, [5.0])[1] == 0


class _SeesAnother(Communicator):
    """A world of one whose ``allgather_object`` also reports another process's value."""

    def __init__(self, other):
        super().__init__()
        self.other = other

    def allgather_object(self, value):
        return [value, self.other]


def test_processes_with_different_models_raise_a_clear_error_everywhere():
    model = _model()
    other = _dp._describe(_model())
    _dp._check_same_model(_SeesAnother(other), model)  # names aside, the same model
    other["weights"][0] = ((3, 5), "float64")
    message = (r"process 1's model differs from process 0's: weights array 0 is "
               r"\(\(3, 5\), 'float64'\) on process 1, \(\(3, 4\), 'float64'\) on "
               r"process 0")
    with pytest.raises(ValueError, match=message) as info:
        _dp._check_same_model(_SeesAnother(other), model)
    assert getattr(info.value, _dp._EVERYWHERE)
    other = _dp._describe(_model(synchronized=False))
    with pytest.raises(ValueError, match="8 weights arrays on process 1, 4 on 0"):
        _dp._check_same_model(_SeesAnother(other), model)


def _mpiexec():
    if importlib.util.find_spec("mpi4py") is None:
        return None
    local = pathlib.Path(sys.executable).with_name("mpiexec")
    return str(local) if local.exists() else shutil.which("mpiexec")


@pytest.mark.skipif(_mpiexec() is None, reason="needs mpi4py and mpiexec: pip install "
                                                '"minidl[mpi]"')
@pytest.mark.parametrize("kind", ["data", "loss", "callback"])
def test_a_failing_process_stops_every_process_within_seconds(kind):
    script = pathlib.Path(__file__).parent / "mpi" / "fail_one_process.py"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "MPI_"))}
    start = time.perf_counter()
    done = subprocess.run([_mpiexec(), "-n", "2", sys.executable, str(script), kind],
                          capture_output=True, text=True, timeout=120, env=env,
                          check=False)
    seconds = time.perf_counter() - start
    assert done.returncode != 0
    expected = {"data": "label 7", "loss": "the loss became nan",
                "callback": "a callback failed on purpose"}[kind]
    assert expected in done.stderr
    assert seconds < 60, f"mpiexec took {seconds:.1f} s to stop"
