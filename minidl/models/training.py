"""The training loop: compile, fit, evaluate, predict, train_on_batch, test_on_batch.

``Trainer`` is mixed into models. One step is forward, loss (plus ``model.losses``),
backward, optimizer update. Data are host arrays (or generators of batches); each batch
moves to the model's backend as it is used. The only device-to-host copies of a step are
the scalar loss and metric values the progress bar shows.
"""
import math
import time
import warnings

import numpy as np
from tqdm.auto import tqdm

from .. import backend as _backend
from .. import callbacks as callbacks_module
from .. import checks
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from .. import random as _random
from ..autograd import Tensor, no_grad

__all__ = ["Trainer"]


def _is_array(x):
    return isinstance(x, Tensor) or _backend.is_array(x)


def _as_array(x, name):
    """``x`` as a host array; device (CuPy) data stays where it is, so batches are taken
    there."""
    if isinstance(x, Tensor):
        x = x.data
    if _backend._is_cupy_array(x):
        return x
    if isinstance(x, (list, tuple)) and x and _is_array(x[0]):
        raise ValueError(f"{name} must be one array; models with several inputs take "
                         "them through the functional API")
    try:
        return np.asarray(x)
    except Exception as err:
        raise TypeError(f"{name} must be an array, got {type(x).__name__}: {err}") from None


def _check_xy(x, y, name="x", structured=False):
    if structured:
        return _check_structured_xy(x, y, name)
    x = _as_array(x, name)
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"{name} has shape {x.shape}; it needs at least one sample")
    if y is not None:
        y = _as_array(y, "y")
        if len(y) != len(x):
            raise ValueError(f"{name} has {len(x)} samples but y has {len(y)}")
    return x, y


# -- several inputs or outputs (functional models): lists or dicts of arrays ------------
def _is_structure(x):
    return isinstance(x, dict) or (isinstance(x, (list, tuple)) and len(x) > 0 and
                                   _is_array(x[0]))


def _as_structure(x, name):
    """One array, or a list / dict of arrays with one number of samples."""
    if not _is_structure(x):
        return _as_array(x, name)
    items = list(x.items()) if isinstance(x, dict) else list(enumerate(x))
    if not items:
        raise ValueError(f"{name} is an empty dict; give one array per input/output")
    arrays = [(key, _as_array(v, f"{name}[{key!r}]")) for key, v in items]
    lengths = {key: (len(a) if a.ndim else None) for key, a in arrays}
    if None in lengths.values() or len(set(lengths.values())) > 1:
        raise ValueError(f"the arrays of {name} need one number of samples each, got "
                         f"{lengths}")
    if isinstance(x, dict):
        return dict(arrays)
    return [a for _, a in arrays]


def _check_structured_xy(x, y, name):
    x = _as_structure(x, name)
    if not _is_structure(x) and (x.ndim == 0 or len(x) == 0):
        raise ValueError(f"{name} has shape {x.shape}; it needs at least one sample")
    if _length(x) == 0:
        raise ValueError(f"{name} has no samples")
    if y is not None:
        y = _as_structure(y, "y")
        if _length(y) != _length(x):
            raise ValueError(f"{name} has {_length(x)} samples but y has {_length(y)}")
    return x, y


def _length(data):
    """The number of samples of an array or of a list / dict of arrays."""
    if isinstance(data, dict):
        data = next(iter(data.values()))
    elif isinstance(data, list):
        data = data[0]
    return len(data)


def _take(data, index):
    """``data[index]`` for an array, each array's for a list / dict of arrays."""
    if isinstance(data, dict):
        return {k: v[index] for k, v in data.items()}
    if isinstance(data, list):
        return [v[index] for v in data]
    return data[index]


def _to_host(output):
    if isinstance(output, dict):
        return {k: v.numpy() for k, v in output.items()}
    if isinstance(output, list):
        return [v.numpy() for v in output]
    return output.numpy()


def _concatenate(batches):
    first = batches[0]
    if isinstance(first, dict):
        return {k: np.concatenate([b[k] for b in batches]) for k in first}
    if isinstance(first, list):
        return [np.concatenate(column) for column in zip(*batches)]
    return np.concatenate(batches)


def _map_identifiers(fn, value):
    """``fn`` over the leaves of a loss / metrics structure (lists and dicts keyed by
    output name; a serialized object, a dict with ``class_name``, is a leaf)."""
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _map_identifiers(fn, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_map_identifiers(fn, v) for v in value]
    return None if value is None else fn(value)


def _check_batch_size(batch_size):
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
    return int(batch_size)


