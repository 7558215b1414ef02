"""``Model``: a Layer that trains (``compile``/``fit``/...), saves and prints a summary.

``Sequential`` and functional models subclass it. ``to_json()`` writes the architecture as
Keras 3 does (``{"module", "class_name", "config", "registered_name", "build_config"}``)
and ``model_from_json`` reads it (or Keras's) back, through ``json`` and the layer
registry only: no code runs.
"""
import itertools
import json
import os
import textwrap

from .. import saving
from ..keras_files.architecture import deserialize_screened
from ..layers import Layer, serialize
from ..limits import FormatError
from .training import Trainer

__all__ = ["Model", "model_from_json"]


class Model(Trainer, Layer):
    """A layer with a training loop (``compile``/``fit``/...), saving and ``summary``.

    ``Model(inputs, outputs)`` (or ``Model(inputs=..., outputs=...)``) makes a functional
    model (``minidl.models.functional.Functional``), as in Keras.
    """

    # The class ``Model(inputs, outputs)`` makes. Functional subclasses Model, so this
    # module cannot import it: ``class Functional(..., Model, functional=True)`` sets it.
    _functional = None

    def __init_subclass__(cls, functional=False, **kwargs):
        super().__init_subclass__(**kwargs)
        if functional:
            Model._functional = cls

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            cls = Model._functional
        return super().__new__(cls)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A functional config (with ``input_layers``) makes a functional model."""
        if cls is Model and "input_layers" in config:
            return Model._functional.from_config(config, custom_objects=custom_objects)
        return super().from_config(config)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer called ``name``, or at position ``index`` of ``layers`` (as Keras:
        give one of the two).

        Raises:
            ValueError: both or neither given, an index out of range, or no such name.
        """
        layers = self.layers
        if index is not None and name is not None:
            raise ValueError(f"Provide only a layer name or a layer index. Received: "
                             f"index={index}, name={name}.")
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, int) or \
                    not -len(layers) <= index < len(layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but model "
                                 f"only has {len(layers)} layers.")
            return layers[index]
        if name is None:
            raise ValueError("Provide either a layer name or layer index at `get_layer`.")
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: "
                         f"{[layer.name for layer in layers]}.")

    def to_json(self, **kwargs) -> str:
        """The architecture as JSON text: Keras 3's serialized form of the model (no
        weights); ``kwargs`` go to ``json.dumps`` (e.g. ``indent=2``)."""
        return json.dumps(serialize(self), **kwargs)

    def save(self, path: str | bytes | os.PathLike, include_optimizer: bool = True) -> None:
        """Write the whole model (architecture, weights, compile config, optimizer and RNG
        state) to one file at exactly ``path``; atomic (see ``minidl.saving``)."""
        saving.save_model(self, path, include_optimizer=include_optimizer)

    def save_weights(self, path: str | bytes | os.PathLike) -> None:
        saving.save_weights(self, path)

    def load_weights(self, path: str | bytes | os.PathLike) -> None:
        saving.load_weights(self, path)

    def to(self, backend):
        """Move every weight and the optimizer's state to ``backend``; returns self."""
        super().to(backend)
        if self.optimizer is not None:
            self.optimizer.to(backend)
        return self

    def summary(self, print_fn=print, line_length: int | None = None) -> None:
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


def model_from_json(json_string: str, custom_objects: dict | None = None) -> Model:
    """A model (uncompiled, freshly initialized weights) from ``to_json()`` text or Keras
    3's ``model.to_json()``; also Keras 2's ``{"class_name", "config"}`` layout.

    Only ``json`` and minidl's registry (plus ``custom_objects``) are used: the config
    is screened as a file's is (``minidl.keras_files.screen``), so a class that holds
    code (``Lambda``) or comes from an unknown module is refused. A ``compile_config``
    is ignored.

    Raises:
        minidl.saving.FormatError: (a ``ValueError``) text that is not JSON of a
            serialized model, or a config that cannot be rebuilt (naming the problem).

    Example:
        >>> import minidl as mdl
        >>> x = mdl.Input(shape=(3,))
        >>> model = mdl.models.Model(x, mdl.layers.Dense(2)(x) * 0.5)
        >>> clone = mdl.models.model_from_json(model.to_json())
        >>> clone.get_config() == model.get_config()
        True
    """
    try:
        config = json.loads(json_string)
    except (TypeError, ValueError) as err:
        raise FormatError("<json>", f"model_from_json: not JSON text: {err}") from None
    except RecursionError:
        raise FormatError("<json>", "model_from_json: the JSON nests too deep") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise FormatError("<json>", "model_from_json: expected the JSON of a serialized "
                          "model, {\"class_name\": ..., \"config\": ...}, got "
                          f"{str(json_string)[:60]!r}")
    return deserialize_screened(config, "<json>", custom_objects)
