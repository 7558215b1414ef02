"""``DataParallel``: every process holds the whole model and takes a share of each batch.

Under ``set_distribution(DataParallel())`` over ``N > 1`` processes, ``fit``:

- at its first step, checks that every process has the same model (config, weight names,
  shapes and dtypes, optimizer state layout; a difference raises ``ValueError`` on every
  process), then broadcasts process 0's weights, optimizer state and random generator
  state, so every process starts from process 0's model and draws the same shuffles;
- takes ``batch_size`` as the global batch, as Keras 3 does: process ``p`` takes the
  contiguous share ``bounds(b)`` of every batch of ``b`` samples (``b / N`` each; a last,
  smaller batch is split as evenly as it goes), all drawn from the same seeded
  permutation, so every sample is used once per epoch;
- in each step, computes the loss (a mean over its ``b_p`` samples) and its gradients
  ``g_p``, then sums, in one allreduce per weight dtype, ``b_p * g_p`` with the scalars
  of the step (loss, sample count, metric sums), and every process applies the same
  update with the mean over the global batch::

      g = sum_p b_p g_p / sum_p b_p

  which is the gradient of the loss averaged over the ``b = sum_p b_p`` samples (exactly
  so when the loss is a per-sample mean, as Keras's default reduction makes it);
- reports the loss and the metrics of all processes (running sums of ``Mean`` metrics add
  up to the global value; other metrics are averaged); a non-finite loss, or a NaN/Inf
  gradient on any process (a flag that rides in the same allreduce), raises
  ``FloatingPointError`` on every process before any update (``fit`` puts the moving
  statistics back);
- at each epoch's end averages the non-trainable weights (the moving statistics of
  per-process BatchNormalization, as TensorFlow's ``MEAN`` aggregation does), so that
  every process holds the same model;
- leaves the progress bar, printing and files of callbacks to process 0.

``evaluate`` and ``predict`` give each process a contiguous share of the samples (when
there are at least ``N``) and return the full result on every process.

A process that raises any other exception inside ``fit``, ``evaluate`` or ``predict``
prints it and stops every process (``MPI_Abort``), so that no process waits forever in a
collective.

>>> DataParallel().bounds(10)          # a world of one takes everything
(0, 10)
"""
import contextlib
import hashlib
import json
import sys
import time
import traceback

import numpy

from .. import backend as _backend
from .. import random as _random
from ..metrics import Mean
from .communicator import Communicator
from .world import initialize

__all__ = ["DataParallel"]

_EVERYWHERE = "minidl_raised_on_every_process"


@contextlib.contextmanager
def raised_everywhere():
    """Mark an exception raised inside as raised alike by every process (so it travels
    as an ordinary exception instead of stopping the world)."""
    try:
        yield
    except Exception as err:
        setattr(err, _EVERYWHERE, True)
        raise


class DataParallel:
    """Data parallelism over the processes of the world (see the module docstring).

    Args:
        communicator: the ``Communicator`` of the processes; default ``initialize()``.

    Raises:
        TypeError: ``communicator`` is not a ``Communicator``.
    """

    def __init__(self, communicator=None) -> None:
        if communicator is None:
            communicator = initialize()
        if not isinstance(communicator, Communicator):
            raise TypeError("communicator must be a minidl.distribution.Communicator, got "
                            f"{type(communicator).__name__}")
        self.communicator = communicator

    @property
    def num_processes(self):
        return self.communicator.size

    @property
    def process_id(self):
        return self.communicator.rank

    def bounds(self, n):
        """``(start, stop)`` of this process's contiguous share of ``n`` samples: ``n //
        N`` each, one more for the first ``n % N`` processes."""
        q, r = divmod(n, self.num_processes)
        p = self.process_id
        start = p * q + min(p, r)
        return start, start + q + (p < r)

    def local_batch_size(self, batch_size):
        """This process's share of the global ``batch_size``.

        Raises:
            ValueError: ``batch_size`` is not a multiple of the number of processes.
        """
        n = self.num_processes
        if batch_size % n:
            with raised_everywhere():  # every process checks the same number
                raise ValueError(f"batch_size={batch_size} is the global batch, split "
                                 f"over {n} processes, so it must be a multiple of {n}; "
                                 f"use e.g. {max(n, batch_size - batch_size % n)}")
        return batch_size // n

    def verbose(self, verbose):
        """``verbose`` on process 0, 0 (silent) on the others."""
        return verbose if self.process_id == 0 else 0

    def writes_files(self):
        """True on process 0, which alone prints and writes callback files."""
        return self.process_id == 0

    @contextlib.contextmanager
    def failing_together(self):
        """A block in which an exception of this process stops every process, unless
        every process raised it alike (``raised_everywhere``)."""
        try:
            yield
        except BaseException as err:
            if getattr(err, _EVERYWHERE, False) or isinstance(err, GeneratorExit):
                raise
            world = self.communicator
            sys.stderr.write("".join(traceback.format_exception(err)) +
                             f"minidl.distribution: process {world.rank} of {world.size} "
                             f"raised {type(err).__name__}: {err}; stopping every "
                             "process\n")
            sys.stderr.flush()
            time.sleep(0.5)  # for mpiexec to pass the message on before MPI_Abort
            world.abort(1)

    def fit_run(self, model):
        """The data-parallel side of one ``fit`` call of ``model``."""
        return _FitRun(self, model)

    def reduce_test(self, model, total, count):  # host
        """The logs of ``evaluate`` over every process, from this process's loss ``total``
        over its ``count`` samples and its metrics."""
        metrics = model.compiled_metrics
        parts = [total, count] + [value for m in metrics for value in _metric_parts(m)]
        sums = self.communicator.allreduce(numpy.array(parts, dtype=numpy.float64))
        return _logs(sums[0] / sums[1], metrics, sums[2:])

    def gather(self, array):
        """The host arrays of every process, joined along the first axis."""
        return self.communicator.allgather(array)

    def __repr__(self):
        return f"<DataParallel over {self.num_processes} processes>"


