"""Weight initializers with Keras 3's names, defaults and formulas.

An initializer is called as ``init(shape, dtype=None)`` and returns an array of the default
backend (``dtype`` defaults to ``config.floatx()``). Random initializers draw on the host,
so a model starts from the same weights on NumPy and CuPy:

- ``seed=None``: from ``minidl.random.host_generator()``, reproducible under
  ``minidl.random.seed(n)``;
- ``seed=<int>``: from a fresh ``numpy.random.default_rng(seed)`` on every call, so the
  same initializer gives the same values each time (as Keras 3's seeded initializers do).

Number arguments must be finite (``stddev`` >= 0, ``scale`` > 0); anything else is refused
with a ``ValueError`` (a ``TypeError`` for a value that is not a number) naming it, and so
is a call whose values would overflow the dtype (``RandomNormal(mean=1e39)`` in float32).

Fan rule (``compute_fans``): a 1-D shape has ``fan_in = fan_out = shape[0]``; a 2-D shape
``(fan_in, fan_out)``; a convolution kernel ``(*spatial, in, out)`` has a receptive field
``rf = prod(spatial)``, ``fan_in = rf * in`` and ``fan_out = rf * out``.

>>> import minidl as mdl
>>> mdl.initializers.get("glorot_uniform")
GlorotUniform(seed=None)
>>> w = mdl.initializers.GlorotUniform(seed=1)((3, 4))
>>> w.shape, w.dtype, bool(abs(w).max() <= (6 / 7) ** 0.5)
((3, 4), dtype('float32'), True)
"""
import math

import numpy

from . import config, limits, random
from .backend import get_backend
from .identifiers import Configurable, Family, dtype_name

__all__ = ["Initializer", "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform",
           "TruncatedNormal", "VarianceScaling", "GlorotUniform", "GlorotNormal",
           "HeUniform", "HeNormal", "LecunUniform", "LecunNormal", "Orthogonal", "Identity",
           "compute_fans", "get", "serialize", "deserialize"]


def compute_fans(shape: tuple) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shape (see the module docstring)."""
    shape = tuple(shape)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[:-2])
    return receptive_field * shape[-2], receptive_field * shape[-1]


def _check_shape(shape):
    if isinstance(shape, int):
        shape = (shape,)
    try:
        shape = tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape={shape!r} must be a tuple of non-negative ints") from None
    if any(n < 0 for n in shape):
        raise ValueError(f"shape={shape!r} must be a tuple of non-negative ints")
    limits.charge(shape)  # a model rebuilt from a file: refuse sizes the file lacks
    return shape


def _float_dtype(dtype):
    name = dtype_name(dtype or config.floatx())
    if numpy.dtype(name).kind != "f":
        raise ValueError(f"dtype={dtype!r}: random initializers need a floating dtype")
    return name


def _finite(value, name, positive=False, non_negative=False):
    """``value`` as a float if it is a finite number (> 0 with ``positive``, >= 0 with
    ``non_negative``); a ``TypeError`` or ``ValueError`` naming it otherwise."""
    expected = "a positive number" if positive else \
        "a finite number >= 0" if non_negative else "a finite number"
    if isinstance(value, (bool, numpy.bool_)) or \
            not isinstance(value, (int, float, numpy.number)):
        raise TypeError(f"{name}={value!r} must be {expected}")
    if not math.isfinite(value) or (positive and value <= 0) or \
            (non_negative and value < 0):
        raise ValueError(f"{name}={value!r} must be {expected}")
    return float(value) + 0.0  # -0.0 becomes 0.0 (NumPy refuses a scale of -0.0)


def _in_dtype(initializer, host_values, dtype):
    """``host_values`` cast to ``dtype``; refuses values beyond a float dtype's range
    (a finite argument can still overflow float32: the weights would be inf)."""
    with numpy.errstate(over="ignore", invalid="ignore"):
        values = numpy.asarray(host_values).astype(dtype, copy=False)
    if values.dtype.kind == "f" and not numpy.isfinite(values).all():
        raise ValueError(f"{initializer!r} gives values beyond the range of {dtype} "
                         f"(largest magnitude {float(numpy.abs(host_values).max()):g}); "
                         "use smaller arguments or a wider dtype")
    return values


def _to_backend(initializer, host_array, dtype):
    return get_backend().asarray(_in_dtype(initializer, host_array, dtype))


class Initializer(Configurable):
    """Base class: ``__call__(shape, dtype=None)`` returns a backend array."""

    def __call__(self, shape, dtype=None):
        raise NotImplementedError(f"{type(self).__name__}.__call__")


class Zeros(Initializer):
    """All zeros (any dtype)."""

    def __call__(self, shape, dtype=None):
        return get_backend().xp.zeros(_check_shape(shape), dtype=dtype_name(dtype or
                                                                          config.floatx()))


class Ones(Initializer):
    """All ones (any dtype)."""

    def __call__(self, shape, dtype=None):
        return get_backend().xp.ones(_check_shape(shape), dtype=dtype_name(dtype or
                                                                         config.floatx()))


class Constant(Initializer):
    """Every element equal to the scalar ``value`` (default 0.0, a finite number)."""

    def __init__(self, value=0.0) -> None:
        self.value = _finite(value, "value")

    def __call__(self, shape, dtype=None):
        dtype = dtype_name(dtype or config.floatx())
        _in_dtype(self, self.value, dtype)  # refuses a value beyond the dtype's range
        return get_backend().xp.full(_check_shape(shape), self.value, dtype=dtype)

    def get_config(self):
        return {"value": self.value}


class RandomInitializer(Initializer):
    """Shared seed handling: ``seed=None`` draws from minidl's host generator, an int
    seed from a fresh generator of that seed on every call."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or
                                 not isinstance(seed, (int, numpy.integer)) or seed < 0):
            raise ValueError(f"seed={seed!r} must be None or a non-negative int")
        self.seed = None if seed is None else int(seed)

    def _generator(self):
        if self.seed is None:
            return random.host_generator()
        return numpy.random.default_rng(self.seed)

    def get_config(self):
        return {"seed": self.seed}


