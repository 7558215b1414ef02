"""Collection rules for the doctests under minidl/ (tests/conftest.py holds the
fixtures)."""
import importlib.util

# the compiled kernels' module imports Numba, an optional extra
collect_ignore = [] if importlib.util.find_spec("numba") else [
    "minidl/ops/depthwise/numba_kernels.py", "minidl/kernels/_numba.py",
    "minidl/kernels/normalization.py", "minidl/kernels/elementwise.py"]
