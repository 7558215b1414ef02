"""The tensor, the tape, and the backward walk.

A ``Tensor`` wraps a backend array. Calling a ``Function`` on tensors runs its ``forward``
on the arrays and, when some input requires a gradient, records the function as the
``creator`` of its outputs: that record is the tape. ``backward`` walks the tape from the
output in reverse generation order (a heap, iterative, so chains of any length work), calls
each function's ``backward`` with the output gradients and accumulates what it returns.

``backward`` formulas are written with minidl's own ops on Tensors. In an ordinary
``backward()`` recording is off, so they cost array operations only; with
``create_graph=True`` (or ``grad(..., create_graph=True)``) they are recorded, so a gradient
can itself be differentiated. Whether ops record (``no_grad`` / ``enable_grad``) is a
setting of the calling thread: ``predict`` in one thread leaves another thread's training
step recording.

>>> import minidl as mdl
>>> x = mdl.tensor([2.0, 3.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
array([4., 6.], dtype=float32)
"""
import contextlib
import contextvars
import heapq
import itertools
import weakref

import numpy

from . import backend as _backend
from . import config

__all__ = ["Tensor", "tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled",
           "grad", "as_tensor"]

# Per thread (and per asyncio task): no_grad in one thread never stops another recording;
# a new thread starts recording.
_grad_mode = contextvars.ContextVar("minidl_grad_enabled", default=True)
_recording = _grad_mode.get   # bound once: the tape reads it at every op


def is_grad_enabled() -> bool:
    """Whether ops record on the tape in this thread (``no_grad`` turns it off)."""
    return _recording()


class _set_grad_enabled(contextlib.ContextDecorator):
    """Record (``mode`` True) or not inside the block, in this thread; also a decorator.
    A class rather than a generator: every ``backward`` enters one."""

    __slots__ = ("mode", "previous")

    def __init__(self, mode):
        self.mode = mode

    def __enter__(self):
        self.previous = _grad_mode.get()
        _grad_mode.set(self.mode)

    def __exit__(self, *exc_info):
        _grad_mode.set(self.previous)

    def _recreate_cm(self):  # each decorated call gets its own ``previous``
        return _set_grad_enabled(self.mode)


def no_grad() -> contextlib.ContextDecorator:
    """``with no_grad(): ...`` records nothing on the tape, in this thread only."""
    return _set_grad_enabled(False)


def enable_grad() -> contextlib.ContextDecorator:
    """``with enable_grad(): ...`` records again inside a ``no_grad`` block (this
    thread's)."""
    return _set_grad_enabled(True)


def _is_float(dtype):
    return dtype.kind in "fc"