class Trainer:
    """compile / fit / evaluate / predict for a model whose ``__call__`` maps a batch to
    predictions."""

    optimizer = None
    loss = None
    compiled_metrics = ()
    stop_training = False
    _structured_data = False   # functional models: lists / dicts of inputs and outputs

    # -- compile -------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """Set the optimizer (name, config or instance), the loss (name, config, Loss or
        callable ``loss(y_true, y_pred)``) and a list of metrics (names or Metric)."""
        self.optimizer = optimizers_module.get(optimizer)
        if loss is None:
            raise ValueError("compile(loss=None): give a loss, e.g. "
                             "'sparse_categorical_crossentropy'")
        if self._structured_data:  # functional models (models/outputs.py)
            self._compile_outputs(loss, metrics)
            self.compiled = True
            return
        loss = losses_module.get(loss)
        if not isinstance(loss, losses_module.Loss):  # a plain fn(y_true, y_pred)
            loss = losses_module.LossFunctionWrapper(loss)
        self.loss = loss
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise ValueError(f"metrics={metrics!r} must be a list of metrics")
        self._metric_identifiers = list(metrics or [])
        self.compiled_metrics = [metrics_module.get(m, loss=self.loss)
                                 for m in self._metric_identifiers]
        self.compiled = True

    def _compile_config(self):
        if self.optimizer is None:
            return None
        return {"optimizer": optimizers_module.serialize(self.optimizer),
                "loss": _map_identifiers(losses_module.serialize, self.loss),
                "metrics": _map_identifiers(
                    lambda m: m if isinstance(m, str) else metrics_module.serialize(m),
                    self._metric_identifiers)}

    def _compile_from_config(self, config, custom_objects=None):
        self.compile(optimizer=optimizers_module.deserialize(config["optimizer"],
                                                             custom_objects=custom_objects),
                     loss=_map_identifiers(losses_module.get, config["loss"]),
                     metrics=_map_identifiers(
                         lambda m: m if isinstance(m, str) else metrics_module.get(m),
                         config.get("metrics", [])))

    def _require_compiled(self, what):
        if self.optimizer is None or self.loss is None:
            raise ValueError(f"{what}: call model.compile(optimizer, loss) first")

    # -- one batch -----------------------------------------------------------------------
    def _to_backend(self, array):
        if isinstance(array, dict):
            return {k: Tensor(v, backend=self.backend) for k, v in array.items()}
        if isinstance(array, list):
            return [Tensor(v, backend=self.backend) for v in array]
        return Tensor(array, backend=self.backend)

    def _loss_value(self, y, y_pred):
        if self._structured_data:  # functional models (models/outputs.py)
            loss = self._outputs_loss(y, y_pred)
        else:
            loss = self.loss(y, y_pred)
        for penalty in self.losses:
            loss = loss + penalty
        return loss

    def _train_step(self, x, y, where="in train_on_batch"):
        """One update; returns the loss as a float. A NaN/Inf loss raises before the
        weights change."""
        y_t = self._to_backend(y)
        y_pred = self(self._to_backend(x), training=True)
        with checks.deferred() as pending:
            loss = self._loss_value(y_t, y_pred)
        value = checks.read(loss.data, pending)  # the step's one device-to-host copy
        if not math.isfinite(value):
            raise FloatingPointError(
                f"the loss became {value} {where}; the weights are left as they were "
                "before this step. Lower the learning rate, check the data for NaN/Inf, "
                "or add gradient clipping (clipnorm=)")
        weights = self.trainable_weights
        for w in weights:
            w.zero_grad()
        loss.backward()
        self.optimizer.step(weights)
        with no_grad():
            self._update_metrics(y_t, y_pred)
        return value

    def _test_step(self, x, y):
        """The loss of one batch as a float (metrics updated)."""
        with no_grad():
            y_t = self._to_backend(y)
            y_pred = self(self._to_backend(x), training=False)
            with checks.deferred() as pending:
                loss = self._loss_value(y_t, y_pred)
            value = checks.read(loss.data, pending)  # before the metrics see bad labels
            self._update_metrics(y_t, y_pred)
        return value

    def _update_metrics(self, y_true, y_pred):
        if self._structured_data:  # functional models (models/outputs.py)
            self._update_output_metrics(y_true, y_pred)
            return
        for m in self.compiled_metrics:
            m.update_state(y_true, y_pred)

    def _logs(self, loss_mean, prefix=""):
        logs = {prefix + "loss": loss_mean}
        for m in self.compiled_metrics:
            logs[prefix + m.name] = m.result()
        return logs

    def _reset_metrics(self):
        for m in self.compiled_metrics:
            m.reset_state()

    def train_on_batch(self, x, y):
        """One optimizer step on one batch; returns the loss, or ``[loss, *metrics]``."""
        self._require_compiled("train_on_batch")
        x, y = _check_xy(x, y, structured=self._structured_data)
        self._reset_metrics()
        return self._batch_result(self._train_step(x, y))

    def test_on_batch(self, x, y):
        """The loss (and metrics) on one batch, without updating anything."""
        self._require_compiled("test_on_batch")
        x, y = _check_xy(x, y, structured=self._structured_data)
        self._reset_metrics()
        return self._batch_result(self._test_step(x, y))

    def _batch_result(self, loss):
        if not self.compiled_metrics:
            return loss
        return [loss] + [m.result() for m in self.compiled_metrics]

    # -- loops ---------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0,
            steps_per_epoch=None):
        """Train for ``epochs`` epochs (counting from ``initial_epoch``).

        Args:
            x, y: arrays of samples and targets; or ``x`` a generator / iterable of
                ``(x_batch, y_batch)`` with ``steps_per_epoch`` batches per epoch.
            batch_size: samples per step (default 32).
            verbose: 0 silent, 1 a progress bar per epoch (tqdm; loss and metrics in its
                postfix), 2 one line per epoch.
            validation_split: the fraction of the (unshuffled) samples, taken from the end,
                held out for validation.
            validation_data: ``(x_val, y_val)``, evaluated after each epoch.
            shuffle: reshuffle the training samples every epoch (minidl's seeded RNG).
            initial_epoch: the epoch to resume at (for continuing an earlier run).

        Returns:
            History, whose ``history`` maps ``loss``, metric names and ``val_*`` to lists.

        Raises:
            FloatingPointError: the loss became NaN or infinite (names the epoch and step).
        """
        self._require_compiled("fit")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs={epochs!r} must be a non-negative integer")
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split={validation_split!r} must be in [0, 1)")
        if verbose not in (0, 1, 2, "auto"):
            raise ValueError(f"verbose={verbose!r} must be 0, 1 or 2")
        verbose = 1 if verbose == "auto" else verbose
        batch_size = _check_batch_size(batch_size)
        batches = self._train_batches(x, y, batch_size, shuffle, validation_split,
                                      steps_per_epoch)
        if validation_split:
            validation_data = batches.validation
        if validation_data is not None and (
                not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2):
            raise ValueError("validation_data must be a pair (x_val, y_val), got a "
                             f"{type(validation_data).__name__}")
        history = callbacks_module.History()
        params = {"epochs": epochs, "steps": batches.steps, "verbose": verbose}
        if isinstance(callbacks, callbacks_module.Callback):  # one, without a list
            callbacks = [callbacks]
        cbs = callbacks_module.CallbackList(list(callbacks or []) + [history], self, params)
        self.stop_training = False
        self.history = history
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            _random.reseed(self.backend)  # device draws follow the checkpointed host state
            cbs.on_epoch_begin(epoch)
            self._reset_metrics()
            start = time.perf_counter()
            bar = tqdm(total=batches.steps, desc=f"Epoch {epoch + 1}/{epochs}",
                       disable=verbose != 1, leave=True, unit="step")
            total, count = 0.0, 0
            for step, (xb, yb) in enumerate(batches.epoch()):
                cbs.on_train_batch_begin(step)
                try:
                    loss = self._train_step(xb, yb, f"at epoch {epoch + 1}, step {step + 1}")
                except FloatingPointError:
                    bar.close()
                    raise
                total += loss * _length(xb)
                count += _length(xb)
                logs = self._logs(total / count)
                bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)
                bar.update(1)
                cbs.on_train_batch_end(step, dict(logs))  # running means, as Keras
                if self.stop_training:
                    break
            if count == 0:  # the data ran out: no logs of this epoch (never the last one's)
                bar.close()
                if epoch == initial_epoch:
                    raise ValueError("fit: x yielded no batches; give arrays, or a "
                                     "generator of (x_batch, y_batch) pairs")
                warnings.warn(f"fit: the input ran out of data at epoch {epoch + 1}; "
                              "training stops. Give a re-iterable (a list, a minidl data "
                              "iterator) or a generator that yields steps_per_epoch * "
                              "epochs batches", stacklevel=2)
                break
            if validation_data is not None:
                xv, yv = validation_data
                val = self.evaluate(xv, yv, batch_size=batch_size, verbose=0,
                                    return_dict=True)
                logs.update({"val_" + k: v for k, v in val.items()})
                bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)
            bar.close()
            if verbose == 2:
                items = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
                print(f"Epoch {epoch + 1}/{epochs} - {time.perf_counter() - start:.1f}s - "
                      f"{items}")
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end()
        return history

    def _train_batches(self, x, y, batch_size, shuffle, validation_split, steps_per_epoch):
        if y is None and x is not None and not _is_array(x) \
                and hasattr(x, "__iter__"):
            return _GeneratorBatches(x, steps_per_epoch, self._structured_data)
        x, y = _check_xy(x, y, structured=self._structured_data)
        if y is None:
            raise ValueError("fit needs targets y")
        return _ArrayBatches(x, y, batch_size, shuffle, validation_split)

    def evaluate(self, x=None, y=None, batch_size=None, verbose=1, return_dict=False,
                 callbacks=None):
        """The mean loss (and metrics) over ``x``; ``[loss, *metrics]`` or a dict."""
        self._require_compiled("evaluate")
        x, y = _check_xy(x, y, structured=self._structured_data)
        batch_size = _check_batch_size(batch_size)
        cbs = callbacks_module.CallbackList(callbacks, self, {"verbose": verbose})
        self._reset_metrics()
        cbs.on_test_begin()
        total = 0.0
        starts = range(0, _length(x), batch_size)
        for step, s in enumerate(tqdm(starts, desc="Evaluate", disable=verbose != 1,
                                      unit="step")):
            cbs.on_test_batch_begin(step)
            xb, yb = _take(x, slice(s, s + batch_size)), _take(y, slice(s, s + batch_size))
            total += self._test_step(xb, yb) * _length(xb)
            cbs.on_test_batch_end(step)
        logs = self._logs(total / _length(x))
        cbs.on_test_end(logs)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose=0, callbacks=None):
        """Predictions for ``x`` as a host NumPy array (a list or dict of them for a
        model with several outputs), computed in batches."""
        x = _as_structure(x, "x") if self._structured_data else _as_array(x, "x")
        batch_size = _check_batch_size(batch_size)
        cbs = callbacks_module.CallbackList(callbacks, self, {"verbose": verbose})
        cbs.on_predict_begin()
        outputs = []
        with no_grad():
            for step, s in enumerate(tqdm(range(0, _length(x), batch_size), desc="Predict",
                                          disable=verbose != 1, unit="step")):
                cbs.on_predict_batch_begin(step)
                xb = self._to_backend(_take(x, slice(s, s + batch_size)))
                outputs.append(_to_host(self(xb, training=False)))
                cbs.on_predict_batch_end(step)
        cbs.on_predict_end()
        if not outputs:
            raise ValueError("predict: x has no samples")
        return _concatenate(outputs)


class _ArrayBatches:
    """Mini-batches of host arrays, reshuffled every epoch with minidl's RNG; the last
    partial batch is kept."""

    def __init__(self, x, y, batch_size, shuffle, validation_split):
        if validation_split:
            cut = int(_length(x) * (1.0 - validation_split))
            if cut == 0 or cut == _length(x):
                raise ValueError(f"validation_split={validation_split} leaves no "
                                 f"{'training' if cut == 0 else 'validation'} samples out "
                                 f"of {_length(x)}")
            self.validation = (_take(x, slice(cut, None)), _take(y, slice(cut, None)))
            x, y = _take(x, slice(None, cut)), _take(y, slice(None, cut))
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self.steps = -(-_length(x) // batch_size)

    def epoch(self):
        n = _length(self.x)
        order = _random.host_generator().permutation(n) if self.shuffle else None
        for s in range(0, n, self.batch_size):
            if order is None:
                batch = slice(s, s + self.batch_size)
                yield _take(self.x, batch), _take(self.y, batch)
            else:
                idx = order[s:s + self.batch_size]
                yield _take(self.x, idx), _take(self.y, idx)


class _GeneratorBatches:
    """Batches from an iterable of ``(x, y)``: ``steps_per_epoch`` per epoch (all of a
    re-iterable, such as a list or a minidl data iterator, when not given)."""

    validation = None

    def __init__(self, source, steps_per_epoch, structured=False):
        self.source = source
        self.structured = structured
        self.steps = steps_per_epoch if steps_per_epoch is not None else (
            len(source) if hasattr(source, "__len__") else None)
        self._iterator = None

    def epoch(self):
        source = self.source
        # a one-shot generator continues where the last epoch stopped
        iterator = source if iter(source) is source else iter(source)
        for step, batch in enumerate(iterator):
            yield _pair(batch, self.structured)
            if self.steps is not None and step + 1 >= self.steps:
                return


def _pair(batch, structured=False):
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError("a generator given to fit must yield (x_batch, y_batch) pairs")
    x, y = _check_xy(batch[0], batch[1], structured=structured)
    return x, y
