"""``Model``: a Layer that trains (``compile``/``fit``/...), saves and prints a summary.

``Sequential`` and functional models subclass it.
"""
import itertools
import textwrap

from .. import saving
from ..layers import Layer
from .training import Trainer

__all__ = ["Model"]


class Model(Trainer, Layer):
    """A layer with a training loop (``compile``/``fit``/...), saving and ``summary``.

    ``Model(inputs, outputs)`` (or ``Model(inputs=..., outputs=...)``) makes a functional
    model (``minidl.models.functional.Functional``), as in Keras.
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from .functional import Functional
            cls = Functional
        return super().__new__(cls)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A functional config (with ``input_layers``) makes a functional model."""
        if cls is Model and "input_layers" in config:
            from .functional import Functional
            return Functional.from_config(config, custom_objects=custom_objects)
        return super().from_config(config)

    def save(self, path, include_optimizer=True):
        """Write the whole model (architecture, weights, compile config, optimizer and RNG
        state) to one file at exactly ``path``; atomic (see ``minidl.saving``)."""
        saving.save_model(self, path, include_optimizer=include_optimizer)

    def save_weights(self, path):
        saving.save_weights(self, path)

    def load_weights(self, path):
        saving.load_weights(self, path)

    def to(self, backend):
        """Move every weight and the optimizer's state to ``backend``; returns self."""
        super().to(backend)
        if self.optimizer is not None:
            self.optimizer.to(backend)
        return self

    def summary(self, print_fn=print, line_length=None):
        """Print a table of layers, output shapes and parameter counts, with totals; a
        functional model adds the column "Connected to" (``layer[node][tensor]``)."""
        rows = self._summary_rows()
        connected = any(len(row) == 4 for row in rows)
        line_length = line_length or (98 if connected else 72)
        if connected:
            widths = [line_length * p // 100 for p in (32, 24, 12)]
        else:
            widths = [line_length * 45 // 100, line_length * 35 // 100]
            widths.append(line_length - sum(widths))
        rule = "-" * line_length

        def line(cells):
            a, b, c = (str(cell) for cell in cells[:3])
            text = a.ljust(widths[0]) + b.ljust(widths[1]) + c.rjust(widths[2])
            return text + ("  " + str(cells[3]) if len(cells) > 3 else "")

        headers = ("Layer (type)", "Output Shape", "Param #") + (
            ("Connected to",) if connected else ())
        out = [f'Model: "{self.name}"', rule, line(headers), "=" * line_length]
        for row in rows:  # long names and shapes wrap onto more lines, as in Keras
            columns = [textwrap.wrap(str(row[0]), widths[0] - 1) or [""],
                       textwrap.wrap(str(row[1]), widths[1] - 1) or [""],
                       [f"{row[2]:,}"]]
            if connected:
                columns.append(list(row[3]) if len(row) > 3 else [])
            out += [line(cells).rstrip()
                    for cells in itertools.zip_longest(*columns, fillvalue="")]
        trainable = sum(int(w.size) for w in self.trainable_weights)
        total = sum(int(w.size) for w in self.weights)
        out += ["=" * line_length, f"Total params: {total:,}",
                f"Trainable params: {trainable:,}",
                f"Non-trainable params: {total - trainable:,}", rule]
        print_fn("\n".join(out))
