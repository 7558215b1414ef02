"""``Optimizer``: the shared machinery of every optimizer (Keras 3's ``BaseOptimizer``).

One update (``apply_gradients`` or ``step``), for the weights that have a gradient:

1. gradients are divided by ``loss_scale_factor`` (when set), then clipped:
   ``clipvalue`` clips each element to ``[-v, v]``; ``clipnorm`` rescales each gradient
   to norm at most ``c`` (``g * c / max(||g||, c)``); ``global_clipnorm`` rescales all of
   them by ``c / max(global_norm, c)``;
2. decoupled weight decay (when ``weight_decay`` is set): ``w -= w * weight_decay * lr``;
3. with ``gradient_accumulation_steps = n``: on all but every ``n``-th call the gradients
   are only added to accumulators; on the ``n``-th the mean of the ``n`` is used;
4. the optimizer's own update rule (``update_step``), with ``lr`` the current learning
   rate (a float, or a schedule or callable evaluated at ``iterations``), and each
   weight's ``constraint`` right after its update;
   an optimizer whose rule is written on arrays (``_rule``: all of minidl's) runs it
   once over all the weights of one backend and dtype (``fused``, the default):
   the gradients are gathered into one flat buffer, while the weights and each slot live
   in one flat buffer each (each weight's data and slot is a view of it, made again when
   a weight is given new data), so the update runs in place; every element sees the same
   operations in the same order as in the per-weight update, so the result is bit for
   bit the same;
5. the exponential moving average of the weights (``use_ema``);
6. ``iterations += 1``.

Updates run on ``w.data`` in place with array maths only (nothing is recorded). State
arrays ("slots") live on each weight's backend in its dtype.

State order (``variables`` / ``get_state`` / ``set_state``), as Keras 3 saves it:
``iterations``, ``learning_rate`` (only when it is a plain number), the moving averages
(``use_ema``), the gradient accumulators (``gradient_accumulation_steps``), then the
optimizer's slots, slot by slot (e.g. Adam: every ``momentum``, then every ``velocity``),
each in the order the weights were first seen (``build``), then the optimizer's scalar
state (e.g. Nadam's ``u_product``). The learning rate is a float64 scalar, so a restored
optimizer continues bit for bit.
"""
import inspect
import math
import re

import numpy

from .. import backend as _backend
from ..autograd import Tensor
from . import schedules

__all__ = ["Optimizer"]


def _positive(value, name, allow_none=True, allow_zero=False):
    """``value`` as a float > 0 (>= 0 with ``allow_zero``); None passes when allowed.

    Raises:
        TypeError: ``value`` is not a number (a bool is not one).
        ValueError: it is negative, zero (unless allowed), NaN or infinite.
    """
    if value is None and allow_none:
        return None
    expected = f"a finite {'non-negative' if allow_zero else 'positive'} number"
    if isinstance(value, (bool, numpy.bool_)) or \
            not isinstance(value, (int, float, numpy.number)):
        raise TypeError(f"{name}={value!r} must be {expected}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name}={value!r} must be {expected}")
    return float(value)


def _count(value, name):
    """``value`` as an int >= 1; None passes (not set)."""
    if value is None:
        return None
    if isinstance(value, (bool, numpy.bool_)) or \
            not isinstance(value, (int, numpy.integer)):
        raise TypeError(f"{name}={value!r} must be an int >= 1 or None")
    if value < 1:
        raise ValueError(f"{name}={value!r} must be an int >= 1 or None")
    return int(value)


def _unit_interval(value, name):
    """``value`` as a float in ``[0, 1]`` (errors as ``_positive``)."""
    number = _positive(value, name, allow_none=False, allow_zero=True)
    if number > 1:
        raise ValueError(f"{name}={value!r} must be in [0, 1]")
    return number