def _truncated_normal(gen, shape, mean, stddev):
    """Normal draws, values beyond two standard deviations redrawn."""
    values = gen.standard_normal(shape)
    bad = numpy.abs(values) > 2
    while bad.any():
        values[bad] = gen.standard_normal(int(bad.sum()))
        bad = numpy.abs(values) > 2
    return mean + stddev * values


class RandomNormal(RandomInitializer):
    """Normal draws with ``mean`` (0.0) and ``stddev`` (0.05, a finite number >= 0)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05,
                 seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean = _finite(mean, "mean")
        self.stddev = _finite(stddev, "stddev", non_negative=True)

    def __call__(self, shape, dtype=None):
        dtype = _float_dtype(dtype)
        values = self._generator().normal(self.mean, self.stddev, _check_shape(shape))
        return _to_backend(self, values, dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(RandomInitializer):
    """Uniform draws in ``[minval, maxval)`` (defaults -0.05, 0.05)."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05,
                 seed: int | None = None) -> None:
        super().__init__(seed)
        self.minval = _finite(minval, "minval")
        self.maxval = _finite(maxval, "maxval")
        if self.maxval < self.minval:
            raise ValueError(f"maxval={maxval!r} must be >= minval={minval!r}")

    def __call__(self, shape, dtype=None):
        dtype = _float_dtype(dtype)
        values = self._generator().uniform(self.minval, self.maxval, _check_shape(shape))
        return _to_backend(self, values, dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class TruncatedNormal(RandomInitializer):
    """Normal draws with ``mean`` (0.0) and ``stddev`` (0.05, a finite number >= 0);
    values more than two standard deviations from the mean are redrawn."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05,
                 seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean = _finite(mean, "mean")
        self.stddev = _finite(stddev, "stddev", non_negative=True)

    def __call__(self, shape, dtype=None):
        dtype = _float_dtype(dtype)
        values = _truncated_normal(self._generator(), _check_shape(shape), self.mean,
                                   self.stddev)
        return _to_backend(self, values, dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class VarianceScaling(RandomInitializer):
    """Draws whose variance is ``scale / n``, with ``n`` the fan chosen by ``mode``.

    ``n`` is ``max(1, fan_in)`` (mode "fan_in"), ``max(1, fan_out)`` ("fan_out") or
    ``max(1, (fan_in + fan_out) / 2)`` ("fan_avg"), fans from ``compute_fans``.
    Distributions: "truncated_normal" (``stddev = sqrt(scale / n) / 0.8796256610342398``,
    cut at two standard deviations), "untruncated_normal" (``stddev = sqrt(scale / n)``)
    or "uniform" (``[-limit, limit]``, ``limit = sqrt(3 scale / n)``); "normal" means
    "truncated_normal".

    Args:
        scale: positive scaling factor (1.0).
        mode: "fan_in" (default), "fan_out" or "fan_avg".
        distribution: "truncated_normal" (default), "untruncated_normal" or "uniform".
        seed: None or a non-negative int.
        input_axes, output_axes: accepted as None only (Keras 3.15 writes them into
            configs); the fans always follow the rule above.

    Raises:
        ValueError: for a non-positive scale, an unknown mode or distribution.
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: int | None = None,
                 input_axes: None = None, output_axes: None = None) -> None:
        super().__init__(seed)
        _axes_unset(input_axes, output_axes)
        self.scale = _finite(scale, "scale", positive=True)
        if not isinstance(mode, str) or mode.lower() not in self._MODES:
            raise ValueError(f"mode={mode!r} must be one of {self._MODES}")
        self.mode = mode.lower()
        dist = distribution.lower() if isinstance(distribution, str) else distribution
        dist = "truncated_normal" if dist == "normal" else dist
        if dist not in self._DISTRIBUTIONS:
            raise ValueError(f"distribution={distribution!r} must be one of "
                             f"{self._DISTRIBUTIONS}")
        self.distribution = dist

    def __call__(self, shape, dtype=None):
        dtype = _float_dtype(dtype)
        shape = _check_shape(shape)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out,
             "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        gen = self._generator()
        if self.distribution == "truncated_normal":
            stddev = math.sqrt(scale) / 0.87962566103423978
            values = _truncated_normal(gen, shape, 0.0, stddev)
        elif self.distribution == "untruncated_normal":
            values = gen.normal(0.0, math.sqrt(scale), shape)
        else:
            limit = math.sqrt(3.0 * scale)
            values = gen.uniform(-limit, limit, shape)
        return _to_backend(self, values, dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


def _axes_unset(input_axes, output_axes):
    for name, value in (("input_axes", input_axes), ("output_axes", output_axes)):
        if value is not None:
            raise ValueError(f"{name}={value!r}: only None is supported (fans come from "
                             "the last two axes and the receptive field)")


class _PresetVarianceScaling(VarianceScaling):
    """A VarianceScaling with fixed scale/mode/distribution; its config is just the seed."""

    _preset = (1.0, "fan_in", "uniform")

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        scale, mode, distribution = self._preset
        super().__init__(scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self.seed}


class GlorotUniform(_PresetVarianceScaling):
    """Uniform in ``[-limit, limit]``, ``limit = sqrt(6 / (fan_in + fan_out))``."""
    _preset = (1.0, "fan_avg", "uniform")


class GlorotNormal(_PresetVarianceScaling):
    """Truncated normal, ``stddev = sqrt(2 / (fan_in + fan_out)) / 0.8796...``."""
    _preset = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_PresetVarianceScaling):
    """Uniform in ``[-limit, limit]``, ``limit = sqrt(6 / fan_in)``."""
    _preset = (2.0, "fan_in", "uniform")


