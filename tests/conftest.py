"""Shared fixtures: every backend-parametrized test runs on NumPy, and on CuPy (marked
``gpu``) when a GPU is present."""
import numpy as np
import pytest

import minidl as mdl
from minidl.backend import available_backends


def _cupy_skip_reason():
    try:
        mdl.backend.resolve("cupy")
    except RuntimeError as err:
        return str(err)
    return None


_CUPY_SKIP = _cupy_skip_reason()

BACKENDS = ["numpy", pytest.param("cupy", marks=[
    pytest.mark.gpu,
    pytest.mark.skipif(_CUPY_SKIP is not None, reason=f"no GPU: {_CUPY_SKIP}")])]


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The backend name; the default backend is set to it for the test."""
    with mdl.use_backend(request.param):
        yield request.param


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seeded():
    mdl.random.seed(0)
    yield


__all__ = ["BACKENDS", "available_backends"]

# the golden-file writer needs Keras and JAX; it is run by hand, never collected
collect_ignore = ["golden/make_golden.py"]
