"""The training loop: compile, fit, evaluate, predict, train_on_batch, test_on_batch.

``Trainer`` is mixed into models. One step is forward, loss (plus ``model.losses``),
backward, optimizer update. Data are host arrays (or generators of batches); each batch
moves to the model's backend as it is used (``batches.py`` checks and cuts the data). The
only device-to-host copy of a step is the scalar loss, which also carries the step's
checks (labels in range, finite gradients; see ``minidl.checks``), then the metric values
the progress bar shows.

A step is refused, with ``FloatingPointError``, when its loss or a gradient is NaN or
infinite: the weights, the optimizer and the non-trainable weights (BatchNormalization's
moving statistics, which the forward pass updates) are left as they were before it.

Weights follow Keras 3: ``sample_weight`` (or ``class_weight``, turned into one weight per
sample) multiplies the per-sample losses, which are then summed and divided by their number
(``"sum_over_batch_size"``); ``compile(weighted_metrics=...)`` get the weights, ``metrics``
do not.
"""
import collections
import contextlib
import math
import numbers
import warnings

from .. import backend as _backend
from .. import callbacks as callbacks_module
from .. import checks
from .. import distribution as _distribution
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from .. import random as _random
from ..autograd import Tensor, no_grad
from ..validation import check_bool as _check_bool
from ..validation import check_int as _check_int
from .batches import (
    ArrayBatches,
    GeneratorBatches,
    as_inputs,
    check_data,
    concatenate,
    length,
    map_outputs,
    share,
    take,
)

__all__ = ["Trainer"]


def _to_host(output):
    return map_outputs(lambda v: v.numpy(), output)


def _map_identifiers(fn, value):
    """``fn`` over the leaves of a loss / metrics structure (lists and dicts keyed by
    output name; a serialized object, a dict with ``class_name``, is a leaf)."""
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _map_identifiers(fn, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_map_identifiers(fn, v) for v in value]
    return None if value is None else fn(value)


_Fit = collections.namedtuple("_Fit", "batches validation cbs epochs initial_epoch "
                                      "batch_size run progbar")  # one fit call's setup


# -- argument checks ---------------------------------------------------------------------
def _check_batch_size(batch_size):
    return 32 if batch_size is None else _check_int(batch_size, "batch_size", 1)


def _check_verbose(verbose):
    if verbose == "auto":
        return 1
    if isinstance(verbose, str) or verbose not in (0, 1, 2):
        raise ValueError(f"verbose={verbose!r} must be 'auto', 0, 1 or 2")
    return int(verbose)


def _check_split(validation_split):
    if isinstance(validation_split, bool) or \
            not isinstance(validation_split, numbers.Real) or not 0 <= validation_split < 1:
        raise ValueError(f"validation_split={validation_split!r} must be a number in "
                         "[0, 1)")
    return float(validation_split)


def _weighted_metric_name(metric, prefix):
    return prefix + "weighted_" + metric.name[len(prefix):]


def _nonfinite(weights):
    """A 0-d device flag: some weight's gradient holds NaN or Inf (None: no gradient)."""
    grads = [w.grad for w in weights if w.grad is not None]
    if not grads:
        return None
    xp = _backend.backend_of(grads[0]).xp
    return ~xp.stack([xp.isfinite(g).all() for g in grads]).all()


def _refusal(loss, weights, where):
    """The error of a refused step (it reads device data: it runs only on failure)."""
    value = float(loss.data)
    if math.isfinite(value):
        bad = [getattr(w, "path", w.name) for w in weights
               if w.grad is not None and not bool(w.xp.isfinite(w.grad).all())]
        what = f"a gradient became NaN or infinite ({', '.join(bad)}) behind the loss " \
               f"{value:g}"
    else:
        what = f"the loss became {value}"
    return FloatingPointError(
        f"{what} {where}; the weights are left as they were before this step. Lower the "
        "learning rate, check the data for NaN/Inf, or add gradient clipping (clipnorm=)")


