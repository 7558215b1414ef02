"""Callbacks: hooks into ``fit`` / ``evaluate`` / ``predict`` with Keras's names.

``fit`` calls ``on_train_begin``, then per epoch ``on_epoch_begin``, per batch
``on_train_batch_begin`` / ``on_train_batch_end``, ``on_epoch_end(epoch, logs)`` (logs hold
``loss``, the metrics, and ``val_*`` when validating), then ``on_train_end``. A callback
stops training by setting ``self.model.stop_training = True``.

In data-parallel training (``minidl.distribution``) every process runs the callbacks with
the same logs (those of all processes together), so they take the same decisions; only
process 0 prints and writes files (``ModelCheckpoint``, ``CSVLogger``).

>>> import minidl as mdl
>>> seen = []
>>> cb = mdl.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
>>> cb.on_epoch_end(0, {"loss": 1.0}); seen
[0]
"""
import csv
import math
import numbers
import os
import shutil
import string
import sys
import time
import warnings

from tqdm.auto import tqdm

from . import distribution
from .validation import check_bool as _check_bool
from .validation import check_int as _check_int
from .validation import check_number as _check_number

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "ModelCheckpoint",
           "EarlyStopping", "ReduceLROnPlateau", "LearningRateScheduler", "CSVLogger",
           "TerminateOnNaN", "LambdaCallback", "pack_state", "unpack_state"]


# -- argument checks ---------------------------------------------------------------------
def _check_monitor(monitor):
    if not isinstance(monitor, str) or not monitor:
        raise TypeError(f"monitor={monitor!r} must be the name of a logged value, e.g. "
                        "'val_loss'")
    return monitor


def _writes_files():
    """False on the processes other than 0 of data-parallel training."""
    parallel = distribution.data_parallel()
    return parallel is None or parallel.writes_files()


def _print(text):
    if _writes_files():
        print(text)


class Callback:
    """Base class: every hook does nothing; ``self.model`` and ``self.params`` are set
    by ``fit``.

    A callback with counters to resume returns them from ``get_state()`` (JSON values
    and NumPy arrays) and takes them back in ``set_state(state)``: ``ModelCheckpoint``
    saves them with the model, and a ``fit`` resumed from that file (``initial_epoch >
    0``) restores them into the callbacks of the same classes, in the same order.
    """

    def __init__(self) -> None:
        self.model = None
        self.params = {}

    def get_state(self):
        """The counters and best values to keep in a checkpoint; None: nothing."""
        return None

    def set_state(self, state):
        """Continue from ``get_state()``'s value."""

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


class CallbackList:
    """Calls a hook on every callback in order (``defaults``, such as ``History`` and
    ``ProgbarLogger``, after the user's). At an epoch's end the callbacks that save the
    model (``ModelCheckpoint``) come last, so that a checkpoint holds the epoch's
    complete state (a learning rate just reduced, the other callbacks' counters)."""

    def __init__(self, callbacks, model, params, defaults=()) -> None:
        if isinstance(callbacks, Callback):  # one callback given without a list
            callbacks = [callbacks]
        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            raise TypeError(f"callbacks={callbacks!r} must be a list of callbacks")
        self.callbacks = list(callbacks or []) + list(defaults)
        if "metrics" in params:  # the log keys of the run, with those callbacks add
            params = {**params, "metrics": list(params["metrics"]) + [
                key for cb in self.callbacks for key in getattr(cb, "_adds_logs", ())]}
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be minidl.callbacks.Callback instances, "
                                f"got {type(cb).__name__}")
            cb.set_model(model)
            cb.set_params(params)

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args):
            for cb in self.callbacks:
                getattr(cb, hook)(*args)
        return call

    def on_epoch_end(self, epoch, logs=None):
        savers = [cb for cb in self.callbacks if getattr(cb, "_saves_model", False)]
        for cb in [cb for cb in self.callbacks if cb not in savers] + savers:
            cb.on_epoch_end(epoch, logs)

    def _keys(self):
        """A key per callback: its class name, ``_<n>`` added for the n-th repeat."""
        seen = {}
        for cb in self.callbacks:
            name = type(cb).__name__
            seen[name] = seen.get(name, -1) + 1
            yield cb, name if seen[name] == 0 else f"{name}_{seen[name]}"

    def get_state(self):
        """``{key: state}`` of the callbacks that keep one."""
        states = {key: cb.get_state() for cb, key in self._keys()}
        return {key: state for key, state in states.items() if state is not None}

    def set_state(self, states):
        for cb, key in self._keys():
            if key in states:
                cb.set_state(states[key])


