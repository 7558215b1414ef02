"""Seeded random draws for every backend.

``seed(n)`` makes every random draw of minidl reproducible: initializers draw on the host
(so a model starts from the same weights on NumPy and CuPy) and dropout draws on the
tensor's backend from a generator seeded from the same number.

>>> import minidl as mdl
>>> mdl.random.seed(0); a = mdl.random.host_generator().random()
>>> mdl.random.seed(0); a == mdl.random.host_generator().random()
True
"""
import numpy

from .backend import Backend, resolve

__all__ = ["seed", "host_generator", "generator", "reseed", "get_state", "set_state"]

_seed = None
_generators = {}


def seed(n: int | None) -> None:
    """Reseed every generator of minidl with the integer ``n``."""
    global _seed
    if isinstance(n, bool) or not isinstance(n, (int, numpy.integer)) or n < 0:
        raise ValueError(f"seed={n!r} must be a non-negative integer")
    _seed = int(n)
    _generators.clear()


def host_generator() -> numpy.random.Generator:
    """The NumPy ``Generator`` behind initializers and host-side shuffling."""
    return generator("numpy")


def generator(backend: str | Backend | None = None):
    """The random generator of a backend: ``numpy.random.Generator`` or a CuPy one."""
    b = resolve(backend)
    if b.name not in _generators:
        if b.name == "numpy":
            _generators[b.name] = numpy.random.default_rng(_seed)
        else:
            # CuPy's generator accepts a seed; offset so that it does not mirror the host
            # one
            device_seed = None if _seed is None else _seed + 1
            _generators[b.name] = b.xp.random.default_rng(device_seed)
    return _generators[b.name]


def reseed(backend: str | Backend | None) -> None:
    """Draw a number from the host generator and reseed a device backend's generator with
    it (NumPy's is the host one: only the draw happens, so both backends shuffle alike).
    ``fit`` does this at each epoch: a checkpoint saves the host state only, so a run
    resumed from one draws the same dropout masks on CuPy too."""
    b = resolve(backend)
    number = int(host_generator().integers(2 ** 63))
    if b.name != "numpy":
        _generators[b.name] = b.xp.random.default_rng(number)


def get_state() -> dict:
    """The host generator's state as a JSON-serializable dict (for checkpoints)."""
    state = host_generator().bit_generator.state
    return {"bit_generator": state["bit_generator"],
            "state": {k: str(v) for k, v in state["state"].items()},
            "has_uint32": int(state["has_uint32"]), "uinteger": int(state["uinteger"])}


def set_state(state) -> None:
    """Restore a state returned by ``get_state``."""
    gen = host_generator()
    gen.bit_generator.state = {
        "bit_generator": state["bit_generator"],
        "state": {k: int(v) for k, v in state["state"].items()},
        "has_uint32": int(state["has_uint32"]), "uinteger": int(state["uinteger"])}