class Trainer:
    """compile / fit / evaluate / predict for a model whose ``__call__`` maps a batch to
    predictions."""

    optimizer = None
    loss = None
    compiled_metrics = ()
    _metric_weighted = ()      # per compiled metric: does it take sample_weight
    stop_training = False
    _structured_data = False   # functional models: lists / dicts of inputs and outputs
    _running_callbacks = None  # the callbacks of the fit in progress (their state is saved)
    _saved_callbacks_state = None  # from a loaded checkpoint, for a resumed fit

    # -- compile -------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics: list | None = None,
                weighted_metrics: list | None = None) -> None:
        """Set the optimizer (name, config or instance), the loss (name, config, Loss or
        callable ``loss(y_true, y_pred)``), a list of metrics (names or Metric) and a list
        of ``weighted_metrics``, which also take the ``sample_weight`` (or ``class_weight``)
        of ``fit`` / ``evaluate``; one named like a plain metric is called
        ``weighted_<name>``."""
        self.optimizer = optimizers_module.get(optimizer)
        if loss is None:
            raise ValueError("compile(loss=None): give a loss, e.g. "
                             "'sparse_categorical_crossentropy'")
        for value, name in ((metrics, "metrics"), (weighted_metrics, "weighted_metrics")):
            if value is not None and not isinstance(value, (list, tuple, dict)):
                raise ValueError(f"{name}={value!r} must be a list of metrics")
        weighted = self._compile_metrics(loss, weighted_metrics) if weighted_metrics else []
        plain = self._compile_metrics(loss, metrics)
        names = {m.name for m, _ in plain}
        for m, k in weighted:
            if m.name in names:
                m.name = _weighted_metric_name(m, self._output_prefix(k))
            names.add(m.name)
        self.compiled_metrics = [m for m, _ in plain + weighted]
        self._metric_outputs = [k for _, k in plain + weighted]
        self._metric_weighted = [False] * len(plain) + [True] * len(weighted)
        self._metric_identifiers = self._identifiers(metrics)
        self._weighted_identifiers = self._identifiers(weighted_metrics)
        self.compiled = True

    def _compile_metrics(self, loss, metrics):
        """Sets the loss; returns ``(metric, output index)`` pairs."""
        if self._structured_data:  # functional models (models/outputs.py)
            self._compile_outputs(loss, metrics)
            return list(zip(self.compiled_metrics, self._metric_outputs))
        loss = losses_module.get(loss)
        if not isinstance(loss, losses_module.Loss):  # a plain fn(y_true, y_pred)
            loss = losses_module.LossFunctionWrapper(loss)
        self.loss = loss
        if isinstance(metrics, dict):
            raise ValueError("metrics is a dict keyed by output name; this model has one "
                             "output: give a list")
        return [(metrics_module.get(m, loss=loss), 0) for m in metrics or []]

    def _identifiers(self, metrics):
        if self._structured_data and isinstance(metrics, dict):
            return metrics
        return list(metrics or [])

    def _output_prefix(self, k):
        names = list(getattr(self, "output_names", ()))
        return f"{names[k]}_" if self._structured_data and len(names) > 1 else ""

    def _compile_config(self):
        if self.optimizer is None:
            return None

        def metric(m):
            return m if isinstance(m, str) else metrics_module.serialize(m)

        config = {"optimizer": optimizers_module.serialize(self.optimizer),
                  "loss": _map_identifiers(losses_module.serialize, self.loss),
                  "metrics": _map_identifiers(metric, self._metric_identifiers)}
        if self._weighted_identifiers:
            config["weighted_metrics"] = _map_identifiers(metric,
                                                          self._weighted_identifiers)
        return config

    def _compile_from_config(self, config, custom_objects=None):
        def metric(m):
            return m if isinstance(m, str) else metrics_module.get(m)

        self.compile(optimizer=optimizers_module.deserialize(config["optimizer"],
                                                             custom_objects=custom_objects),
                     loss=_map_identifiers(losses_module.get, config["loss"]),
                     metrics=_map_identifiers(metric, config.get("metrics", [])),
                     weighted_metrics=_map_identifiers(metric,
                                                       config.get("weighted_metrics")))

    def _require_compiled(self, what):
        if self.optimizer is None or self.loss is None:
            raise ValueError(f"{what}: call model.compile(optimizer, loss) first")

    # -- one batch -----------------------------------------------------------------------
    def _to_backend(self, array):
        if array is None:
            return None
        return map_outputs(lambda v: Tensor(v, backend=self.backend), array)

    def _loss_value(self, y, y_pred, sample_weight=None):
        if self._structured_data:  # functional models (models/outputs.py)
            loss = self._outputs_loss(y, y_pred, sample_weight)
        elif sample_weight is None:
            loss = self.loss(y, y_pred)
        else:
            loss = self.loss(y, y_pred, sample_weight=sample_weight)
        for penalty in self.losses:
            loss = loss + penalty
        return loss

    def _train_step(self, x, y, where="in train_on_batch", sample_weight=None):
        """One update; returns the loss as a float. A step with a NaN/Inf loss or
        gradient raises before the weights change."""
        value = self._gradients(x, y, where, sample_weight)
        self.optimizer.step(self.trainable_weights)  # built by now, if they were not
        return value

    def _gradients(self, x, y, where=None, sample_weight=None):
        """Forward, loss and backward on one batch (the weights' ``.grad``; metrics
        updated); returns the loss as a float. With ``where``, a NaN/Inf loss or gradient
        raises (``FloatingPointError``) in the step's one read of the loss."""
        y_t, weights_t = self._to_backend(y), self._to_backend(sample_weight)
        y_pred = self(self._to_backend(x), training=True)
        with checks.deferred() as pending:
            loss = self._loss_value(y_t, y_pred, weights_t)
            weights = self.trainable_weights
            for w in weights:
                w.zero_grad()
            loss.backward()
            flag = None if where is None else _nonfinite(weights)
            if flag is not None:
                checks.check(flag, lambda: _refusal(loss, weights, where))
        value = checks.read(loss.data, pending)  # the step's one device-to-host copy
        if where is not None:
            self._check_loss(value, where)
        with no_grad():
            self._update_metrics(y_t, y_pred, weights_t)
        return value

    @contextlib.contextmanager
    def _refusable(self):
        """Puts the non-trainable weights back (BatchNormalization's moving statistics,
        which the forward pass replaces with ``assign``) when the step is refused."""
        saved = [(w, w.data) for w in self.weights if not w.trainable]
        try:
            yield
        except FloatingPointError:
            for w, data in saved:
                w.data = data
            raise

    def _check_loss(self, value, where):
        if not math.isfinite(value):
            raise FloatingPointError(
                f"the loss became {value} {where}; the weights are left as they were "
                "before this step. Lower the learning rate, check the data for NaN/Inf, "
                "or add gradient clipping (clipnorm=)")

    def _fit_step(self, x, y, size, where, sample_weight=None):
        return self._train_step(x, y, where, sample_weight), size

    def _build_on(self, x):
        """Build the weights with an inference pass on ``x`` if they are not built yet."""
        if not self.built:
            with no_grad():
                self(self._to_backend(x), training=False)

    def _test_step(self, x, y, sample_weight=None):
        """The loss of one batch as a float (metrics updated)."""
        with no_grad():
            y_t, weights_t = self._to_backend(y), self._to_backend(sample_weight)
            y_pred = self(self._to_backend(x), training=False)
            with checks.deferred() as pending:
                loss = self._loss_value(y_t, y_pred, weights_t)
            value = checks.read(loss.data, pending)  # before the metrics see bad labels
            self._update_metrics(y_t, y_pred, weights_t)
        return value

    def _update_metrics(self, y_true, y_pred, sample_weight=None):
        if self._structured_data:  # functional models (models/outputs.py)
            self._update_output_metrics(y_true, y_pred, sample_weight)
            return
        for m, weighted in zip(self.compiled_metrics, self._metric_weighted):
            if weighted and sample_weight is not None:
                m.update_state(y_true, y_pred, sample_weight=sample_weight)
            else:
                m.update_state(y_true, y_pred)

    def _logs(self, loss_mean, prefix=""):
        logs = {prefix + "loss": loss_mean}
        for m in self.compiled_metrics:
            logs[prefix + m.name] = m.result()
        return logs

    def _log_keys(self, validation):
        keys = ["loss"] + [m.name for m in self.compiled_metrics]
        return keys + (["val_" + k for k in keys] if validation else [])

    def _reset_metrics(self):
        for m in self.compiled_metrics:
            m.reset_state()

    def train_on_batch(self, x, y=None, sample_weight=None,
                       class_weight: dict | None = None, return_dict: bool = False):
        """One optimizer step on one batch; returns the loss, ``[loss, *metrics]`` or
        (``return_dict``) the logs."""
        self._require_compiled("train_on_batch")
        x, y, sample_weight = self._batch_data(x, y, sample_weight, "train_on_batch",
                                               class_weight)
        self._reset_metrics()
        with self._refusable():
            loss = self._train_step(x, y, sample_weight=sample_weight)
        return self._batch_result(loss, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        """The loss (and metrics) on one batch, without updating anything."""
        self._require_compiled("test_on_batch")
        x, y, sample_weight = self._batch_data(x, y, sample_weight, "test_on_batch")
        self._reset_metrics()
        return self._batch_result(self._test_step(x, y, sample_weight), return_dict)

    def _batch_data(self, x, y, sample_weight, what, class_weight=None):
        if y is None:
            raise ValueError(f"{what}: y=None; the loss needs targets y")
        return check_data(x, y, sample_weight, self._structured_data, what, class_weight)

    def _batch_result(self, loss, return_dict=False):
        if _check_bool(return_dict, "return_dict"):
            return self._logs(loss)
        if not self.compiled_metrics:
            return loss
        return [loss] + [m.result() for m in self.compiled_metrics]

    # -- fit -----------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size: int | None = None, epochs: int = 1,
            verbose: str | int = "auto", callbacks: list | None = None,
            validation_split: float = 0.0, validation_data=None, shuffle: bool = True,
            class_weight: dict | None = None, sample_weight=None, initial_epoch: int = 0,
            steps_per_epoch: int | None = None) -> callbacks_module.History:
        """Train for ``epochs`` epochs (counting from ``initial_epoch``).

        Args:
            x, y: arrays of samples and targets; or ``x`` a generator / iterable of
                ``(x_batch, y_batch)`` or ``(x_batch, y_batch, sample_weight)`` with
                ``steps_per_epoch`` batches per epoch.
            batch_size: samples per step (default 32).
            verbose: ``"auto"`` or 1: a progress bar on a terminal and one line per epoch
                (loss, metrics, validation values, time; only the line when the output is
                not a terminal), 2: only the line, 0: silent (``callbacks.ProgbarLogger``).
            validation_split: the fraction of the (unshuffled) samples, taken from the end,
                held out for validation (their ``sample_weight`` too).
            validation_data: ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight_val)``,
                evaluated after each epoch.
            shuffle: reshuffle the training samples every epoch (minidl's seeded RNG).
            class_weight: ``{class: weight}``, the weight of each training sample by its
                class (Keras's rule; not with ``sample_weight``).
            sample_weight: one weight per training sample (or an array that broadcasts
                against the per-sample losses; one per output, for several outputs).
            initial_epoch: the epoch to resume at (for continuing an earlier run; the
                callbacks' state saved by ``ModelCheckpoint`` is restored then).
            steps_per_epoch: batches per epoch of a generator.

        Returns:
            History, whose ``history`` maps ``loss``, metric names and ``val_*`` to lists.

        Raises:
            FloatingPointError: the loss or a gradient became NaN or infinite (names the
                epoch and step; the model is left as it was before that step).
            ValueError, TypeError: bad arguments, naming the argument and the value.

        Under ``minidl.distribution.set_distribution(DataParallel())`` on several processes,
        ``batch_size`` is the global batch (a multiple of the number of processes), each
        process trains on its share of every batch and the logs are those of all of them
        (see ``minidl.distribution.data_parallel``).
        """
        self._require_compiled("fit")
        fit = self._fit_setup(x, y, batch_size, epochs, verbose, callbacks,
                              validation_split, validation_data, shuffle, class_weight,
                              sample_weight, initial_epoch, steps_per_epoch)
        together = contextlib.nullcontext() if fit.run is None else \
            _distribution.data_parallel().failing_together()
        with together, self._fitting(fit):
            fit.cbs.on_train_begin()
            self._resume_callbacks(fit)
            for epoch in range(fit.initial_epoch, fit.epochs):
                if not self._fit_epoch(fit, epoch):
                    break
            fit.cbs.on_train_end()
        return self.history

    def _fit_setup(self, x, y, batch_size, epochs, verbose, callbacks, validation_split,
                   validation_data, shuffle, class_weight, sample_weight, initial_epoch,
                   steps_per_epoch):
        """Check ``fit``'s arguments; returns the ``_Fit`` of this call."""
        epochs = _check_int(epochs, "epochs", 0)
        initial_epoch = _check_int(initial_epoch, "initial_epoch", 0)
        if steps_per_epoch is not None:
            steps_per_epoch = _check_int(steps_per_epoch, "steps_per_epoch", 1)
        verbose, split = _check_verbose(verbose), _check_split(validation_split)
        batch_size = _check_batch_size(batch_size)
        batches = self._train_batches(x, y, sample_weight, class_weight, batch_size,
                                      _check_bool(shuffle, "shuffle"), split,
                                      steps_per_epoch)
        validation = batches.validation if split else self._validation(validation_data)
        dist = _distribution.data_parallel()
        if dist is not None:
            if isinstance(batches, ArrayBatches):  # batch_size is the global batch
                dist.local_batch_size(batch_size)
            verbose = dist.verbose(verbose)
            batches.shard = dist.bounds
        params = {"epochs": epochs, "steps": batches.steps, "verbose": verbose,
                  "metrics": self._log_keys(validation is not None)}
        progbar = callbacks_module.ProgbarLogger() if verbose else None
        self.history = callbacks_module.History()
        cbs = callbacks_module.CallbackList(
            callbacks, self, params, [self.history] + ([progbar] if progbar else []))
        return _Fit(batches, validation, cbs, epochs, initial_epoch, batch_size,
                    None if dist is None else dist.fit_run(self), progbar)

    @contextlib.contextmanager
    def _fitting(self, fit):
        self.stop_training = False
        self._running_callbacks = fit.cbs
        try:
            yield
        finally:
            self._running_callbacks = None
            if fit.progbar is not None:
                fit.progbar.close()

    def _resume_callbacks(self, fit):
        """A run resumed from a checkpoint (``initial_epoch > 0``) continues with the
        callbacks' saved counters and best values."""
        saved, self._saved_callbacks_state = self._saved_callbacks_state, None
        if saved and fit.initial_epoch > 0:
            fit.cbs.set_state(saved)

    def _callbacks_state(self):
        """The state of the running fit's callbacks, for a checkpoint (None outside fit)."""
        cbs = self._running_callbacks
        return None if cbs is None else cbs.get_state()

    def _validation(self, validation_data):
        if validation_data is None:
            return None
        if not isinstance(validation_data, (tuple, list)) or \
                len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be a pair (x_val, y_val) or a triple "
                             "(x_val, y_val, sample_weight_val), got a "
                             f"{type(validation_data).__name__}")
        x, y, sample_weight = (tuple(validation_data) + (None,))[:3]
        return self._batch_data(x, y, sample_weight, "validation_data")

    def _train_batches(self, x, y, sample_weight, class_weight, batch_size, shuffle,
                       validation_split, steps_per_epoch):
        if y is None and x is not None and not isinstance(x, dict) and \
                not _backend.is_array(x) and not isinstance(x, Tensor) and \
                hasattr(x, "__iter__"):
            if sample_weight is not None or validation_split:
                raise ValueError("fit: with a generator x, give sample weights in its "
                                 "batches (x, y, sample_weight) and validation_data "
                                 "instead of validation_split")
            return GeneratorBatches(x, steps_per_epoch, self._structured_data, class_weight)
        x, y, sample_weight = self._batch_data(x, y, sample_weight, "fit", class_weight)
        return ArrayBatches(x, y, batch_size, shuffle, validation_split, sample_weight)

    def _fit_epoch(self, fit, epoch):
        """One epoch of ``fit``; returns False when training stops."""
        _random.reseed(self.backend)  # device draws follow the checkpointed host state
        fit.cbs.on_epoch_begin(epoch)
        logs = self._fit_steps(fit, epoch)
        if logs is None:  # the data ran out: no logs of this epoch (never the last one's)
            return self._ran_out(fit, epoch)
        if fit.run is not None:
            fit.run.end_epoch()
        if fit.validation is not None:
            xv, yv, wv = fit.validation
            val = self.evaluate(xv, yv, batch_size=fit.batch_size, verbose=0,
                                sample_weight=wv, return_dict=True)
            logs.update({"val_" + k: v for k, v in val.items()})
        fit.cbs.on_epoch_end(epoch, logs)
        return not self.stop_training

    def _ran_out(self, fit, epoch):
        if epoch == fit.initial_epoch:
            raise ValueError("fit: x yielded no batches; give arrays, or a generator of "
                             "(x_batch, y_batch) pairs")
        warnings.warn(f"fit: the input ran out of data at epoch {epoch + 1}; training "
                      "stops. Give a re-iterable (a list, a minidl data iterator) or a "
                      "generator that yields steps_per_epoch * epochs batches",
                      stacklevel=4)
        return False

    def _fit_steps(self, fit, epoch):
        """The steps of one epoch; returns the last running logs (None if no step)."""
        self._reset_metrics()
        fit_step = self._fit_step if fit.run is None else fit.run.step
        logs_of = self._logs if fit.run is None else fit.run.logs
        total, count, logs = 0.0, 0, None
        for step, (xb, yb, *weights) in enumerate(fit.batches.epoch()):
            fit.cbs.on_train_batch_begin(step)
            where = f"at epoch {epoch + 1}, step {step + 1}"
            with self._refusable():
                loss, size = fit_step(xb, yb, length(xb), where, *weights)
            total += loss * size
            count += size
            logs = logs_of(total / count)
            fit.cbs.on_train_batch_end(step, dict(logs))  # running means, as Keras
            if self.stop_training:
                break
        return logs

    # -- evaluate and predict ------------------------------------------------------------
    def evaluate(self, x=None, y=None, batch_size: int | None = None,
                 verbose: str | int = "auto", sample_weight=None,
                 callbacks: list | None = None, return_dict: bool = False):
        """The mean loss (and metrics) over ``x``: the loss alone, ``[loss, *metrics]``, or
        (``return_dict``) a dict. ``sample_weight`` weighs the loss and the
        ``weighted_metrics`` as in ``fit``."""
        self._require_compiled("evaluate")
        x, y, sample_weight = self._batch_data(x, y, sample_weight, "evaluate")
        batch_size = _check_batch_size(batch_size)
        return_dict = _check_bool(return_dict, "return_dict")
        verbose = _check_verbose(verbose)
        dist = _distribution.data_parallel()
        verbose = verbose if dist is None else dist.verbose(verbose)
        steps = -(-length(x) // batch_size)
        cbs = callbacks_module.CallbackList(
            callbacks, self, {"verbose": verbose, "steps": steps},
            [callbacks_module.ProgbarLogger()] if verbose else [])
        self._reset_metrics()
        cbs.on_test_begin()
        data = (x, y, sample_weight)
        if dist is None:
            logs = self._logs(self._test_loop(data, batch_size, cbs) / length(x))
        else:
            local_batch = dist.local_batch_size(batch_size)
            with dist.failing_together():
                logs = self._evaluate_share(dist, data, local_batch, cbs)
        cbs.on_test_end(logs)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def _test_loop(self, data, batch_size, cbs):
        """The summed loss over ``data`` (``(x, y, sample_weight)``) in batches (metrics
        updated)."""
        total = 0.0
        for step, s in enumerate(range(0, length(data[0]), batch_size)):
            cbs.on_test_batch_begin(step)
            xb, yb, wb = (take(a, slice(s, s + batch_size)) for a in data)
            total += self._test_step(xb, yb, wb) * length(xb)
            cbs.on_test_batch_end(step)
        return total

    def _evaluate_share(self, dist, data, batch_size, cbs):
        """``evaluate``'s logs over every process, each taking a contiguous share of the
        samples in batches of ``batch_size``."""
        n = length(data[0])
        if n < dist.num_processes:  # too few to share: every process evaluates them all
            return self._logs(self._test_loop(data, batch_size, cbs) / n)
        index = share(slice(0, n), dist.bounds)
        total = self._test_loop([take(a, index) for a in data], batch_size, cbs)
        return dist.reduce_test(self, total, index.stop - index.start)

    def predict(self, x, batch_size: int | None = None, verbose: str | int = 0,
                callbacks: list | None = None):
        """Predictions for ``x`` as a host NumPy array (a list or dict of them for a
        model with several outputs), computed in batches."""
        x = as_inputs(x, self._structured_data, "predict")
        batch_size = _check_batch_size(batch_size)
        verbose = _check_verbose(verbose)
        dist = _distribution.data_parallel()
        verbose = verbose if dist is None else dist.verbose(verbose)
        cbs = callbacks_module.CallbackList(
            callbacks, self, {"verbose": verbose, "steps": -(-length(x) // batch_size)},
            [callbacks_module.ProgbarLogger()] if verbose else [])
        cbs.on_predict_begin()
        if dist is None or length(x) < dist.num_processes:  # too few samples to share
            outputs = self._predict_loop(x, batch_size, cbs)
        else:
            local_batch = dist.local_batch_size(batch_size)
            with dist.failing_together():
                index = share(slice(0, length(x)), dist.bounds)
                part = self._predict_loop(take(x, index), local_batch, cbs)
                outputs = [map_outputs(dist.gather, concatenate(part))]
        cbs.on_predict_end()
        if not outputs:
            raise ValueError("predict: x has no samples")
        return concatenate(outputs)

    def _predict_loop(self, x, batch_size, cbs):
        """The host outputs of each batch of ``x``."""
        outputs = []
        with no_grad():
            for step, s in enumerate(range(0, length(x), batch_size)):
                cbs.on_predict_batch_begin(step)
                xb = self._to_backend(take(x, slice(s, s + batch_size)))
                outputs.append(_to_host(self(xb, training=False)))
                cbs.on_predict_batch_end(step)
        return outputs
