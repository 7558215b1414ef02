"""Collective operations among the processes of a world: MPI on host (NumPy) arrays, NCCL
on CuPy arrays, and a world of one that needs neither.

Arrays travel through mpi4py's buffer interface (``Allreduce``, ``Bcast``,
``Allgatherv``): no array is ever pickled. Small Python objects (configs, a random
generator's state) use mpi4py's pickling calls, ``*_object``.

>>> import numpy as np
>>> world = Communicator()            # a world of one: no MPI needed
>>> world.size, world.rank
(1, 0)
>>> world.allreduce(np.array([1.0, 2.0]), op="mean")
array([1., 2.])
"""
import sys

import numpy

from .. import backend as _backend

__all__ = ["Communicator"]

OPS = ("sum", "mean", "max", "min")


def _check_op(op, array):
    if not isinstance(op, str) or op not in OPS:
        raise ValueError(f"op={op!r} must be one of {OPS}")
    dtype = getattr(array, "dtype", None)
    if op == "mean" and dtype is not None and dtype.kind not in "fc":
        raise TypeError(f"allreduce(op='mean') of a {dtype} array: the mean is written in "
                        "the array's dtype, so it must be floating; cast it (e.g. "
                        ".astype('float64')) or reduce with op='sum'")


def _host_buffer(array, name):  # host
    if not isinstance(array, numpy.ndarray):
        raise TypeError(f"{name} must be a NumPy or CuPy array, got {type(array).__name__}")
    return numpy.ascontiguousarray(array)


class Communicator:
    """The processes of one world and the collectives among them.

    Args:
        comm: an ``mpi4py.MPI.Comm``, or None for a world of one process.

    Every method is collective: each process of the world calls it, in the same order,
    with arrays of the same shape and dtype (``allgather`` excepted: there the first
    axis may differ).
    """

    def __init__(self, comm=None) -> None:
        self.comm = comm
        self.size = 1 if comm is None else comm.Get_size()
        self.rank = 0 if comm is None else comm.Get_rank()
        self._nccl = None

    def allreduce(self, array, op="sum", out=None):
        """The element-wise reduction of ``array`` over every process.

        Args:
            array: a NumPy or CuPy array, of one shape and dtype on every process.
            op: ``"sum"``, ``"mean"``, ``"max"`` or ``"min"``; ``"mean"`` takes floating
                arrays only (the mean is written in the array's dtype).
            out: where to write the result (``array`` itself for in place), or None.

        Returns:
            The reduced array (``out`` when given), on ``array``'s backend.

        Raises:
            ValueError: for an unknown ``op``.
            TypeError: ``op="mean"`` of an integer or boolean array.
        """
        _check_op(op, array)
        if out is None:
            out = array.copy()
        elif out is not array:
            out[...] = array
        if self.size > 1:
            if _backend._is_cupy_array(out):
                self._nccl_comm().allreduce(out, op)
            else:
                self.comm.Allreduce(self._mpi().IN_PLACE, _contiguous(out),
                                    self._mpi_op(op))
        if op == "mean":
            out /= self.size
        return out

    def broadcast(self, array, root=0):
        """Process ``root``'s values of ``array``, written into ``array`` on every process
        (it must be C-contiguous) and returned."""
        if self.size > 1:
            if _backend._is_cupy_array(array):
                self._nccl_comm().broadcast(array, root)
            else:
                self.comm.Bcast(_contiguous(array), root=root)
        return array

    def allgather(self, array):  # host
        """The host arrays of every process joined along axis 0, in process order (the
        first axis may differ between processes; the other axes and dtype may not)."""
        array = _host_buffer(array, "array")
        if self.size == 1:
            return array.copy()
        counts = self.comm.allgather(array.size)
        rows = self.comm.allgather(array.shape[0])
        out = numpy.empty((sum(rows),) + array.shape[1:], dtype=array.dtype)
        self.comm.Allgatherv(array, [out, counts])
        return out

    def allgather_object(self, value):
        """A list of every process's ``value`` (a small picklable object)."""
        return [value] if self.size == 1 else self.comm.allgather(value)

    def broadcast_object(self, value, root=0):
        """Process ``root``'s ``value`` (a small picklable object) on every process."""
        return value if self.size == 1 else self.comm.bcast(value, root=root)

    def barrier(self):
        if self.size > 1:
            self.comm.Barrier()

    def abort(self, code=1):
        """Stop every process of the world now (``MPI_Abort``); in a world of one, exit."""
        sys.stdout.flush()
        sys.stderr.flush()
        if self.size > 1:
            self.comm.Abort(code)
        sys.exit(code)

    def _mpi(self):
        return sys.modules["mpi4py.MPI"]

    def _mpi_op(self, op):
        mpi = self._mpi()
        return {"sum": mpi.SUM, "mean": mpi.SUM, "max": mpi.MAX, "min": mpi.MIN}[op]

    def _nccl_comm(self):
        if self._nccl is None:
            self._nccl = _NcclComm(self)
        return self._nccl

    def __repr__(self):
        kind = "a world of one" if self.comm is None else "MPI"
        return f"<Communicator rank {self.rank} of {self.size} ({kind})>"


def _contiguous(array):
    if not array.flags.c_contiguous:
        raise ValueError(f"an array of shape {array.shape} is not C-contiguous; "
                         "collectives write into contiguous arrays only")
    return array


class _NcclComm:
    """NCCL on CuPy arrays, set up through MPI (process 0 makes the NCCL id).

    Not run on a GPU in this project's CI (none is available there): it follows
    ``cupy.cuda.nccl``'s documented calls, and the data-parallel tests hold the MPI path
    to the same results this path must give.
    """

    def __init__(self, world):
        from cupy.cuda import nccl
        self.nccl = nccl
        uid = world.broadcast_object(nccl.get_unique_id() if world.rank == 0 else None)
        self.comm = nccl.NcclCommunicator(world.size, uid, world.rank)

    def _dtype(self, array):
        codes = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32",
                 "float64": "NCCL_FLOAT64", "int32": "NCCL_INT32", "int64": "NCCL_INT64"}
        if array.dtype.name not in codes:
            raise TypeError(f"NCCL collectives take {sorted(codes)} arrays, got "
                            f"{array.dtype.name}")
        return getattr(self.nccl, codes[array.dtype.name])

    def allreduce(self, array, op):
        code = {"sum": "NCCL_SUM", "mean": "NCCL_SUM", "max": "NCCL_MAX", "min": "NCCL_MIN"}
        _contiguous(array)
        stream = _current_stream()
        self.comm.allReduce(array.data.ptr, array.data.ptr, array.size, self._dtype(array),
                            getattr(self.nccl, code[op]), stream)

    def broadcast(self, array, root):
        _contiguous(array)
        stream = _current_stream()
        self.comm.bcast(array.data.ptr, array.size, self._dtype(array), root, stream)


def _current_stream():
    return _backend.resolve("cupy").xp.cuda.get_current_stream().ptr
