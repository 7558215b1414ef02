"""Data-parallel training over processes, named after Keras 3's ``keras.distribution``.

One script runs unchanged on one process and under ``mpiexec -n N``::

    import minidl as mdl
    mdl.distribution.initialize()                # the MPI world, or a world of one
    mdl.distribution.set_distribution(mdl.distribution.DataParallel())
    model.fit(x, y, batch_size=64)              # 64 samples per step over all processes

``initialize()`` reads the MPI world when the process was started by ``mpiexec`` (through
mpi4py: ``pip install "minidl[mpi]"``), and makes a world of one otherwise, without
importing MPI. With no distribution set, or a world of one, ``fit`` runs its ordinary
single-process loop. What ``DataParallel`` does to ``fit``, ``evaluate`` and ``predict`` is
described in ``minidl.distribution.data_parallel``.

>>> import minidl as mdl
>>> mdl.distribution.num_processes(), mdl.distribution.process_id()
(1, 0)
>>> mdl.distribution.DataParallel()
<DataParallel over 1 processes>
"""
from .communicator import Communicator
from .data_parallel import DataParallel
from .world import initialize, num_processes, process_id

__all__ = ["initialize", "num_processes", "process_id", "DataParallel",
           "set_distribution", "distribution", "data_parallel", "Communicator"]

_distribution = None


def set_distribution(value: DataParallel | None) -> None:
    """Make ``value`` (a ``DataParallel``, or None for none) the distribution that
    ``fit``, ``evaluate``, ``predict`` and synchronized BatchNormalization use.

    Raises:
        TypeError: ``value`` is neither a ``DataParallel`` nor None.
    """
    global _distribution
    if value is not None and not isinstance(value, DataParallel):
        raise TypeError("set_distribution takes a minidl.distribution.DataParallel or "
                        f"None, got {type(value).__name__}")
    _distribution = value


def distribution() -> DataParallel | None:
    """The distribution set by ``set_distribution``, or None."""
    return _distribution


def data_parallel() -> DataParallel | None:
    """The ``DataParallel`` in effect over more than one process, or None (then training
    takes its single-process path)."""
    value = _distribution
    if value is None or value.communicator.size == 1:
        return None
    return value