def _metric_parts(metric):
    """``(sum, weight)`` whose totals over the processes give ``metric``'s global value:
    a ``Mean``'s running total and count (exact), else its result with weight 1."""
    if isinstance(metric, Mean):
        if metric._total is None:  # no sample on this process yet
            return 0.0, 0.0
        return float(metric._total), float(metric._count)
    return metric.result(), 1.0


def _logs(loss, metrics, sums, prefix=""):
    logs = {prefix + "loss": loss}
    for i, m in enumerate(metrics):
        total, weight = sums[2 * i], sums[2 * i + 1]
        logs[prefix + m.name] = float(total / weight) if weight else 0.0
    return logs


class _FitRun:
    """One ``fit`` call over the processes: the step, its logs and the epoch's end."""

    def __init__(self, parallel, model):
        self.parallel, self.model = parallel, model
        self.world = parallel.communicator
        self.ready = False
        self.reducer = None
        self.metric_sums = numpy.zeros(2 * len(model.compiled_metrics))  # host

    def step(self, x, y, size, where, sample_weight=None):
        """One update from this process's ``size`` samples ``x, y`` (weighted by
        ``sample_weight``); returns the loss over the global batch and the global batch
        size."""
        if not self.ready:
            self._prepare(x)
        if self.synchronized:
            self._check_sizes(size, where)
        if size:
            loss = self.model._gradients(x, y, sample_weight=sample_weight)
        else:  # nothing of this batch here: no gradient, no weight in the sums
            loss = 0.0
            for w in self.model.trainable_weights:
                w.zero_grad()
        return self._apply(loss, size, where)

    def _prepare(self, x):
        model = self.model
        model._build_on(x)
        _check_same_model(self.world, model)
        _broadcast_state(self.world, model)
        self.synchronized = any(getattr(layer, "synchronized", False)
                                for layer in model._flatten_layers())
        self.ready = True

    def _check_sizes(self, size, where):
        """Synchronized BatchNormalization needs samples on every process: every process
        learns every size (one small allreduce) and raises the same error before the
        forward's collectives."""
        sizes = numpy.zeros(self.world.size)  # host
        sizes[self.world.rank] = size
        sizes = self.world.allreduce(sizes)
        empty = [p for p, n in enumerate(sizes) if n == 0]
        if empty:
            with raised_everywhere():
                raise ValueError(
                    f"a batch {where} has {int(sizes.sum())} samples for "
                    f"{self.world.size} processes, so process(es) {empty} would get none, "
                    "and synchronized BatchNormalization needs samples on every process; "
                    "choose a number of samples or a batch_size that avoids it")

    def _apply(self, loss, size, where):
        model = self.model
        weights = model.trainable_weights
        if self.reducer is None or not self.reducer.packs(weights):
            self.reducer = _Reducer(weights, 2 + len(weights) + len(self.metric_sums))
        flags = [0.0 if w.grad is None else 1.0 for w in weights]
        parts = [value for m in model.compiled_metrics for value in _metric_parts(m)]
        sums, nonfinite = self.reducer.reduce(self.world, weights, size,
                                              [loss * size, size] + flags + parts)
        total = sums[1]
        loss = sums[0] / total
        with raised_everywhere():
            model._check_loss(loss, where)
            if nonfinite:
                raise _refusal(loss, nonfinite, self.world.size, where)
        grads = self.reducer.gradients(total)
        pairs = [(g, w) for g, w, n in zip(grads, weights, sums[2:]) if n > 0]
        model.optimizer.apply_gradients(pairs)
        self.metric_sums = sums[2 + len(weights):]
        return loss, int(total)

    def logs(self, loss, prefix=""):
        """The step's logs: ``loss`` and the metrics over every process."""
        return _logs(loss, self.model.compiled_metrics, self.metric_sums, prefix)

    def end_epoch(self):
        """Average the non-trainable weights, so every process holds the same model."""
        for w in self.model.non_trainable_weights:
            if w.dtype.kind == "f":
                self.world.allreduce(w.data, op="mean", out=w.data)


