"""minidl's compiled CPU kernels (Numba, the optional ``minidl[fast]`` extra), each with
NumPy code in ``minidl.ops`` as the reference it is tested against:

- ``normalization``: batch normalization's statistics, normalization and backward;
- ``elementwise``: the gradient of ``clip`` (ReLU6);
- the depthwise convolution's kernels, in ``minidl.ops.depthwise.numba_kernels``.

They run when ``minidl.config.cpu_kernels()`` is ``"numba"`` (the default whenever Numba
is importable). Each compiles the first time it runs in a dtype (tens of seconds; one
line on stderr says so) and is cached on disk, so later processes load it in well under
a second. To compile everything ahead of time (e.g. in a Docker build)::

    python -m minidl.kernels --compile

Beside them, what decides how the CPU work runs: ``threads`` (how many threads a call
takes now), ``blas`` (NumPy's BLAS on one thread inside a block) and ``memory`` (glibc's
``malloc`` set up for a training loop's large temporaries).
"""
__all__ = []
