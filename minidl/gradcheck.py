"""Gradient checking: the tape's gradients against numerical derivatives, in float64.

``check_grad(fn, inputs)`` calls ``fn(*inputs)`` on float64 copies of the inputs, takes
the tape's gradient of the (scalar) result, and compares it with a numerical derivative:

- ``method="central"`` (default): ``(f(x + eps e_i) - f(x - eps e_i)) / 2 eps`` per element;
- ``method="scipy"``: ``scipy.optimize.approx_fprime`` (forward differences, so looser
  default tolerances);
- ``method="directional"``: ``v . grad f`` against ``(f(x + eps v) - f(x - eps v)) / 2 eps``
  along a few random unit directions ``v`` (one backward, two forwards each; any size).

A non-scalar output is reduced as ``sum(out * r)`` with a fixed random cotangent ``r``. A
mismatch raises ``GradcheckError`` (an ``AssertionError``) naming the input, the worst
element's index and both values; success returns a ``GradcheckReport``.

>>> import numpy as np, minidl as mdl
>>> report = mdl.gradcheck.check_grad(lambda x: (x * x).sum(), [np.arange(3.0)])
>>> report.max_abs_error[0] < 1e-8
True
"""
import numpy as np
import scipy.optimize

from .autograd import Tensor, enable_grad, grad, no_grad

__all__ = ["check_grad", "check_double_grad", "numerical_grad", "check_layer",
           "GradcheckError", "GradcheckReport"]

_DEFAULTS = {  # method: (eps, atol, rtol)
    "central": (1e-6, 1e-6, 1e-5),
    "scipy": (np.sqrt(np.finfo(float).eps), 1e-4, 1e-3),
    "directional": (1e-6, 1e-6, 1e-5),
}


class GradcheckError(AssertionError):
    """The tape's gradient and the numerical one differ beyond the tolerance."""


class GradcheckReport:
    """Per input: the largest absolute and relative error between the two gradients."""

    def __init__(self, method, names, max_abs_error, max_rel_error):
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
            host = np.array(data.get() if hasattr(data, "get") else data, dtype=np.float64,
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
            raise TypeError(f"check_grad: fn must return a Tensor, got {type(out).__name__}")
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


def numerical_grad(fn, inputs, eps=None, method="central"):
    """Numerical gradients of ``fn(*inputs)`` (reduced to a scalar) w.r.t. each floating
    input, as float64 NumPy arrays (``None`` for non-floating inputs)."""
    if method not in ("central", "scipy"):
        raise ValueError(f"method={method!r} must be 'central' or 'scipy' here")
    eps = _DEFAULTS[method][0] if eps is None else eps
    tensors = _float64_copies(inputs)
    objective = _Objective(fn, tensors)
    objective.value()  # fixes the cotangent
    estimate = _central if method == "central" else _scipy
    return [estimate(objective, t, eps) if i in _differentiable(tensors) else None
            for i, t in enumerate(tensors)]


def _tape_grads(objective, tensors, indices):
    found = grad(objective(), [tensors[i] for i in indices], allow_unused=True)
    return [np.zeros(tensors[i].shape) if g is None else g.numpy()
            for i, g in zip(indices, found)]


def _compare(method, names, analytic, numeric, atol, rtol):
    abs_errors, rel_errors = [], []
    for name, a, n in zip(names, analytic, numeric):
        diff = np.abs(a - n)
        excess = diff - (atol + rtol * np.abs(n))
        if excess.size and excess.max() > 0:
            worst = np.unravel_index(int(np.argmax(excess)), excess.shape)
            raise GradcheckError(
                f"gradcheck ({method}) failed for {name} at index {tuple(map(int, worst))}: "
                f"tape gradient {a[worst]!r}, numerical {n[worst]!r} "
                f"(|diff| {diff[worst]:.3e} > atol {atol:g} + rtol {rtol:g} * |numerical|)")
        abs_errors.append(float(diff.max()) if diff.size else 0.0)
        rel_errors.append(float((diff / np.maximum(np.abs(n), 1e-300)).max()) if diff.size
                          else 0.0)
    return GradcheckReport(method, names, abs_errors, rel_errors)


def check_grad(fn, inputs, *, eps=None, atol=None, rtol=None, method="central",
               names=None, directions=3):
    """Compare the tape's gradients of ``fn(*inputs)`` with numerical ones (float64).

    Args:
        fn: called as ``fn(*inputs)`` with Tensors; returns a Tensor.
        inputs: arrays or Tensors; floating ones are differentiated (as float64 copies),
            others are passed through unchanged. They need not have requires_grad set.
        eps, atol, rtol: step and tolerances (|tape - numerical| <= atol + rtol |numerical|);
            defaults depend on ``method``.
        method: ``"central"``, ``"scipy"`` or ``"directional"``.
        names: labels for the inputs in messages (default ``inputs[i]``).
        directions: how many random directions ``method="directional"`` checks.

    Returns:
        GradcheckReport.

    Raises:
        GradcheckError: naming the input, the worst index and both values.
    """
    inputs = list(inputs)
    names = list(names) if names else [f"inputs[{i}]" for i in range(len(inputs))]
    tensors = _float64_copies(inputs)
    return _check(_Objective(fn, tensors), tensors, names, method, eps, atol, rtol,
                  directions)


def _check(objective, tensors, names, method, eps, atol, rtol, directions):
    if method not in _DEFAULTS:
        raise ValueError(f"method={method!r} is not one of {tuple(_DEFAULTS)}")
    d_eps, d_atol, d_rtol = _DEFAULTS[method]
    eps = d_eps if eps is None else eps
    atol = d_atol if atol is None else atol
    rtol = d_rtol if rtol is None else rtol
    indices = _differentiable(tensors)
    if not indices:
        raise ValueError("check_grad: no floating input to differentiate")
    analytic = _tape_grads(objective, tensors, indices)
    if method == "directional":
        return _check_directional(objective, tensors, indices, analytic,
                                  [names[i] for i in indices], eps, atol, rtol, directions)
    estimate = _central if method == "central" else _scipy
    numeric = [estimate(objective, tensors[i], eps) for i in indices]
    return _compare(method, [names[i] for i in indices], analytic, numeric, atol, rtol)


def _check_directional(objective, tensors, indices, analytic, names, eps, atol, rtol, count):
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
    return _compare("directional", names, tape, numeric, atol, rtol)


def check_double_grad(fn, inputs, **kwargs):
    """Check second derivatives: gradcheck ``x -> sum(grad(fn)(x) * r)`` for a fixed random
    ``r``, which exercises every backward formula under ``create_graph=True``."""
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

    return check_grad(first_derivative, inputs, **kwargs)


def check_layer(layer, x, *, eps=None, atol=None, rtol=None, method="central",
                training=False, directions=3):
    """Gradcheck a layer w.r.t. its input and every trainable weight, in float64.

    The layer is built on ``x`` (in its own dtype) if needed. During the check it computes
    in float64: every floating weight holds a float64 copy and inputs are cast to float64
    instead of the layer's dtype; the weights are differentiated in place, so the
    gradients checked are exactly the ones the layer's own ops put on the tape. Weights,
    dtype and any state the calls change (e.g. moving statistics) are restored afterwards.

    Args:
        layer: a ``minidl.layers.Layer``.
        x: the input (array or Tensor; a list of them for several inputs).
        training: passed to every call of the layer.
        eps, atol, rtol, method, directions: as ``check_grad``.

    Returns:
        GradcheckReport, with the input first, then the weights by path.
    """
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

        return _check(_Objective(run, tensors), tensors, names, method, eps, atol, rtol,
                      directions)