def _refusal(loss, nonfinite, size, where):
    """The error every process raises alike for a step refused for NaN/Inf gradients."""
    return FloatingPointError(
        f"a gradient became NaN or infinite on {nonfinite} of {size} processes behind "
        f"the loss {loss:g} {where}; the weights are left as they were before this step. "
        "Lower the learning rate, check the data for NaN/Inf, or add gradient clipping "
        "(clipnorm=)")


class _Reducer:
    """The gradients of ``weights``, ``scalars`` extra values and a flag (this process's
    gradients hold NaN or Inf), packed into one buffer per weight dtype (the scalars and
    the flag in the widest), for one allreduce per buffer."""

    def __init__(self, weights, scalars):
        self.ids = [id(w) for w in weights]
        self.xp = xp = weights[0].xp
        sizes = {}
        self.slots = []
        for w in weights:
            start = sizes.get(w.dtype, 0)
            self.slots.append((w.dtype, start, start + w.size, w.shape))
            sizes[w.dtype] = start + w.size
        self.scalar_dtype = max(sizes, key=lambda dtype: dtype.itemsize)
        self.scalars = scalars + 1  # the last one: the non-finite flag
        sizes[self.scalar_dtype] += self.scalars
        self.buffers = {dtype: xp.empty(n, dtype=dtype) for dtype, n in sizes.items()}

    def packs(self, weights):
        return [id(w) for w in weights] == self.ids

    def reduce(self, world, weights, scale, scalars):
        """Allreduce ``scale * w.grad`` (zeros where None), ``scalars`` and the flag;
        returns the scalars' sums as float64 host values and the number of processes
        whose gradients hold NaN or Inf (read in the same copy, the same everywhere)."""
        for w, (dtype, start, stop, _) in zip(weights, self.slots):
            part = self.buffers[dtype][start:stop]
            if w.grad is None:
                part[...] = 0
            else:
                w.xp.multiply(w.grad.reshape(-1), scale, out=part)
        tail = self.buffers[self.scalar_dtype][-self.scalars:]
        scalars = numpy.asarray(scalars, dtype=tail.dtype)  # host
        tail[:-1] = self.xp.asarray(scalars)  # one copy to the device
        tail[-1] = self._nonfinite()  # on the device: no read here
        for buffer in self.buffers.values():
            world.allreduce(buffer, out=buffer)
        sums = _host(tail)
        return sums[:-1], int(sums[-1])

    def _nonfinite(self):
        """A 0-d device flag: the packed gradients hold NaN or Inf."""
        xp = self.xp
        grads = [buffer[:-self.scalars] if dtype == self.scalar_dtype else buffer
                 for dtype, buffer in self.buffers.items()]
        return ~xp.stack([xp.isfinite(g).all() for g in grads]).all()

    def gradients(self, total):
        """The reduced gradients divided by ``total``, as views of the buffers."""
        for buffer in self.buffers.values():
            buffer /= total
        return [self.buffers[dtype][start:stop].reshape(shape)
                for dtype, start, stop, shape in self.slots]


def _host(array):  # host
    return numpy.asarray(_backend.backend_of(array).to_numpy(array), dtype=numpy.float64)


def _type_name(value):
    return type(value).__name__


def _without_names(config):
    """``config`` without its ``name`` entries (automatic names count the layers a
    process has made, which may differ)."""
    if isinstance(config, dict):
        return {k: _without_names(v) for k, v in config.items() if k != "name"}
    if isinstance(config, (list, tuple)):
        return [_without_names(v) for v in config]
    return config


def _describe(model):
    """What must agree between processes: the config's digest (names aside), the
    weights' shapes and dtypes and the optimizer state's layout."""
    config = json.dumps(_without_names(model.get_config()), sort_keys=True,
                        default=_type_name)
    return {"config": hashlib.sha256(config.encode()).hexdigest(),
            "weights": [(tuple(w.shape), str(w.dtype)) for w in model.weights],
            "optimizer": [tuple(a.shape) for a in model.optimizer.variables]}


def _check_same_model(world, model):
    everyone = world.allgather_object(_describe(model))
    differing = [(rank, key) for rank, theirs in enumerate(everyone)
                 for key in ("weights", "config", "optimizer")
                 if theirs[key] != everyone[0][key]]
    if differing:
        rank, key = differing[0]
        with raised_everywhere():
            raise ValueError(_difference(key, everyone[0][key], everyone[rank][key], rank))


def _difference(key, first, other, rank):
    intro = f"process {rank}'s model differs from process 0's"
    if key == "config":
        return f"{intro}: their configs differ (build the same model on every process)"
    if len(first) != len(other):
        return f"{intro}: {len(other)} {key} arrays on process {rank}, {len(first)} on 0"
    i, a, b = next((i, a, b) for i, (a, b) in enumerate(zip(first, other)) if a != b)
    return f"{intro}: {key} array {i} is {b} on process {rank}, {a} on process 0"


def _broadcast_state(world, model):
    """Process 0's weights, optimizer state and random generator state, everywhere."""
    for w in model.weights:
        world.broadcast(w.data)
    state = model.optimizer.get_state()
    for array in state:
        world.broadcast(array)
    model.optimizer.set_state(state)
    _random.set_state(world.broadcast_object(_random.get_state()))
