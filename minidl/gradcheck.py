"""Gradient checking: the tape's gradients against numerical derivatives, in float64.

``check_grad(fn, inputs)`` calls ``fn(*inputs)`` on float64 copies of the inputs, takes
the tape's gradient of the (scalar) result, and compares it with a numerical derivative:

- ``method="central"`` (default): ``(f(x + eps e_i) - f(x - eps e_i)) / 2 eps`` per element;
- ``method="scipy"``: ``scipy.optimize.approx_fprime`` (forward differences, so looser
  default tolerances);
- ``method="directional"``: ``v . grad f`` against ``(f(x + eps v) - f(x - eps v)) / 2 eps``
  along a few random unit directions ``v`` (one backward, two forwards each; any size).

A non-scalar output is reduced as ``sum(out * r)`` with a fixed random cotangent ``r``. A
mismatch raises ``GradcheckError`` (an ``AssertionError``) naming the derivative order
(first, or second for ``check_double_grad``), the input, the worst element's index and both
values; success returns a ``GradcheckReport``. A NaN or infinite gradient (tape or
numerical) never passes.

The checker's own arguments can never make a wrong gradient pass: a tolerance that is
negative, NaN or infinite, an ``eps`` that is not a finite number > 0, ``directions < 1``
and inputs (or, for ``check_layer``, weights) holding NaN or inf are refused with a
``ValueError`` (a ``TypeError`` for an argument of the wrong type) naming the argument and
the value.

``check_double_grad(fn, inputs)`` checks second derivatives (the backward formulas under
``create_graph=True``). Values a custom ``Function`` keeps with ``save_for_backward`` are
constants there: no gradient flows through them, so a backward that uses a saved value
computed from the inputs passes ``check_grad`` and fails ``check_double_grad``; compute
such values in ``backward`` from ``self.inputs`` with minidl ops.

>>> import numpy as np, minidl as mdl
>>> report = mdl.gradcheck.check_grad(lambda x: (x * x).sum(), [np.arange(3.0)])
>>> report.max_abs_error[0] < 1e-8
True
"""
import collections
import math

import numpy as np
import scipy.optimize

from .autograd import Tensor, enable_grad, grad, no_grad
from .backend import backend_of

__all__ = ["check_grad", "check_double_grad", "numerical_grad", "check_layer",
           "GradcheckError", "GradcheckReport"]

_DEFAULTS = {  # method: (eps, atol, rtol)
    "central": (1e-6, 1e-6, 1e-5),
    "scipy": (np.sqrt(np.finfo(float).eps), 1e-4, 1e-3),
    "directional": (1e-6, 1e-6, 1e-5),
}
_Settings = collections.namedtuple("_Settings", "caller method eps atol rtol directions")


def _settings(caller, method, eps, atol, rtol, directions):
    """``method``'s defaults for the arguments left None; refuses every value that could
    make a wrong gradient pass (or the check meaningless)."""
    if method not in _DEFAULTS:
        raise ValueError(f"{caller}: method={method!r} is not one of {tuple(_DEFAULTS)}")
    d_eps, d_atol, d_rtol = _DEFAULTS[method]
    return _Settings(caller, method,
                     d_eps if eps is None else _number(caller, "eps", eps, positive=True),
                     d_atol if atol is None else _number(caller, "atol", atol),
                     d_rtol if rtol is None else _number(caller, "rtol", rtol),
                     _directions(caller, directions))


def _number(caller, name, value, positive=False):
    expected = "a finite number " + ("> 0" if positive else ">= 0")
    if isinstance(value, (bool, np.bool_)) or \
            not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{caller}: {name}={value!r} must be {expected}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{caller}: {name}={value!r} must be {expected}")
    return float(value)


