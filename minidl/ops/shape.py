"""Shape ops: reshape, transpose, getitem (scatter-add backward), concatenate, stack,
pad."""
from ..autograd import Function, Tensor, as_tensor

__all__ = ["reshape", "transpose", "swapaxes", "getitem", "concatenate", "stack", "pad",
           "expand_dims", "squeeze", "flatten"]


class Reshape(Function):
    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(f"cannot reshape a tensor of shape {x.shape} to "
                             f"{self.shape}") from None

    def backward(self, gy):
        return reshape(gy, self.inputs[0].shape)


class Transpose(Function):
    def __init__(self, axes=None):
        self.axes = axes

    def forward(self, x):
        if self.axes is None:
            self.axes = tuple(reversed(range(x.ndim)))
        if sorted(a % x.ndim for a in self.axes) != list(range(x.ndim)):
            raise ValueError(f"axes={self.axes!r} is not a permutation of the {x.ndim} "
                             "axes")
        return x.transpose(self.axes)

    def backward(self, gy):
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a % len(self.axes)] = i
        return transpose(gy, inverse)


def _is_basic(index):
    """True for slices, ints, None and Ellipsis only: positions then never repeat."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)


class GetItem(Function):
    def __init__(self, index):
        self.index = index

    def forward(self, x):
        return x[self.index]

    def backward(self, gy):
        return ScatterAdd(self.index, self.inputs[0].shape)(gy)


class ScatterAdd(Function):
    """The gradient of ``x[index]``: zeros of ``shape`` with ``gy`` added at ``index``
    (repeated integer indices accumulate)."""

    def __init__(self, index, shape):
        self.index, self.shape = index, shape

    def forward(self, gy):
        gx = self.xp.zeros(self.shape, dtype=gy.dtype)
        if _is_basic(self.index):
            gx[self.index] = gy
        else:  # unbuffered: repeated indices accumulate (CuPy has ufunc.at since v12)
            self.xp.add.at(gx, self.index, gy)
        return gx

    def backward(self, ggx):
        return getitem(ggx, self.index)


class Concatenate(Function):
    def __init__(self, axis=0):
        self.axis = axis

    def forward(self, *xs):
        return self.xp.concatenate(xs, axis=self.axis)

    def backward(self, gy):
        grads, start = [], 0
        axis = self.axis % gy.ndim
        for x in self.inputs:
            index = (slice(None),) * axis + (slice(start, start + x.shape[axis]),)
            grads.append(getitem(gy, index))
            start += x.shape[axis]
        return tuple(grads)


class Pad(Function):
    def __init__(self, pad_width, constant_values=0):
        self.pad_width, self.constant_values = pad_width, constant_values

    def forward(self, x):
        return self.xp.pad(x, self.pad_width, constant_values=self.constant_values)

    def backward(self, gy):
        index = tuple(slice(before, n - after)
                      for (before, after), n in zip(self.pad_width, gy.shape))
        return getitem(gy, index)


def reshape(x, shape: int | tuple) -> Tensor:
    x = as_tensor(x)
    if isinstance(shape, int):
        shape = (shape,)
    if tuple(shape) == x.shape:
        return x
    return Reshape(shape)(x)


def transpose(x, axes: tuple | None = None) -> Tensor:
    return Transpose(None if axes is None else tuple(axes))(x)


def swapaxes(x, axis1: int, axis2: int) -> Tensor:
    axes = list(range(x.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, axes)


def _index_arrays(index):
    items = index if isinstance(index, tuple) else (index,)
    items = tuple(i.data if isinstance(i, Tensor) else i for i in items)
    return items if isinstance(index, tuple) else items[0]


def getitem(x, index) -> Tensor:
    """``x[index]``: basic slicing and integer-array indexing; the backward scatter-adds."""
    return GetItem(_index_arrays(index))(x)


def concatenate(xs, axis: int = 0) -> Tensor:
    xs = list(xs)
    if not xs:
        raise ValueError("concatenate needs at least one tensor")
    return Concatenate(axis)(*xs)


def expand_dims(x, axis: int) -> Tensor:
    x = as_tensor(x)
    shape = list(x.shape)
    shape.insert(axis % (x.ndim + 1), 1)
    return reshape(x, shape)


def squeeze(x, axis: int | tuple | None = None) -> Tensor:
    x = as_tensor(x)
    axes = [i for i, n in enumerate(x.shape) if n == 1] if axis is None else \
        [a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis)]
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"squeeze axis={a} has size {x.shape[a]}, not 1")
    return reshape(x, [n for i, n in enumerate(x.shape) if i not in axes])


def stack(xs, axis: int = 0) -> Tensor:
    xs = [as_tensor(x) for x in xs]
    if not xs:
        raise ValueError("stack needs at least one tensor")
    shapes = {x.shape for x in xs}
    if len(shapes) != 1:
        raise ValueError(f"stack needs tensors of one shape, got {sorted(shapes)}")
    return concatenate([expand_dims(x, axis) for x in xs], axis=axis % (xs[0].ndim + 1))


def pad(x, pad_width, constant_values: float = 0) -> Tensor:
    """Pad with a constant; ``pad_width`` as NumPy's: ((before, after), ...) per axis."""
    x = as_tensor(x)
    if isinstance(pad_width, int):
        pad_width = ((pad_width, pad_width),) * x.ndim
    pad_width = tuple(tuple(int(v) for v in p) for p in pad_width)
    if len(pad_width) != x.ndim or any(len(p) != 2 or min(p) < 0 for p in pad_width):
        raise ValueError(f"pad_width={pad_width!r} must give (before, after) >= 0 for each "
                         f"of the {x.ndim} axes")
    return Pad(pad_width, constant_values)(x)


def flatten(x, start_axis: int = 1) -> Tensor:
    x = as_tensor(x)
    return reshape(x, x.shape[:start_axis] + (-1,))