class Tensor:
    """An n-dimensional array on a backend, with an optional gradient.

    Args:
        data: list, scalar, NumPy or CuPy array, or Tensor. An ndarray keeps its dtype;
            Python scalars and lists become ``config.floatx()``.
        requires_grad: record operations on this tensor so ``backward`` reaches it.
            Only floating tensors can require a gradient.
        dtype: cast to this dtype when given.
        backend: ``"numpy"``, ``"cupy"`` or None (a CuPy array stays on CuPy; anything
            else goes to the default backend).
    """

    __array_priority__ = 1000  # numpy_array + tensor calls Tensor.__radd__
    __slots__ = ("data", "requires_grad", "creator", "generation", "name", "_grad",
                 "__weakref__")

    def __init__(self, data, requires_grad: bool = False, dtype=None, backend=None,
                 name: str | None = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        if data is None:  # NumPy would silently make it nan
            raise ValueError("Tensor(data=None): data must be an array, a list or a scalar")
        if backend is None and not _backend._is_cupy_array(data):
            backend = _backend.get_backend()
        b = _backend.backend_of(data) if backend is None else _backend.resolve(backend)
        if dtype is None and not hasattr(data, "dtype"):
            dtype = config.floatx()  # Python scalars and lists
        array = b.asarray(data, dtype=dtype)
        if requires_grad and not _is_float(array.dtype):
            raise TypeError("requires_grad=True needs a floating dtype, got "
                            f"{array.dtype}; integer and bool tensors never require a "
                            "gradient")
        self.data = array
        self.requires_grad = bool(requires_grad)
        self.creator = None
        self.generation = 0
        self.name = name
        self._grad = None

    @classmethod
    def _wrap(cls, array, requires_grad=False):
        """A Tensor around a backend array, with no conversion (the ops' fast path)."""
        t = object.__new__(cls)
        t.data = array
        t.requires_grad = requires_grad
        t.creator = None
        t.generation = 0
        t.name = None
        t._grad = None
        return t

    # -- array-like attributes -------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    dtype = property(lambda self: self.data.dtype)

    @property
    def backend(self):
        return _backend.backend_of(self.data)

    @property
    def xp(self):
        return self.backend.xp

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        body = repr(self.data).replace("\n", "\n" + " " * 7)
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({body}{grad})"

    def numpy(self) -> numpy.ndarray:
        """A host NumPy copy of the data, whatever the backend."""
        return self.backend.to_numpy(self.data)

    def item(self):
        return self.data.item()

    def __float__(self) -> float:
        return float(self.data)

    def __bool__(self) -> bool:
        return bool(self.data)

    def to(self, backend) -> "Tensor":
        """A copy on another backend (``"numpy"`` or ``"cupy"``); keeps requires_grad."""
        b = _backend.resolve(backend)
        if b == self.backend:
            return self
        data = b.asarray(self.backend.to_numpy(self.data)) if b.name == "cupy" else \
            self.backend.to_numpy(self.data)
        return Tensor(data, requires_grad=self.requires_grad, backend=b)

    def astype(self, dtype) -> "Tensor":
        return _math.cast(self, dtype)

    # -- gradients -------------------------------------------------------------------
    @property
    def grad(self):
        """The accumulated gradient as a backend array of this shape and dtype, or None."""
        g = self._grad
        return g.data if isinstance(g, Tensor) else g

    @grad.setter
    def grad(self, value):
        if value is not None:
            value = value.data if isinstance(value, Tensor) else value
            if value.shape != self.shape:
                raise ValueError(f"grad of shape {value.shape} for a tensor of shape "
                                 f"{self.shape}")
        self._grad = value

    @property
    def grad_tensor(self) -> "Tensor | None":
        """The gradient as a Tensor; after ``backward(create_graph=True)`` it is on the
        tape."""
        g = self._grad
        return g if isinstance(g, Tensor) or g is None else Tensor._wrap(g)

    def zero_grad(self) -> None:
        self._grad = None

    def detach(self) -> "Tensor":
        """The same data, cut from the tape."""
        return Tensor._wrap(self.data)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        if flag and not _is_float(self.dtype):
            raise TypeError(f"requires_grad=True needs a floating dtype, got {self.dtype}")
        self.requires_grad = bool(flag)
        return self

    def backward(self, grad=None, retain_graph: bool = False,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) · grad into every leaf's ``.grad``.

        Args:
            grad: the output gradient (array or Tensor of this shape); None only for a
                single-element tensor, where it is 1.
            retain_graph: keep the tape so ``backward`` can run through it again
                (defaults to ``create_graph``).
            create_graph: record the backward pass, so gradients can be differentiated.
        """
        _run_backward([self], [grad], None, retain_graph or create_graph, create_graph)

    # -- operators (defined in ops) ------------------------------------------------------
    def __add__(self, other): return _math.add(self, other)
    def __radd__(self, other): return _math.add(other, self)
    def __sub__(self, other): return _math.sub(self, other)
    def __rsub__(self, other): return _math.sub(other, self)
    def __mul__(self, other): return _math.mul(self, other)
    def __rmul__(self, other): return _math.mul(other, self)
    def __truediv__(self, other): return _math.div(self, other)
    def __rtruediv__(self, other): return _math.div(other, self)
    def __pow__(self, other): return _math.power(self, other)
    def __rpow__(self, other): return _math.power(other, self)
    def __matmul__(self, other): return _math.matmul(self, other)
    def __rmatmul__(self, other): return _math.matmul(other, self)
    def __neg__(self): return _math.neg(self)
    def __pos__(self): return self
    def __abs__(self): return _math.abs(self)
    def __getitem__(self, index): return _shape.getitem(self, index)

    # comparisons give bool tensors with no gradient
    def _compare(self, other, name):
        other = other.data if isinstance(other, Tensor) else other
        return Tensor._wrap(getattr(self.data, name)(other))

    def __eq__(self, other): return self._compare(other, "__eq__")
    def __ne__(self, other): return self._compare(other, "__ne__")
    def __lt__(self, other): return self._compare(other, "__lt__")
    def __le__(self, other): return self._compare(other, "__le__")
    def __gt__(self, other): return self._compare(other, "__gt__")
    def __ge__(self, other): return self._compare(other, "__ge__")
    __hash__ = object.__hash__

    def exp(self): return _math.exp(self)
    def log(self): return _math.log(self)
    def sqrt(self): return _math.sqrt(self)
    def tanh(self): return _math.tanh(self)
    def sigmoid(self): return _math.sigmoid(self)
    def relu(self): return _math.relu(self)
    def abs(self): return _math.abs(self)
    def clip(self, a_min=None, a_max=None): return _math.clip(self, a_min, a_max)
    def sum(self, axis=None, keepdims=False): return _red.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return _red.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return _red.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return _red.min(self, axis, keepdims)
    def var(self, axis=None, keepdims=False): return _red.var(self, axis, keepdims)

    def reshape(self, *shape) -> "Tensor":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return _shape.reshape(self, shape)

    def transpose(self, *axes) -> "Tensor":
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = axes[0]
        return _shape.transpose(self, axes or None)

    @property
    def T(self) -> "Tensor":
        return _shape.transpose(self, None)


def tensor(data, requires_grad: bool = False, dtype=None, backend=None) -> Tensor:
    """Create a Tensor (see ``Tensor``)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, backend=backend)


