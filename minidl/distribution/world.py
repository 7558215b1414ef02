"""The world of processes: MPI's ``COMM_WORLD`` under ``mpiexec``, else a world of one.

>>> initialize().size
1
"""
import os

from .communicator import Communicator

__all__ = ["initialize", "num_processes", "process_id"]

# environment variables that the launchers of MPICH, Intel MPI, Open MPI, MVAPICH and
# PMIx set in each process they start
_LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
                       "MV2_COMM_WORLD_SIZE")

_world = None


def _launched_by_mpiexec():
    return any(name in os.environ for name in _LAUNCHER_VARIABLES)


def _mpi_world():
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise RuntimeError(
            "this process was started by mpiexec, but mpi4py is not installed; install "
            f'it with: pip install "minidl[mpi]" ({err})') from None
    return MPI.COMM_WORLD


def initialize() -> Communicator:
    """Join the world of processes (idempotent); returns its ``Communicator``.

    Under ``mpiexec`` (or another MPI launcher) the world is MPI's ``COMM_WORLD``;
    otherwise it is a world of one process and MPI is not loaded.

    Raises:
        RuntimeError: started by an MPI launcher but mpi4py is missing (names the fix).
    """
    global _world
    if _world is None:
        _world = Communicator(_mpi_world() if _launched_by_mpiexec() else None)
    return _world


def num_processes() -> int:
    """The number of processes in the world (1 outside ``mpiexec``)."""
    return initialize().size


def process_id() -> int:
    """This process's index in the world, from 0 (0 outside ``mpiexec``)."""
    return initialize().rank
