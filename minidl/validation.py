"""Checks of public arguments, shared by the modules that take numbers and flags.

Each returns the value in its plain Python type, or raises naming the argument, the value
and what was expected.

>>> from minidl.validation import check_int
>>> check_int(3, "epochs", 1)
3
"""
import math
import numbers

__all__ = ["check_int", "check_number", "check_bool"]


def check_int(value, name, minimum=0):
    """``value`` as an ``int`` >= ``minimum`` (a bool is refused).

    Raises:
        ValueError: when ``value`` is not such an integer.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or \
            value < minimum:
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def check_number(value, name, minimum=None, optional=False):
    """``value`` as a finite ``float`` (>= ``minimum`` when given), or None when
    ``optional``.

    Raises:
        ValueError: when ``value`` is not such a number.
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(value) or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ValueError(f"{name}={value!r} must be a finite number{bound}")
    return float(value)


def check_bool(value, name, error=TypeError):
    """``value`` when it is a bool.

    Raises:
        TypeError: (or ``error``) when it is not.
    """
    if not isinstance(value, bool):
        raise error(f"{name}={value!r} must be True or False (a bool)")
    return value