def pack_state(states):  # host
    """``(value, arrays)``: ``states`` as JSON values, each array replaced by ``{"array":
    i}``, its index in the list ``arrays``."""
    arrays = []

    def pack(value):
        if isinstance(value, dict):
            return {str(k): pack(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [pack(v) for v in value]
        if hasattr(value, "dtype") and hasattr(value, "shape"):
            arrays.append(value)
            return {"array": len(arrays) - 1}
        return value

    return pack(states), arrays


def unpack_state(value, arrays):  # host
    """The inverse of ``pack_state``.

    Raises:
        ValueError: an array index that is not in ``arrays``.
    """
    if isinstance(value, dict):
        if set(value) == {"array"}:
            index = value["array"]
            if isinstance(index, bool) or not isinstance(index, int) or \
                    not 0 <= index < len(arrays):
                raise ValueError(f"callback state names array {index!r} of {len(arrays)}")
            return arrays[index]
        return {k: unpack_state(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [unpack_state(v, arrays) for v in value]
    return value


def _float(value):
    return None if value is None else float(value)


class History(Callback):
    """Records every epoch's logs: ``history.history["loss"]`` is a list, one per epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _format(value):
    """A log value as Keras's progress bar shows it."""
    if isinstance(value, str) or not isinstance(value, numbers.Real):
        return str(value)
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def _duration(seconds, steps):
    per = seconds / max(steps, 1)
    per_step = f"{per:.0f}s/step" if per >= 1 else (
        f"{per * 1e3:.0f}ms/step" if per >= 1e-3 else f"{per * 1e6:.0f}us/step")
    return f"{seconds:.1f}s {per_step}"


def _is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _columns(stream):
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return shutil.get_terminal_size().columns  # $COLUMNS, else 80


class ProgbarLogger(Callback):
    """Print the progress of ``fit`` / ``evaluate`` / ``predict`` to ``sys.stdout``; they
    add it when ``verbose`` is not 0.

    Each epoch ends with one line, whatever the terminal's width (a long line wraps, it is
    never cut): ``Epoch 2/5 - 8/8 - 0.4s 52ms/step - loss: 0.6931 - accuracy: 0.7800 -
    val_loss: 0.6502 - val_accuracy: 0.8000``. With ``verbose=1`` on a terminal a live
    bar (tqdm) shows the running loss and metrics while the epoch runs and is erased
    before the line; when the output is not a terminal (a log file) only the lines are
    written, with no control characters. ``verbose=2`` writes only the lines.
    """

    def __init__(self) -> None:
        super().__init__()
        self._bar = None
        self._title, self._steps, self._seen, self._start = "", None, 0, 0.0

    def _begin(self, title):
        self.close()
        self._title, self._steps, self._seen = title, self.params.get("steps"), 0
        self._start = time.perf_counter()
        stream = sys.stdout
        if self.params.get("verbose", 1) == 1 and _is_terminal(stream):
            self._bar = tqdm(total=self._steps, desc=title, file=stream, leave=False,
                             unit="step", ncols=_columns(stream), dynamic_ncols=False)

    def _step(self, logs=None):
        self._seen += 1
        if self._bar is None:
            return
        if logs:
            self._bar.set_postfix({k: _format(v) for k, v in logs.items()}, refresh=False)
        self._bar.update(1)
        if self._seen == self._steps:  # the steps are done: the line follows
            self.close()

    def _end(self, logs=None):
        self.close()
        seconds = time.perf_counter() - self._start
        steps = f"{self._seen}/{self._steps}" if self._steps else f"{self._seen}"
        parts = [self._title, steps, _duration(seconds, self._seen)]
        parts += [f"{k}: {_format(v)}" for k, v in (logs or {}).items()]
        sys.stdout.write(" - ".join(parts) + "\n")
        sys.stdout.flush()

    def close(self):
        """Erase the live bar, if any (also when ``fit`` stops on an error)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        self._begin(f"Epoch {epoch + 1}/{self.params.get('epochs')}")

    def on_train_batch_end(self, batch, logs=None):
        self._step(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._end(logs)

    def on_train_end(self, logs=None):
        self.close()

    def on_test_begin(self, logs=None):
        self._begin("Evaluate")

    def on_test_batch_end(self, batch, logs=None):
        self._step(logs)

    def on_test_end(self, logs=None):
        self._end(logs)

    def on_predict_begin(self, logs=None):
        self._begin("Predict")

    def on_predict_batch_end(self, batch, logs=None):
        self._step()

    def on_predict_end(self, logs=None):
        self._end()


def _check_mode(mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode={mode!r} must be 'auto', 'min' or 'max'")
    return mode


def _direction(mode, monitor, model):
    """``"min"`` or ``"max"``: ``mode``, or for ``"auto"`` Keras 3's rule on ``monitor``
    without its ``val_`` prefix: ``loss`` is minimized; a compiled metric of that name is
    minimized or maximized as its ``_direction`` (``"down"`` / ``"up"``) says.

    Raises:
        ValueError: ``"auto"`` for a quantity whose direction is unknown.
    """
    if mode != "auto":
        return mode
    name = monitor.removeprefix("val_")
    for metric in getattr(model, "compiled_metrics", None) or ():
        direction = getattr(metric, "_direction", None)
        if getattr(metric, "name", None) == name and direction is not None:
            return "max" if direction == "up" else "min"
    if name == "loss":
        return "min"
    raise ValueError(f"mode='auto' cannot tell whether monitor={monitor!r} should be "
                     "minimized or maximized (it is not the loss nor a compiled metric "
                     "with a known direction): pass mode='min' or mode='max'")


def _improved(mode, current, best, min_delta=0.0):
    if best is None:
        return True
    return current < best - min_delta if mode == "min" else current > best + min_delta


class _Monitoring(Callback):
    """A callback that watches ``monitor`` in the epoch logs and warns once, at the first
    epoch end where it is missing. ``mode="auto"`` minimizes the loss and follows a
    compiled metric's direction (``val_`` prefix ignored); any other quantity needs
    ``mode="min"`` or ``"max"`` (a ``ValueError`` at the start of ``fit``)."""

    def __init__(self, monitor, mode):
        super().__init__()
        self.monitor = _check_monitor(monitor)
        self.mode = _check_mode(mode)
        self._mode = None  # "min" or "max", decided with the model's metrics known
        self._warned = False

    def _decide_mode(self):
        """Decide the direction now (at ``on_train_begin``: a bad ``"auto"`` fails before
        the first epoch, and a recompiled model is looked at again)."""
        self._mode = _direction(self.mode, self.monitor, self.model)

    def _improved(self, current, reference, min_delta=0.0):
        if self._mode is None:  # hooks called without on_train_begin
            self._decide_mode()
        return _improved(self._mode, current, reference, min_delta)

    def _current(self, logs, what):
        """``logs[monitor]``, or None (warning once) when it is missing."""
        current = (logs or {}).get(self.monitor)
        if current is None and not self._warned:
            self._warned = True
            warnings.warn(f"{what} is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {', '.join(logs or {})}",
                          stacklevel=3)
        return current


def _template_fields(filepath):
    """The names of the format fields of ``filepath`` (``{val_loss:.2f}`` -> val_loss)."""
    try:
        parsed = list(string.Formatter().parse(filepath))
    except ValueError as err:
        raise ValueError(f"filepath={filepath!r} is not a valid format template: "
                         f"{err}") from None
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in parsed if name}


class ModelCheckpoint(_Monitoring):
    """Save the model (or only its weights) during training.

    Args:
        filepath: where to save; may hold ``{epoch}`` and log keys as format fields, e.g.
            ``"ckpt/{epoch:02d}-{val_loss:.3f}.minidl"``; missing folders are created. A
            field that the run does not log is an error before the first epoch.
        monitor: the log value judged by ``save_best_only`` (missing: a warning, once,
            and no save).
        verbose: 1 prints a line on each save.
        save_best_only: save only when ``monitor`` improved.
        save_weights_only: ``model.save_weights`` instead of ``model.save``.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        save_freq: ``"epoch"`` or an int (save every that many batches).
        initial_value_threshold: the value ``monitor`` must beat the first time.

    Saves are atomic: a run that dies while writing leaves the previous file intact. A
    whole-model save also holds the state of the run's callbacks (``get_state``), so that
    ``fit(initial_epoch=...)`` on the loaded model continues as the run would have.
    """

    _saves_model = True

    def __init__(self, filepath: str | bytes | os.PathLike, monitor: str = "val_loss",
                 verbose: int = 0, save_best_only: bool = False,
                 save_weights_only: bool = False, mode: str = "auto",
                 save_freq: str | int = "epoch",
                 initial_value_threshold: float | None = None) -> None:
        super().__init__(monitor, mode)
        if save_freq != "epoch" and (isinstance(save_freq, bool) or
                                     not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"save_freq={save_freq!r} must be 'epoch' or a positive int")
        if not isinstance(filepath, (str, os.PathLike)):
            raise TypeError(f"filepath={filepath!r} must be a path (str or os.PathLike)")
        self.filepath = os.fspath(filepath)
        self._fields = _template_fields(self.filepath)
        self.verbose = verbose
        self.save_best_only = _check_bool(save_best_only, "save_best_only")
        self.save_weights_only = _check_bool(save_weights_only, "save_weights_only")
        self.save_freq = save_freq
        self.best = _check_number(initial_value_threshold, "initial_value_threshold",
                                  optional=True)
        self._batches = 0
        self._epoch = 0

    def on_train_begin(self, logs=None):
        if self.save_best_only:
            self._decide_mode()
        if "metrics" not in self.params:
            return
        logged = set(self.params["metrics"]) | {"epoch"}
        if self.save_freq != "epoch":  # saves between epochs see the training logs only
            logged = {k for k in logged if not k.startswith("val_")} | {"batch"}
        missing = sorted(self._fields - logged)
        if missing:
            raise ValueError(f"ModelCheckpoint(filepath={self.filepath!r}) names "
                             f"{missing}, which this fit does not log; it logs "
                             f"{sorted(logged)}")

    def get_state(self):
        return {"best": _float(self.best), "batches": self._batches}

    def set_state(self, state):
        self.best, self._batches = state["best"], state["batches"]

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch":
            self._batches += 1
            if self._batches % self.save_freq == 0:
                self._save(self._epoch, logs or {}, batch=batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, logs or {})

    def _save(self, epoch, logs, **fields):
        path = self.filepath.format(**{"epoch": epoch + 1, **fields, **logs})
        if self.save_best_only:
            current = self._current(logs, "Saving the best model")
            if current is None or not self._improved(current, self.best):
                return
            self.best = current
        if not _writes_files():
            return
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved model to {path}")


class EarlyStopping(_Monitoring):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs;
    with ``restore_best_weights`` the best epoch's weights are put back. A ``monitor``
    missing from the logs warns once and stops nothing.

    ``best`` starts as None: every improvement on it records the epoch (and its weights).
    A ``baseline`` only decides whether that improvement restarts the count: one that
    does not also beat the baseline leaves ``wait`` counting, so a run that has not
    beaten the baseline for ``patience`` epochs stops at its next epoch without a new
    best (values that keep improving never stop it), as in Keras.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0) -> None:
        super().__init__(monitor, mode)
        self.min_delta = abs(_check_number(min_delta, "min_delta"))
        self.patience = _check_int(patience, "patience")
        self.verbose = verbose
        self.baseline = _check_number(baseline, "baseline", optional=True)
        self.restore_best_weights = _check_bool(restore_best_weights,
                                                "restore_best_weights")
        self.start_from_epoch = _check_int(start_from_epoch, "start_from_epoch")
        self.stopped_epoch = 0

    def on_train_begin(self, logs=None):
        self._decide_mode()
        self.wait = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0
        self.stopped_epoch = 0

    def get_state(self):
        return {"wait": self.wait, "best": _float(self.best), "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch, "best_weights": self.best_weights}

    def set_state(self, state):
        self.wait, self.best = state["wait"], state["best"]
        self.best_epoch, self.stopped_epoch = state["best_epoch"], state["stopped_epoch"]
        self.best_weights = state["best_weights"]

    def on_epoch_end(self, epoch, logs=None):
        current = self._current(logs, "Early stopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._improved(current, self.best, self.min_delta):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improved(current, self.baseline,
                                                       self.min_delta):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch and self.verbose:
            _print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(_Monitoring):
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without
    improvement of ``monitor`` (not below ``min_lr``; then wait ``cooldown`` epochs). A
    ``monitor`` missing from the logs warns once and changes nothing."""

    _adds_logs = ("learning_rate",)

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0) -> None:
        super().__init__(monitor, mode)
        factor = _check_number(factor, "factor")
        if not 0 < factor < 1:
            raise ValueError(f"factor={factor!r} must be in (0, 1)")
        self.factor, self.patience = factor, _check_int(patience, "patience")
        self.verbose, self.min_delta = verbose, _check_number(min_delta, "min_delta", 0)
        self.cooldown = _check_int(cooldown, "cooldown")
        self.min_lr = _check_number(min_lr, "min_lr", 0)
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_train_begin(self, logs=None):
        self._decide_mode()
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def get_state(self):
        return {"best": _float(self.best), "wait": self.wait,
                "cooldown_counter": self.cooldown_counter}

    def set_state(self, state):
        self.best, self.wait = state["best"], state["wait"]
        self.cooldown_counter = state["cooldown_counter"]

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = self._current(logs, "Learning rate reduction")
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current, self.best, self.min_delta):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(epoch)

    def _reduce(self, epoch):
        old = float(self.model.optimizer.learning_rate)
        if old > self.min_lr:
            new = max(old * self.factor, self.min_lr)
            self.model.optimizer.learning_rate = new
            if self.verbose:
                _print(f"Epoch {epoch + 1}: ReduceLROnPlateau learning rate {new:g}")
            self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch's start to ``schedule(epoch, lr)``."""

    _adds_logs = ("learning_rate",)

    def __init__(self, schedule, verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"schedule must be callable, got {type(schedule).__name__}")
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.schedule(epoch, float(self.model.optimizer.learning_rate)))
        if not math.isfinite(lr):
            raise ValueError(f"schedule returned learning rate {lr!r} at epoch {epoch}")
        self.model.optimizer.learning_rate = lr
        if self.verbose:
            _print(f"Epoch {epoch + 1}: LearningRateScheduler learning rate {lr:g}")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class CSVLogger(Callback):
    """Append each epoch's logs as a CSV row (``epoch`` first, keys sorted)."""

    def __init__(self, filename: str | bytes | os.PathLike, separator: str = ",",
                 append: bool = False) -> None:
        super().__init__()
        if not isinstance(separator, str) or len(separator) != 1:
            raise TypeError(f"separator={separator!r} must be a one-character string")
        self.filename, self.separator = os.fspath(filename), separator
        self.append = _check_bool(append, "append")
        self.keys = None
        self._file = None

    def on_train_begin(self, logs=None):
        self._file = None
        if not _writes_files():
            return
        exists = self.append and os.path.exists(self.filename)
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = None
        self._has_header = exists and os.path.getsize(self.filename) > 0

    def on_epoch_end(self, epoch, logs=None):
        if self._file is None:
            return
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self.keys,
                                          delimiter=self.separator, extrasaction="ignore")
            if not self._has_header:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self.keys}})
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()


class TerminateOnNaN(Callback):
    """Stop training when a batch's loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            _print(f"Batch {batch}: invalid loss {loss}, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions: ``on_epoch_begin(epoch, logs)``,
    ``on_epoch_end(epoch, logs)``, ``on_train_batch_begin(batch, logs)``,
    ``on_train_batch_end(batch, logs)``, ``on_train_begin(logs)``,
    ``on_train_end(logs)``."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs) -> None:
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for name, fn in hooks.items():
            if not name.startswith("on_") or not hasattr(Callback, name):
                raise TypeError(f"LambdaCallback has no hook {name!r}")
            if fn is not None:
                setattr(self, name, _with_logs(name, fn))


def _with_logs(name, fn):
    """Call ``fn`` as Keras does: ``(epoch_or_batch, logs)`` or ``(logs)``."""
    if name.endswith(("train_begin", "train_end", "test_begin", "test_end",
                      "predict_begin", "predict_end")):
        return lambda logs=None: fn(logs)
    return lambda index, logs=None: fn(index, logs)
