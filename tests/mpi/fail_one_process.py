"""One process of a data-parallel ``fit`` fails; every process must stop soon.

``mpiexec -n 2 python tests/mpi/fail_one_process.py KIND`` with KIND one of ``data`` (a
label out of range on the last process), ``loss`` (NaN inputs on the last process: a
non-finite loss, raised on every process) or ``callback`` (a callback of the last
process raises at its third batch). ``tests/test_distribution.py`` runs it and expects a
non-zero exit within seconds; without the stop, the other processes would wait forever
in the step's allreduce.
"""
import sys

import numpy as np

import minidl as mdl


class _Fails(mdl.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 2:
            raise RuntimeError("a callback failed on purpose")


def main(kind):
    mdl.random.seed(0)
    mdl.distribution.set_distribution(mdl.distribution.DataParallel())
    world = mdl.distribution.initialize()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)), rng.integers(0, 3, size=64)
    failing = world.rank == world.size - 1
    if failing and kind == "data":
        y[:] = 7
    if failing and kind == "loss":
        x[:] = np.nan
    model = mdl.models.Sequential([mdl.layers.Dense(3, input_shape=(4,))])
    model.compile("sgd", mdl.losses.SparseCategoricalCrossentropy(from_logits=True))
    callbacks = [_Fails()] if failing and kind == "callback" else []
    model.fit(x, y, batch_size=4 * world.size, epochs=1000, verbose=0, callbacks=callbacks)


if __name__ == "__main__":
    main(sys.argv[1])