def as_tensor(value, like: Tensor | None = None) -> Tensor:
    """``value`` as a Tensor: Tensors pass through; arrays keep their dtype; a Python
    scalar takes ``like``'s dtype when ``like`` is a floating Tensor (so float32 stays
    float32), else floatx. Arrays must live on ``like``'s backend (NumPy scalars go to
    any backend)."""
    if isinstance(value, Tensor):
        return value
    if like is None:
        return Tensor(value)
    b = like.backend
    if hasattr(value, "dtype"):  # an ndarray or a NumPy scalar keeps its dtype
        owner = _backend.backend_of(value)
        # a NumPy scalar is a host number like a Python one: it goes to any backend
        if owner != b and not isinstance(value, numpy.generic):
            raise ValueError(f"cannot mix a {owner.name} array with a {b.name} tensor in "
                             "one op; move the array with mdl.tensor(array, "
                             f"backend={b.name!r}) or the tensor with .to({owner.name!r})")
        return Tensor._wrap(b.xp.asarray(value))
    dtype = like.dtype if _is_float(like.dtype) else config.floatx()
    return Tensor._wrap(b.xp.asarray(value, dtype=dtype))


class Function:
    """An op: ``forward`` on backend arrays, ``backward`` on Tensors.

    Subclasses implement ``forward(*arrays)`` returning an array or a tuple of arrays, and
    ``backward(*grad_outputs)`` returning one gradient (Tensor, array or None) per input.
    Inside ``backward``, ``self.inputs`` are the input Tensors, ``self.outputs`` the output
    Tensors, and ``self.saved_tensors`` what ``forward`` kept with ``save_for_backward``;
    ``self.needs_input_grad[i]`` says whether input ``i`` wants a gradient, and
    ``self.xp`` is the inputs' array module (``numpy`` or ``cupy``).

    Each gradient must have its input's shape: an input that ``forward`` broadcast gets
    its gradient summed back with ``minidl.functional.sum_to(g, x.shape)`` (a scalar
    input: ``g.sum()``); a wrong shape is an error that says so. Values kept with
    ``save_for_backward`` are constants to the tape (no gradient flows through them):
    enough for first derivatives, but a backward meant to be differentiated again
    (``create_graph=True``, ``gradcheck.check_double_grad``) should compute whatever
    depends on the inputs from ``self.inputs`` with minidl ops.

    ``Op.apply(*inputs, **params)`` constructs ``Op(**params)`` and calls it.
    """

    inputs = ()
    _saved = ()

    @classmethod
    def apply(cls, *inputs, **params) -> Tensor | tuple:
        return cls(**params)(*inputs)

    def __call__(self, *inputs):
        inputs = _to_tensors(inputs)
        if not inputs:
            self.xp = xp = _backend.get_backend().xp
        elif type(inputs[0].data) is numpy.ndarray:  # the common case, without lookups
            self.xp = xp = numpy
        else:
            self.xp = xp = inputs[0].xp
        outputs = self.forward(*[x.data for x in inputs])
        single = not isinstance(outputs, tuple)
        outputs = [Tensor._wrap(y if isinstance(y, xp.ndarray) else xp.asarray(y))
                   for y in ((outputs,) if single else outputs)]
        if _recording() and any(x.requires_grad for x in inputs):
            self.needs_input_grad = tuple(x.requires_grad for x in inputs)
            self.generation = max(x.generation for x in inputs)
            self.inputs = inputs
            for y in outputs:
                y.requires_grad = _is_float(y.dtype)
                y.creator = self
                y.generation = self.generation + 1
            self._outputs = [weakref.ref(y) for y in outputs]
            if len(outputs) > 1:  # to zero-fill the gradient of an output that died
                self._output_meta = [(y.shape, y.dtype) for y in outputs]
        else:
            self._saved = ()
        return outputs[0] if single else tuple(outputs)

    def forward(self, *arrays):
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, *grad_outputs):
        raise NotImplementedError(f"{type(self).__name__}.backward")

    def save_for_backward(self, *arrays):
        self._saved = arrays

    @property
    def saved_tensors(self):
        return tuple(Tensor._wrap(a) for a in self._saved)

    @property
    def outputs(self):
        return tuple(ref() for ref in self._outputs)

    def _release(self):
        self.inputs = None
        self._saved = ()