def _directions(caller, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{caller}: directions={value!r} must be an int >= 1")
    if value < 1:
        raise ValueError(f"{caller}: directions={value!r} must be an int >= 1")
    return int(value)


def _check_finite(caller, tensors, names, indices):
    """Refuse NaN or inf in the values to differentiate (no derivative is defined there,
    and NaN would compare as a pass)."""
    for i in indices:
        data = tensors[i].numpy()
        bad = ~np.isfinite(data)
        if bad.any():
            where = tuple(int(k) for k in np.argwhere(bad)[0])
            raise ValueError(f"{caller}: {names[i]} holds {float(data[where])!r} at index "
                             f"{where}; gradients can only be checked at finite values")


class GradcheckError(AssertionError):
    """The tape's gradient and the numerical one differ beyond the tolerance."""


class GradcheckReport:
    """Per input: the largest absolute and relative error between the two gradients."""

    def __init__(self, method: str, names: list[str], max_abs_error: list[float],
                 max_rel_error: list[float]) -> None:
        self.method = method
        self.names = names
        self.max_abs_error = max_abs_error
        self.max_rel_error = max_rel_error

    def __repr__(self):
        rows = [f"gradcheck ({self.method}) passed"]
        for name, a, r in zip(self.names, self.max_abs_error, self.max_rel_error):
            rows.append(f"  {name}: max abs error {a:.3e}, max rel error {r:.3e}")
        return "\n".join(rows)


def _float64_copies(inputs):
    """Tensors holding float64 host copies of the floating inputs; others pass through."""
    copies = []
    for x in inputs:
        data = x.numpy() if isinstance(x, Tensor) else x
        if isinstance(data, (int, float, list)) or \
                (hasattr(data, "dtype") and np.dtype(data.dtype).kind == "f"):
            backend = x.backend if isinstance(x, Tensor) else None
            host = np.asarray(backend_of(data).to_numpy(data), dtype=np.float64,
                              order="C")  # a copy; perturbing it through a flat view
            copies.append(Tensor(host, requires_grad=True, backend=backend))
        else:
            copies.append(x)
    return copies


class _Objective:
    """``fn(*inputs)`` reduced to a scalar with a fixed random cotangent."""

    def __init__(self, fn, tensors):
        self.fn, self.tensors, self.cotangent = fn, tensors, None

    def __call__(self):
        out = self.fn(*self.tensors)
        if not isinstance(out, Tensor):
            raise TypeError("check_grad: fn must return a Tensor, got "
                            f"{type(out).__name__}")
        if out.size == 1:
            return out.sum()
        if self.cotangent is None:
            r = np.random.default_rng(1234).standard_normal(out.shape)
            self.cotangent = out.backend.asarray(r.astype(out.dtype))
        return (out * self.cotangent).sum()

    def value(self):
        with no_grad():
            return float(self().data)


def _differentiable(tensors):
    return [i for i, t in enumerate(tensors) if isinstance(t, Tensor) and t.requires_grad]


def _central(objective, t, eps):
    flat = t.data.reshape(-1)  # a view: perturbing it perturbs t
    g = np.empty(flat.size)
    for k in range(flat.size):
        old = float(flat[k])
        flat[k] = old + eps
        fp = objective.value()
        flat[k] = old - eps
        fm = objective.value()
        flat[k] = old
        g[k] = (fp - fm) / (2 * eps)
    return g.reshape(t.shape)


def _scipy(objective, t, eps):
    shape, xp = t.shape, t.xp
    start = t.numpy().reshape(-1)

    def f(flat):
        t.data = xp.asarray(flat.reshape(shape))
        return objective.value()

    g = scipy.optimize.approx_fprime(start, f, eps)
    t.data = xp.asarray(start.reshape(shape))
    return g.reshape(shape)


def numerical_grad(fn, inputs, eps: float | None = None, method: str = "central") -> list:
    """Numerical gradients of ``fn(*inputs)`` (reduced to a scalar) w.r.t. each floating
    input, as float64 NumPy arrays (``None`` for non-floating inputs)."""
    if method not in ("central", "scipy"):
        raise ValueError(f"numerical_grad: method={method!r} must be 'central' or 'scipy' "
                         "here")
    eps = _settings("numerical_grad", method, eps, None, None, 1).eps
    tensors = _float64_copies(inputs)
    objective = _Objective(fn, tensors)
    objective.value()  # fixes the cotangent
    estimate = _central if method == "central" else _scipy
    return [estimate(objective, t, eps) if i in _differentiable(tensors) else None
            for i, t in enumerate(tensors)]


def _tape_grads(objective, tensors, indices):
    out = objective()
    if not out.requires_grad:  # nothing on the tape depends on the inputs: zero gradients
        return [np.zeros(tensors[i].shape) for i in indices]
    found = grad(out, [tensors[i] for i in indices], allow_unused=True)
    return [np.zeros(tensors[i].shape) if g is None else g.numpy()
            for i, g in zip(indices, found)]


_ORDERS = {1: "first derivative (backward)",
           2: "second derivative (backward of backward, create_graph=True)"}
_SAVED_HINT = (" Values a Function keeps with save_for_backward are constants to the tape: "
               "no gradient flows through them, so a backward that must be differentiated "
               "again should compute what depends on the inputs from self.inputs (or "
               "self.outputs) with minidl ops instead.")
_NON_FINITE_HINT = "; a gradient that is not finite cannot be checked"


def _compare(method, names, analytic, numeric, atol, rtol, order=1):
    abs_errors, rel_errors = [], []
    for name, a, n in zip(names, analytic, numeric):
        diff = np.abs(a - n)
        excess = diff - (atol + rtol * np.abs(n))
        excess[np.isnan(excess)] = np.inf  # a NaN or infinite gradient never passes
        if excess.size and excess.max() > 0:
            worst = np.unravel_index(int(np.argmax(excess)), excess.shape)
            raise GradcheckError(
                f"gradcheck ({method}) of the {_ORDERS[order]} failed for {name} at index "
                f"{tuple(map(int, worst))}: tape gradient {a[worst]!r}, numerical "
                f"{n[worst]!r} (|diff| {diff[worst]:.3e} > atol {atol:g} + rtol {rtol:g} * "
                f"|numerical|{_NON_FINITE_HINT if np.isinf(excess[worst]) else ''})."
                f"{_SAVED_HINT if order > 1 else ''}")
        abs_errors.append(float(diff.max()) if diff.size else 0.0)
        rel_errors.append(float((diff / np.maximum(np.abs(n), 1e-300)).max()) if diff.size
                          else 0.0)
    return GradcheckReport(method, names, abs_errors, rel_errors)


def check_grad(fn, inputs, *, eps: float | None = None, atol: float | None = None,
               rtol: float | None = None, method: str = "central",
               names: list[str] | None = None, directions: int = 3) -> GradcheckReport:
    """Compare the tape's gradients of ``fn(*inputs)`` with numerical ones (float64).

    Args:
        fn: called as ``fn(*inputs)`` with Tensors; returns a Tensor.
        inputs: arrays or Tensors; floating ones are differentiated (as float64 copies),
            others are passed through unchanged. They need not have requires_grad set.
        eps, atol, rtol: step (a finite number > 0) and tolerances (finite numbers >= 0):
            ``|tape - numerical| <= atol + rtol |numerical|``; defaults depend on
            ``method``.
        method: ``"central"``, ``"scipy"`` or ``"directional"``.
        names: labels for the inputs in messages (default ``inputs[i]``).
        directions: how many random directions ``method="directional"`` checks (an
            int >= 1).

    Returns:
        GradcheckReport.

    Raises:
        GradcheckError: naming the derivative order checked (first), the input, the worst
            index and both values.
        ValueError: a tolerance that is negative or not finite, ``eps`` not a finite
            number > 0, ``directions < 1``, an unknown ``method``, or an input holding NaN
            or inf (named with the index).
        TypeError: one of those arguments is not a number (``directions``: not an int).
    """
    settings = _settings("check_grad", method, eps, atol, rtol, directions)
    return _check_order(fn, inputs, 1, settings, names)


def _check_order(fn, inputs, order, settings, names):
    inputs = list(inputs)
    names = list(names) if names else [f"inputs[{i}]" for i in range(len(inputs))]
    tensors = _float64_copies(inputs)
    return _check(_Objective(fn, tensors), tensors, names, settings, order)


def _check(objective, tensors, names, settings, order=1):
    indices = _differentiable(tensors)
    if not indices:
        raise ValueError(f"{settings.caller}: no floating input to differentiate")
    _check_finite(settings.caller, tensors, names, indices)
    analytic = _tape_grads(objective, tensors, indices)
    if settings.method == "directional":
        return _check_directional(objective, tensors, indices, analytic,
                                  [names[i] for i in indices], settings, order)
    estimate = _central if settings.method == "central" else _scipy
    numeric = [estimate(objective, tensors[i], settings.eps) for i in indices]
    return _compare(settings.method, [names[i] for i in indices], analytic, numeric,
                    settings.atol, settings.rtol, order)


def _check_directional(objective, tensors, indices, analytic, names, settings, order=1):
    eps, count = settings.eps, settings.directions
    rng = np.random.default_rng(4321)
    tape, numeric = [], []
    for i, g in zip(indices, analytic):
        t = tensors[i]
        start = t.data.copy()
        along, estimate = [], []
        for _ in range(count):
            v = rng.standard_normal(t.shape)
            v /= max(np.linalg.norm(v), 1e-300)
            v_dev = t.backend.asarray(v)
            t.data = start + eps * v_dev
            fp = objective.value()
            t.data = start - eps * v_dev
            fm = objective.value()
            t.data = start
            along.append(float((g * v).sum()))
            estimate.append((fp - fm) / (2 * eps))
        tape.append(np.array(along))
        numeric.append(np.array(estimate))
    names = [f"{n} (along direction)" for n in names]
    return _compare("directional", names, tape, numeric, settings.atol, settings.rtol,
                    order)


def check_double_grad(fn, inputs, *, eps: float | None = None, atol: float | None = None,
                      rtol: float | None = None, method: str = "central",
                      names: list[str] | None = None,
                      directions: int = 3) -> GradcheckReport:
    """Check second derivatives: gradcheck ``x -> sum(grad(fn)(x) * r)`` for a fixed random
    ``r``, which exercises every backward formula under ``create_graph=True``.

    Args:
        fn, inputs, eps, atol, rtol, method, names, directions: as ``check_grad``.

    Returns:
        GradcheckReport.

    Raises:
        GradcheckError: naming the derivative order that failed (second), the input, the
            worst index and both values. A custom ``Function`` whose backward reads values
            kept with ``save_for_backward`` gets no gradient through them (they are
            constants), the usual cause of a first derivative that passes and a second one
            that fails: the message says so.
        ValueError: ``fn`` does not depend on its inputs; bad arguments or inputs, as
            ``check_grad``.
        TypeError: as ``check_grad``.
    """
    settings = _settings("check_double_grad", method, eps, atol, rtol, directions)
    rng = np.random.default_rng(99)
    cotangents = {}

    def first_derivative(*tensors):
        with enable_grad():  # numerical evaluations run under no_grad
            return _first(*tensors)

    def _first(*tensors):
        diff = [t for t in tensors if isinstance(t, Tensor) and t.requires_grad]
        out = fn(*tensors)
        if out.size != 1:
            key = ("out", out.shape)
            if key not in cotangents:
                cotangents[key] = out.backend.asarray(rng.standard_normal(out.shape))
            out = (out * cotangents[key]).sum()
        grads = grad(out.sum(), diff, create_graph=True, allow_unused=True)
        total = None
        for k, g in enumerate(grads):
            if g is None:
                continue
            key = ("grad", k, g.shape)
            if key not in cotangents:
                cotangents[key] = g.backend.asarray(rng.standard_normal(g.shape))
            term = (g * cotangents[key]).sum()
            total = term if total is None else total + term
        if total is None:
            raise ValueError("check_double_grad: fn does not depend on its inputs")
        return total

    return _check_order(first_derivative, inputs, 2, settings, names)


def check_layer(layer, x, *, eps: float | None = None, atol: float | None = None,
                rtol: float | None = None, method: str = "central", training: bool = False,
                directions: int = 3) -> GradcheckReport:
    """Gradcheck a layer w.r.t. its input and every trainable weight, in float64.

    The layer is built on ``x`` (in its own dtype) if needed. During the check it computes
    in float64: every floating weight holds a float64 copy and inputs are cast to float64
    instead of the layer's dtype; the weights are differentiated in place, so the
    gradients checked are exactly the ones the layer's own ops put on the tape. Weights,
    dtype and any state the calls change (e.g. moving statistics) are restored afterwards.
    Meanwhile no other thread may call the layer: it would compute in float64 on the
    copies.

    Args:
        layer: a ``minidl.layers.Layer``.
        x: the input (array or Tensor; a list of them for several inputs).
        training: passed to every call of the layer.
        eps, atol, rtol, method, directions: as ``check_grad``.

    Returns:
        GradcheckReport, with the input first, then the weights by path.

    Raises:
        GradcheckError: as ``check_grad``.
        ValueError, TypeError: bad arguments as ``check_grad``; an input or a weight
            holding NaN or inf (named with the index).
    """
    settings = _settings("check_layer", method, eps, atol, rtol, directions)
    several = isinstance(x, (list, tuple))
    inputs = _float64_copies(list(x) if several else [x])
    if not layer.built:
        with no_grad():
            layer(inputs if several else inputs[0], training=training)
    with layer._computing_in("float64"):
        weights = list(layer.trainable_weights)
        tensors = inputs + weights
        names = ([f"input[{i}]" for i in range(len(inputs))] if several else ["input"]) + \
            [f"weight {w.path!r}" for w in weights]
        count = len(inputs)

        def run(*values):
            return layer(list(values[:count]) if several else values[0], training=training)

        return _check(_Objective(run, tensors), tensors, names, settings)