class Optimizer:
    """Base class of the optimizers.

    Args:
        learning_rate: a finite float >= 0, a ``LearningRateSchedule`` (called with
            ``iterations``) or a callable (no argument, or one: ``iterations``); what a
            schedule or callable gives is checked at each update the same way.
        weight_decay: decoupled weight decay factor, or None.
        clipnorm, clipvalue, global_clipnorm: gradient clipping (at most one).
        use_ema, ema_momentum, ema_overwrite_frequency: keep an exponential moving
            average of the weights (``avg = m * avg + (1 - m) * w``, ``m = 0`` at the
            first step); every ``ema_overwrite_frequency`` steps the weights are
            overwritten with it (``finalize_variable_values`` does it on demand).
        loss_scale_factor: gradients are divided by it.
        gradient_accumulation_steps: apply the mean of this many gradients every this
            many calls (the others only accumulate).
        name: the optimizer's name.

    Raises:
        TypeError: for an unknown keyword argument, or a number argument that is not a
            number.
        ValueError: for bad values (each named with the value), or more than one
            clipping option.
    """

    slot_names = ()
    scalar_state_names = ()   # float attributes saved after the slots (Nadam's u_product)
    fused = True              # False: the per-weight update (the reference)

    def __init__(self, learning_rate, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None, use_ema: bool = False,
                 ema_momentum: float = 0.99, ema_overwrite_frequency: int | None = None,
                 loss_scale_factor: float | None = None,
                 gradient_accumulation_steps: int | None = None, name: str | None = None,
                 **kwargs) -> None:
        if "lr" in kwargs:
            learning_rate = kwargs.pop("lr")
        if kwargs:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword argument(s) "
                            f"{sorted(kwargs)}")
        self.name = name or type(self).__name__.lower()
        self.weight_decay = _positive(weight_decay, "weight_decay", allow_zero=True)
        self.clipnorm = _positive(clipnorm, "clipnorm")
        self.clipvalue = _positive(clipvalue, "clipvalue")
        self.global_clipnorm = _positive(global_clipnorm, "global_clipnorm")
        if sum(v is not None for v in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("only one of clipnorm, clipvalue and global_clipnorm can be "
                             f"set; got clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        self.use_ema = bool(use_ema)
        self.ema_momentum = _unit_interval(ema_momentum, "ema_momentum")
        self.ema_overwrite_frequency = _count(ema_overwrite_frequency,
                                              "ema_overwrite_frequency")
        self.loss_scale_factor = _positive(loss_scale_factor, "loss_scale_factor")
        self.gradient_accumulation_steps = _count(gradient_accumulation_steps,
                                                  "gradient_accumulation_steps")
        self.learning_rate = learning_rate
        self.iterations = 0
        self._weights = []        # the weights seen, in build order
        self._index = {}          # id(weight) -> position in _weights
        self._slots = {}          # slot name -> list of arrays aligned with _weights
        self._exclude_ids, self._exclude_names = set(), ()
        # (array type, dtype) -> (weight ids, flat slots, slot views, flat weights, views)
        self._flat = {}

    # -- learning rate -----------------------------------------------------------------
    @property
    def learning_rate(self):
        """The learning rate of the next update, as a float.

        Raises:
            ValueError: a schedule or callable gave a negative or non-finite rate (named
                with the step), so no update runs with it.
        """
        lr = self._learning_rate
        if not callable(lr):
            return lr
        if isinstance(lr, schedules.LearningRateSchedule):
            value = lr(self.iterations)
        else:
            takes_step = len(inspect.signature(lr).parameters) > 0
            value = lr(self.iterations) if takes_step else lr()
        rate = float(value)
        if not math.isfinite(rate) or rate < 0:
            raise ValueError(f"learning_rate={lr!r} gave {rate!r} at step {self.iterations}"
                             "; a learning rate must be a finite number >= 0")
        return rate

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, dict):
            value = schedules.deserialize(value)
        if not callable(value):
            value = _positive(value, "learning_rate", allow_none=False, allow_zero=True)
        self._learning_rate = value

    # -- building the state --------------------------------------------------------------
    def build(self, weights):
        """Create the state arrays of the weights not seen yet (zeros, or each slot's
        ``initial_slot_value``), on each weight's backend in its dtype."""
        for w in weights:
            if id(w) in self._index:
                continue
            self._index[id(w)] = len(self._weights)
            self._weights.append(w)
            for name in self._all_slot_names():
                self._slots.setdefault(name, []).append(self._initial_slot(name, w))

    def _all_slot_names(self):
        names = ["average"] if self.use_ema else []
        if self.gradient_accumulation_steps:
            names.append("accumulated_gradient")
        return names + list(self.slot_names)

    def _initial_slot(self, name, w):
        if name == "average":
            return w.data.copy()
        return w.xp.zeros_like(w.data)

    def _slot(self, name, w):
        """The state array ``name`` of weight ``w`` (moved to w's backend if needed)."""
        i = self._index[id(w)]
        array = self._slots[name][i]
        if not w.backend.owns(array):
            array = w.backend.asarray(array)
            self._slots[name][i] = array
        return array

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Skip weight decay for the weights in ``var_list`` and for weights whose name
        matches (``re.search``) one of ``var_names`` (e.g. ``["bias"]``)."""
        self._exclude_ids |= {id(w) for w in (var_list or ())}
        self._exclude_names = tuple(self._exclude_names) + tuple(var_names or ())

    def _decays(self, w):
        name = getattr(w, "name", None) or ""
        return id(w) not in self._exclude_ids and \
            not any(re.search(pattern, name) for pattern in self._exclude_names)

    # -- the update ----------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars) -> int:
        """Update each weight from its gradient (``zip(grads, weights)``; a gradient is an
        array or a Tensor; pairs with a None gradient are skipped).

        Returns:
            The new ``iterations``.

        Raises:
            ValueError: when no gradient is given, or a gradient's shape or backend
                differs from its weight's.
        """
        pairs = [(g, w) for g, w in grads_and_vars if g is not None]
        if not pairs:
            raise ValueError("apply_gradients: no gradient was provided for any weight")
        grads = [self._as_array(g, w) for g, w in pairs]
        weights = [w for _, w in pairs]
        lr = self.learning_rate  # a schedule's bad rate stops the update before any change
        self.build(weights)
        if self.loss_scale_factor is not None:
            grads = [g / self.loss_scale_factor for g in grads]
        grads = self._clip(grads)
        if self.weight_decay:
            for w in weights:
                if self._decays(w):
                    w.data -= w.data * (self.weight_decay * lr)
        if self.gradient_accumulation_steps:
            grads = self._accumulate(grads, weights)
        if grads is not None:
            self._before_update_steps()
            # a weight given twice is updated twice, one after the other
            fused = self._fusable() and len({id(w) for w in weights}) == len(weights)
            if fused:
                self._fused_update(grads, weights, lr)
            for g, w in zip(grads, weights):
                if not fused:
                    self.update_step(g, w, lr)
                if getattr(w, "constraint", None) is not None:
                    projected = w.constraint(w.data)
                    # in place: the weight stays a view of the fused flat buffer
                    w.data[...] = projected.data if isinstance(projected, Tensor) \
                        else projected
        if self.use_ema:
            self._update_moving_averages(weights)
        self.iterations += 1
        return self.iterations

    def step(self, weights) -> int:
        """Update each weight from its ``.grad`` (weights whose ``.grad`` is None are
        skipped). The gradients are left as they are (call ``zero_grad`` on the weights).

        Raises:
            ValueError: when no weight has a gradient.
        """
        weights = list(weights)
        return self.apply_gradients([(w.grad, w) for w in weights])

    def _as_array(self, g, w):
        if not isinstance(w, Tensor):
            raise ValueError("apply_gradients takes (gradient, weight) pairs with minidl "
                             f"Variables as weights, got a {type(w).__name__} weight")
        g, data = g.data if isinstance(g, Tensor) else g, w.data
        if not hasattr(g, "shape"):  # a list or a scalar
            g = w.backend.asarray(g, dtype=data.dtype)
        if tuple(g.shape) != data.shape:
            raise ValueError(f"gradient of shape {tuple(g.shape)} for weight "
                             f"{getattr(w, 'path', w.name)!r} of shape {w.shape}")
        if type(g) is not type(data) and not w.backend.owns(g):
            raise ValueError(f"gradient on another backend than weight "
                             f"{getattr(w, 'path', w.name)!r} ({w.backend.name})")
        return g if g.dtype == data.dtype else g.astype(data.dtype)

    def _accumulate(self, grads, weights):
        """Keras's gradient accumulation: every ``n``-th call applies the mean."""
        n = self.gradient_accumulation_steps
        accumulators = [self._slot("accumulated_gradient", w) for w in weights]
        if (self.iterations + 1) % n != 0:
            for acc, g in zip(accumulators, grads):
                acc += g
            return None
        mean = [(g + acc) / n for g, acc in zip(grads, accumulators)]
        for acc in accumulators:
            acc[...] = 0
        return mean

    def _clip(self, grads):
        if self.clipvalue is not None:
            v = self.clipvalue
            return [g.clip(-v, v) for g in grads]
        if (self.clipnorm is None and self.global_clipnorm is None) or not grads:
            return grads
        # the norms stay on the device: reading them back costs a copy and a wait per step
        xp = _backend.backend_of(grads[0]).xp
        if self.clipnorm is not None:
            c = self.clipnorm
            return [g * (c / xp.maximum(xp.sqrt((g * g).sum()), c)) for g in grads]
        c = self.global_clipnorm
        norm = xp.sqrt(sum((g * g).sum() for g in grads))
        return [g * (c / xp.maximum(norm, c)) for g in grads]

    def update_step(self, gradient, weight, learning_rate):
        """The optimizer's own rule: update ``weight.data`` (and its slots) in place."""
        if type(self)._rule is Optimizer._rule:
            raise NotImplementedError(f"{type(self).__name__}.update_step")
        self._rule(weight.xp, gradient, weight.data, lambda name: self._slot(name, weight),
                   learning_rate)

    def _rule(self, xp, gradient, w, slot, learning_rate):
        """The update rule on arrays: update ``w`` and the arrays ``slot(name)`` in place
        (elementwise only, so it runs alike on one weight or on a flat buffer of many)."""
        raise NotImplementedError(f"{type(self).__name__}._rule")

    def _fusable(self):
        return self.fused and type(self)._rule is not Optimizer._rule and \
            type(self).update_step is Optimizer.update_step

    def _fused_update(self, grads, weights, lr):
        """``_rule`` once per (backend, dtype) group over flat buffers. The weights and
        their slots are views of those buffers, so a step copies only the gradients."""
        groups = {}
        for g, w in zip(grads, weights):
            groups.setdefault((type(w.data), w.data.dtype), []).append((g, w))
        for key, pairs in groups.items():
            ws = [w for _, w in pairs]
            xp = ws[0].xp
            flat_w, flat_slots = self._flat_buffers(key, ws, xp)
            flat_g = xp.concatenate([g.reshape(-1) for g, _ in pairs])
            self._rule(xp, flat_g, flat_w, flat_slots.__getitem__, lr)

    def _flat_buffers(self, key, ws, xp):
        """The flat weight and slot buffers of the weights ``ws`` (one group), made again
        (from the current arrays, which become views of them) when the weights or an array
        changed (``assign``, ``set_state``, ``to``, another set of weights with
        gradients)."""
        ids = tuple(id(w) for w in ws)
        positions = [self._index[i] for i in ids]
        cached = self._flat.get(key)
        if cached is not None and cached[0] == ids and \
                all(w.data is view for w, view in zip(ws, cached[4])) and all(
                view is self._slots[name][i]
                for name, views in cached[2].items() for view, i in zip(views, positions)):
            return cached[3], cached[1]
        flat_w, w_views = _flatten(xp, [w.data for w in ws])
        for w, view in zip(ws, w_views):
            w.data = view
        flats, all_views = {}, {}
        for name in self.slot_names:
            flats[name], all_views[name] = _flatten(xp, [self._slot(name, w) for w in ws])
            for view, i in zip(all_views[name], positions):
                self._slots[name][i] = view
        self._flat[key] = (ids, flats, all_views, flat_w, w_views)
        return flat_w, flats

    def _before_update_steps(self):
        """Called once per applied update, before the update rule runs (fused or per
        weight)."""

    def _update_moving_averages(self, weights):
        momentum = self.ema_momentum if self.iterations != 0 else 0.0
        for w in weights:
            average = self._slot("average", w)
            average[...] = momentum * average + (1.0 - momentum) * w.data
        frequency = self.ema_overwrite_frequency
        if frequency and (self.iterations + 1) % frequency == 0:
            self.finalize_variable_values(weights)

    def finalize_variable_values(self, weights):
        """With ``use_ema``, overwrite the weights with their moving averages."""
        if not self.use_ema:
            return
        for w in weights:
            if id(w) in self._index:
                w.data[...] = self._slot("average", w)

    def to(self, backend):
        """Move every state array to ``backend`` now (a step would also move a weight's
        state to the weight's backend lazily); returns the optimizer."""
        b = _backend.resolve(backend)
        for arrays in self._slots.values():
            for i, array in enumerate(arrays):
                if not b.owns(array):
                    arrays[i] = b.asarray(array)
        return self

    # -- state ---------------------------------------------------------------------------
    @property
    def variables(self):
        """The state arrays in saving order (see the module docstring)."""
        # scalars are kept on the host: they are read there every step
        out = [numpy.asarray(self.iterations, dtype=numpy.int64)]  # host
        if not callable(self._learning_rate):
            out.append(numpy.asarray(self._learning_rate, dtype=numpy.float64))  # host
        for name in self._all_slot_names():
            out.extend(self._slots.get(name, []))
        out.extend(numpy.asarray(getattr(self, name), dtype=numpy.float64)  # host
                   for name in self.scalar_state_names)
        return out

    def get_state(self):
        """``variables`` as host NumPy arrays."""
        return [a.get() if hasattr(a, "get") else numpy.array(a, copy=True)  # host
                for a in self.variables]

    def set_state(self, state):
        """Restore ``get_state()`` output; call ``build(weights)`` first (same weights,
        same order) so the slots exist.

        Raises:
            ValueError: when the count or a shape differs.
        """
        state = list(state)
        mine = self.variables
        if len(state) != len(mine):
            raise ValueError(f"{type(self).__name__}.set_state: expected {len(mine)} "
                             f"arrays (iterations, learning rate, {len(mine) - 2} slots "
                             f"for {len(self._weights)} built weights), got {len(state)}; "
                             "call build(weights) first")
        for i, (old, new) in enumerate(zip(mine, state)):
            if tuple(numpy.shape(new)) != tuple(old.shape):
                raise ValueError(f"{type(self).__name__}.set_state: array {i} has shape "
                                 f"{tuple(numpy.shape(new))}, expected {tuple(old.shape)}")
        self.iterations = int(state[0])
        k = 1
        if not callable(self._learning_rate):
            self._learning_rate = float(state[1])
            k = 2
        for name in self._all_slot_names():
            for i, w in enumerate(self._weights):
                self._slots[name][i] = w.backend.asarray(state[k], dtype=w.dtype).copy()
                k += 1
        for name in self.scalar_state_names:
            setattr(self, name, float(state[k]))
            k += 1

    # -- configuration -------------------------------------------------------------------
    def get_config(self):
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = schedules.serialize(lr)
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm,
                "clipvalue": self.clipvalue, "use_ema": self.use_ema,
                "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"],
                                                            custom_objects)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, iterations={self.iterations}>"


def _flatten(xp, arrays):
    """One flat copy of ``arrays`` and views of it shaped like each."""
    flat = xp.concatenate([a.reshape(-1) for a in arrays])
    views, start = [], 0
    for a in arrays:
        views.append(flat[start:start + a.size].reshape(a.shape))
        start += a.size
    return flat, views