def _to_tensors(values):
    kind = None
    for v in values:  # the common case first: Tensors of one array type, returned as is
        if not isinstance(v, Tensor) or (kind is not None and type(v.data) is not kind):
            break
        kind = type(v.data)
    else:
        return values
    if all(isinstance(v, Tensor) for v in values):
        tensors = values
    else:
        like = next((v for v in values if isinstance(v, Tensor)), None)
        tensors = tuple(as_tensor(v, like) for v in values)
    if len(tensors) > 1:
        kind = type(tensors[0].data)
        if all(type(t.data) is kind for t in tensors):
            return tensors
        first = tensors[0].backend
        for t in tensors[1:]:
            if t.backend != first:
                raise ValueError(f"cannot mix backends in one op: {first.name} and "
                                 f"{t.backend.name}; move one with .to(name)")
    return tensors


def grad(outputs, inputs, grad_outputs=None, create_graph: bool = False,
         retain_graph: bool | None = None, allow_unused: bool = False) -> tuple:
    """The gradients of ``outputs`` w.r.t. ``inputs`` as Tensors (like
    torch.autograd.grad).

    ``.grad`` of the inputs is left untouched. With ``create_graph=True`` the returned
    Tensors are on the tape and can be differentiated again.
    """
    single_out = isinstance(outputs, Tensor)
    outputs = [outputs] if single_out else list(outputs)
    single_in = isinstance(inputs, Tensor)
    inputs = [inputs] if single_in else list(inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise ValueError(f"inputs[{i}] does not require a gradient")
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * (len(outputs) if grad_outputs is None else 1)
    retain = create_graph if retain_graph is None else retain_graph
    found = _run_backward(outputs, list(grad_outputs), inputs, retain, create_graph)
    result = []
    for i, x in enumerate(inputs):
        g = found.get(id(x))
        if g is None:
            if not allow_unused:
                raise ValueError(f"inputs[{i}] is not reached from the outputs; pass "
                                 "allow_unused=True to get None for it")
            result.append(None)
        else:
            result.append(g[1])
    return tuple(result)


def _seed_grad(y, g):
    if not y.requires_grad:
        raise ValueError("backward() on a tensor that does not require a gradient (no "
                         "input had requires_grad=True, or it was made under no_grad())")
    if g is None:
        if y.size != 1:
            raise ValueError(f"backward() on a tensor of shape {y.shape} needs grad= "
                             "(an array or Tensor of that shape); it is implicit only for "
                             "single-element tensors")
        return Tensor._wrap(y.xp.ones_like(y.data))
    g = as_tensor(g, y)
    if g.shape != y.shape:
        raise ValueError(f"grad of shape {g.shape} for an output of shape {y.shape}")
    # y's gradient has y's dtype (a float64 seed for a float32 leaf must not leak into
    # .grad)
    return g if g.dtype == y.dtype else g.astype(y.dtype)


def _run_backward(outputs, grad_outputs, inputs, retain_graph, create_graph):
    """Walk the tape from ``outputs``. With ``inputs`` None accumulate into leaves' .grad;
    otherwise return {id(input): (input, gradient Tensor)} for the requested inputs."""
    wanted = None if inputs is None else {id(x) for x in inputs}
    grads = {}      # id(tensor) -> (tensor, gradient Tensor); holds the tensor alive
    heap, seen, counter, seeds = [], set(), itertools.count(), []

    def push(f):
        if f is not None and id(f) not in seen:
            seen.add(id(f))
            heapq.heappush(heap, (-f.generation, next(counter), f))

    def accumulate(x, g):
        key = id(x)
        grads[key] = (x, grads[key][1] + g) if key in grads else (x, g)

    with _set_grad_enabled(create_graph):
        for y, g in zip(outputs, grad_outputs):
            seed = _seed_grad(y, g)
            seeds.append(seed)
            accumulate(y, seed)
            push(y.creator)
        while heap:
            f = heapq.heappop(heap)[2]
            ys, gys = _output_grads(f, grads, wanted)  # ys: alive for f.backward
            if gys is None:
                continue
            for x, gx in _input_grads(f, gys):
                accumulate(x, gx)
                push(x.creator)
            if not retain_graph:
                f._release()
    if inputs is not None:
        return grads
    _store_leaf_grads(grads, seeds, create_graph)
    return None


def _output_grads(f, grads, wanted):
    """``(outputs, gradients)`` of ``f``: its live outputs (a backward may read them
    through ``self.outputs``, so the caller holds them until it has run) and their
    gradients (zeros for outputs nobody used; None when no output has one).
    Intermediates' gradients are consumed (removed from ``grads``)."""
    if f.inputs is None:
        raise RuntimeError(f"backward through {type(f).__name__} a second time: its tape "
                           "was freed; pass retain_graph=True to the first backward")
    ys = [ref() for ref in f._outputs]
    gys = []
    for y in ys:
        entry = None if y is None else grads.get(id(y))
        if entry is not None and (wanted is None or id(y) not in wanted):
            del grads[id(y)]
        gys.append(None if entry is None else entry[1])
    if all(g is None for g in gys):
        return ys, None
    if any(g is None for g in gys):
        gys = [Tensor._wrap(f.xp.zeros(shape, dtype)) if g is None else g
               for g, (shape, dtype) in zip(gys, f._output_meta)]
    return ys, gys


def _input_grads(f, gys):
    """``(input, gradient)`` for each input of ``f`` that needs one, checked."""
    gxs = f.backward(*gys)
    if not isinstance(gxs, tuple):
        gxs = (gxs,)
    if len(gxs) != len(f.inputs):
        raise RuntimeError(f"{type(f).__name__}.backward returned {len(gxs)} gradients "
                           f"for {len(f.inputs)} inputs")
    return [(x, _check_grad(f, i, x, as_tensor(gx, x)))
            for i, (x, gx) in enumerate(zip(f.inputs, gxs))
            if gx is not None and x.requires_grad]


def _store_leaf_grads(grads, seeds, create_graph):
    """Add each leaf's gradient to its ``.grad``; an array handed to a leaf is its own:
    not the caller's seed, not another leaf's."""
    taken = {id(g.data) for g in seeds}
    for x, g in grads.values():
        if x.creator is not None:
            continue
        if x._grad is None and create_graph:
            x._grad = g
        elif x._grad is None:
            x._grad = g.data.copy() if id(g.data) in taken else g.data
            taken.add(id(x._grad))
        elif create_graph:
            x._grad = x.grad_tensor + g
        else:  # asarray: NumPy turns the sum of two 0-d arrays into a scalar
            x._grad = x.xp.asarray(x.grad + g.data)


def _check_grad(f, index, x, gx):
    if gx.shape != x.shape:
        raise RuntimeError(f"{type(f).__name__}.backward returned a gradient of shape "
                           f"{gx.shape} for input {index}, of shape {x.shape}: each "
                           f"gradient must have its input's shape. "
                           f"{_reduce_hint(gx.shape, x.shape)}")
    if gx.dtype != x.dtype:
        gx = gx.astype(x.dtype)
    return gx


def _reduce_hint(grad_shape, shape):
    """How to bring a gradient of ``grad_shape`` to an input of ``shape``."""
    if len(shape) == 0:
        return "The input is a scalar (broadcast in forward): return the gradient's " \
            ".sum()."
    extra = len(grad_shape) - len(shape)
    if extra >= 0 and all(n in (1, g) for n, g in zip(shape, grad_shape[extra:])):
        return ("The input was broadcast in forward: sum the gradient over the broadcast "
                f"axes, e.g. return minidl.functional.sum_to(grad, {tuple(shape)}) "
                "(x.shape of the input).")
    if len(grad_shape) < len(shape):
        return ("The gradient has fewer axes than the input: broadcast it, e.g. return "
                f"minidl.functional.broadcast_to(grad, {tuple(shape)}).")
    return "Check the backward formula for a missing reshape, transpose or reduction."



# Tensor's operators and methods run the ops of minidl.ops.math, .reduction and .shape.
# Those ops are Functions built on this module, so imports point from them to here, never
# back: ``minidl.ops`` hands the three modules over with ``bind_ops`` when it is imported
# (``import minidl`` imports it before any Tensor can be made).
_math = _red = _shape = None


def bind_ops(math, reduction, shape):
    """Give Tensor's operators and methods their ops (``minidl.ops`` calls this once)."""
    global _math, _red, _shape
    _math, _red, _shape = math, reduction, shape