class HeNormal(_PresetVarianceScaling):
    """Truncated normal, ``stddev = sqrt(2 / fan_in) / 0.8796...``."""
    _preset = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_PresetVarianceScaling):
    """Uniform in ``[-limit, limit]``, ``limit = sqrt(3 / fan_in)``."""
    _preset = (1.0, "fan_in", "uniform")


class LecunNormal(_PresetVarianceScaling):
    """Truncated normal, ``stddev = sqrt(1 / fan_in) / 0.8796...``."""
    _preset = (1.0, "fan_in", "truncated_normal")


class Orthogonal(RandomInitializer):
    """An orthogonal matrix (times ``gain``), reshaped to ``shape``.

    The shape is flattened to ``(prod(shape[:-1]), shape[-1])``; a normal matrix of shape
    ``(max(rows, cols), min(rows, cols))`` is QR-factorized, ``q`` multiplied by the signs
    of ``diag(r)`` and transposed when ``rows < cols``. Needs a rank >= 2 shape.
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        super().__init__(seed)
        self.gain = _finite(gain, "gain")

    def __call__(self, shape, dtype=None):
        dtype = _float_dtype(dtype)
        shape = _check_shape(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a shape of rank >= 2, got shape={shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self._generator().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = numpy.linalg.qr(a)
        q = q * numpy.sign(numpy.diag(r))
        if rows < cols:
            q = q.T
        return _to_backend(self, self.gain * q.reshape(shape), dtype)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    """``gain`` times the identity matrix (rank-2 shapes; non-square ones get the
    rectangular identity)."""

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = _finite(gain, "gain")

    def __call__(self, shape, dtype=None):
        shape = _check_shape(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity needs a rank-2 shape, got shape={shape}")
        return _to_backend(self, self.gain * numpy.eye(*shape),
                           dtype_name(dtype or config.floatx()))

    def get_config(self):
        return {"gain": self.gain}


_family = Family("initializer", module="keras.initializers", base=Initializer)
for _cls in (Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal,
             VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal,
             LecunUniform, LecunNormal, Orthogonal, Identity):
    _family.register(_cls)
_family.register(Zeros, "zero")
_family.register(Ones, "one")
_family.register(RandomNormal, "normal")
_family.register(RandomUniform, "uniform")
_family.register(Identity, "IdentityInitializer")


def get(identifier, custom_objects: dict | None = None):
    """An initializer from a name (``"glorot_uniform"``), a config dict, an instance or a
    callable ``f(shape, dtype=None)``; None gives None.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    return _family.get(identifier, custom_objects)


def serialize(initializer) -> dict | str | None:
    """Keras 3's ``{"module", "class_name", "config", "registered_name"}`` form."""
    return _family.serialize(initializer)


def deserialize(config, custom_objects: dict | None = None):
    return _family.deserialize(config, custom_objects)
