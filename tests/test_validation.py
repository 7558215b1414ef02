"""The shared argument checks (``minidl.validation``) and their one message per check."""
import numpy as np
import pytest

from minidl.validation import check_bool, check_int, check_number


def test_check_int():
    assert check_int(np.int64(3), "epochs", 1) == 3 and type(check_int(3, "n")) is int
    for bad in (True, 2.0, "3", 0):
        with pytest.raises(ValueError, match=rf"epochs={bad!r} must be an integer >= 1"):
            check_int(bad, "epochs", 1)


def test_check_number():
    assert check_number(2, "factor", 0.0) == 2.0
    assert check_number(None, "x", optional=True) is None
    for bad in (None, True, float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="min_delta=.* must be a finite number >= 0"):
            check_number(bad, "min_delta", 0)


def test_check_bool():
    assert check_bool(False, "shuffle") is False
    with pytest.raises(TypeError, match="shuffle=1 must be True or False"):
        check_bool(1, "shuffle")
    with pytest.raises(ValueError, match="from_logits='yes'"):
        check_bool("yes", "from_logits", error=ValueError)
