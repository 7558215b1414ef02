"""Shared fixtures: every backend-parametrized test runs on NumPy, and on CuPy (marked
``gpu``) when a GPU is present. ``fake_cupy`` runs minidl's CuPy branches on a NumPy
stand-in that records device-to-host reads (``tests/fake_cupy.py``)."""
import importlib.util
import pathlib

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

BACKENDS = ["numpy", pytest.param("cupy", marks=pytest.mark.gpu)]


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` are skipped, with the reason, where CuPy cannot run."""
    if _CUPY_SKIP is not None:
        skip = pytest.mark.skip(reason=f"no GPU: {_CUPY_SKIP}")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(params=BACKENDS + ["fake-cupy"])
def backend(request):
    """The backend name; the default backend is set to it for the test."""
    if request.param == "fake-cupy":
        with _load_fake_cupy().installed(), mdl.use_backend("cupy"):
            yield "cupy"
        return
    with mdl.use_backend(request.param):
        yield request.param


def _load_fake_cupy():
    path = pathlib.Path(__file__).with_name("fake_cupy.py")
    spec = importlib.util.spec_from_file_location("minidl_tests_fake_cupy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_cupy():
    """The ``fake_cupy`` module, installed as minidl's "cupy" backend for the test."""
    module = _load_fake_cupy()
    with module.installed():
        yield module


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seeded():
    mdl.random.seed(0)
    yield


__all__ = ["BACKENDS", "available_backends"]

# the golden-file writers need Keras and JAX; they are run by hand, never collected
collect_ignore = ["golden/make_golden.py", "golden/make_golden_models.py",
                  "golden/make_golden_graphs.py", "golden/make_golden_files.py"]
