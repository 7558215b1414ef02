"""The shared layer test harness: one function every layer's tests call.

``layer_test(layer_cls, kwargs, input_shape, ...)`` builds the layer on an input and checks,
in order:

1. the output is a Tensor of the expected shape and dtype, and ``compute_output_shape``
   agrees with it (when the layer implements it);
2. the numbers of trainable and non-trainable weights and of ``losses``; the weights'
   dtype; ``count_params``; ``get_weights``/``set_weights`` round trip;
3. the config round trip: ``get_config()`` is JSON-serializable, ``from_config`` then
   ``set_weights`` gives the same output (inference mode) and the identical config, and
   ``layers.deserialize(layers.serialize(layer))`` rebuilds it too;
4. a float64 gradient check of the input and every trainable weight
   (``gradcheck.check_layer``);
5. one training step: SGD on ``sum(output**2) + sum(losses)`` changes every trainable
   weight and the loss is finite.

It returns the output of the first call (a Tensor), for value checks of the caller.

>>> import minidl as mdl
>>> out = layer_test(mdl.layers.Layer, {}, (2, 3), expected_output_shape=(2, 3),
...                  expected_num_trainable_weights=0)
>>> out.shape
(2, 3)
"""
import json

import numpy as np

from . import layers, optimizers
from .autograd import Tensor, no_grad
from .gradcheck import check_layer

__all__ = ["layer_test", "random_input"]


def random_input(input_shape: tuple | list, dtype: str = "float32",
                 seed: int = 0) -> np.ndarray | list:
    """Standard-normal host data of ``input_shape`` (a list of shapes gives a list)."""
    rng = np.random.default_rng(seed)
    if isinstance(input_shape, list):
        return [rng.standard_normal(tuple(s)).astype(dtype) for s in input_shape]
    return rng.standard_normal(tuple(input_shape)).astype(dtype)


def _host(out):
    if isinstance(out, (list, tuple)):
        return [_host(o) for o in out]
    return out.numpy()


def _first(out):
    return out[0] if isinstance(out, (list, tuple)) else out


def _assert_shape(actual, expected, what):
    if expected is None:
        return
    expected = tuple(expected)
    ok = len(actual) == len(expected) and all(e is None or a == e
                                              for a, e in zip(actual, expected))
    if not ok:
        raise AssertionError(f"{what}: shape {tuple(actual)}, expected {expected}")


def _check_count(name, actual, expected):
    if expected is not None and actual != expected:
        raise AssertionError(f"{name}: {actual}, expected {expected}")


def layer_test(layer_cls: type, kwargs: dict | None = None,
               input_shape: tuple | list | None = None,
               expected_output_shape: tuple | list | None = None,
               expected_num_trainable_weights: int | None = None,
               expected_num_non_trainable_weights: int | None = None,
               expected_num_losses: int | None = None, input_data=None,
               training: bool | None = None, run_gradcheck: bool = True,
               expected_output=None, expected_output_dtype: str | None = None,
               run_training_step: bool = True, custom_objects: dict | None = None,
               gradcheck_kwargs: dict | None = None, rtol: float = 1e-6,
               atol: float = 1e-6):
    """Run the standard checks on a layer (see the module docstring).

    Args:
        layer_cls: the Layer subclass.
        kwargs: constructor arguments.
        input_shape: the input shape (a list of shapes for several inputs); ignored when
            ``input_data`` is given.
        expected_output_shape: tuple (None entries match anything).
        expected_num_trainable_weights: the count after the first call.
        expected_num_non_trainable_weights, expected_num_losses: likewise.
        input_data: array(s) to use instead of standard-normal data of ``input_shape``.
        training: passed to every call (the round-trip comparison uses inference mode).
        run_gradcheck: whether to run the float64 gradient check (step 4).
        expected_output: values the first output must match (``rtol``, ``atol``).
        expected_output_dtype: default the layer's dtype for floating outputs.
        run_training_step: whether to run step 5.
        custom_objects: for ``layers.deserialize`` of a class defined outside minidl
            (default ``{layer_cls.__name__: layer_cls}``).
        gradcheck_kwargs: extra arguments for ``check_layer`` (``method``, ``atol``, ...).

    Returns:
        The output of the first call (Tensor, or list of Tensors).

    Raises:
        AssertionError: naming the check that failed.
    """
    if input_data is None:
        if input_shape is None:
            raise ValueError("layer_test needs input_shape or input_data")
        input_data = random_input(input_shape)
    layer = layer_cls(**dict(kwargs or {}))
    output = layer(input_data, training=training)
    _check_output(layer, input_data, output, expected_output_shape, expected_output_dtype)
    if expected_output is not None:
        np.testing.assert_allclose(_host(output), expected_output, rtol=rtol, atol=atol)
    _check_weights_and_losses(layer, input_data, training, expected_num_trainable_weights,
                              expected_num_non_trainable_weights, expected_num_losses)
    objects = {layer_cls.__name__: layer_cls} if custom_objects is None else custom_objects
    _check_config_round_trip(layer, input_data, objects, rtol, atol)
    if run_gradcheck:  # float64, the input and every trainable weight
        check_layer(layer, input_data, training=training, **(gradcheck_kwargs or {}))
    if run_training_step and layer.trainable_weights:
        _check_training_step(layer, input_data, training)
    return output


def _check_output(layer, input_data, output, expected_shape, expected_dtype):
    """Step 1: the output is a Tensor of the expected shape and dtype, and the shape
    ``compute_output_shape`` gives."""
    name = type(layer).__name__
    first = _first(output)
    if not isinstance(first, Tensor):
        raise AssertionError(f"{name} returned {type(first).__name__}, not a Tensor")
    _assert_shape(first.shape, expected_shape, f"{name} output")
    if expected_dtype is None and first.dtype.kind == "f":
        expected_dtype = layer.dtype
    if expected_dtype is not None and first.dtype != expected_dtype:
        raise AssertionError(f"output dtype {first.dtype}, expected {expected_dtype}")
    in_shape = [tuple(np.shape(x)) for x in input_data] if \
        isinstance(input_data, (list, tuple)) else tuple(np.shape(input_data))
    try:
        computed = layer.compute_output_shape(in_shape)
    except NotImplementedError:
        computed = None
    if computed is not None and not isinstance(output, (list, tuple)):
        _assert_shape(first.shape, computed, "compute_output_shape vs actual output")


def _check_weights_and_losses(layer, input_data, training, trainable, non_trainable,
                              losses):
    """Step 2: weight and loss counts, weight dtypes, ``count_params`` and a
    ``get_weights`` / ``set_weights`` round trip."""
    _check_count("trainable weights", len(layer.trainable_weights), trainable)
    _check_count("non-trainable weights", len(layer.non_trainable_weights), non_trainable)
    layer(input_data, training=training)  # losses reflect the latest call
    _check_count("losses", len(layer.losses), losses)
    for w in layer.weights:
        if w.dtype.kind == "f" and w.dtype != layer.dtype:
            raise AssertionError(f"weight {w.path!r} has dtype {w.dtype}, the layer "
                                 f"{layer.dtype}")
    _check_count("count_params", layer.count_params(), sum(w.size for w in layer.weights))
    values = layer.get_weights()
    layer.set_weights(values)
    for w, v in zip(layer.weights, values):
        np.testing.assert_array_equal(w.numpy(), v)


def _check_config_round_trip(layer, input_data, custom_objects, rtol, atol):
    """Step 3: ``from_config(get_config())`` with the same weights computes the same
    output and gives the same config, and so does ``deserialize(serialize(layer))``."""
    config = layer.get_config()
    json.dumps(config)
    clone = type(layer).from_config(config)
    values = layer.get_weights()
    with no_grad():
        clone(input_data, training=False)
        clone.set_weights(values)
        expected = _host(layer(input_data, training=False))
        np.testing.assert_allclose(_host(clone(input_data, training=False)), expected,
                                   rtol=rtol, atol=atol)
    if clone.get_config() != config:
        raise AssertionError(f"config round trip changed the config:\n{config}\n"
                             f"{clone.get_config()}")
    rebuilt = layers.deserialize(layers.serialize(layer), custom_objects=custom_objects)
    if rebuilt.get_config() != config:
        raise AssertionError("layers.deserialize(layers.serialize(layer)) changed the "
                             "config")


def _check_training_step(layer, input_data, training):
    """Step 5: one SGD step on ``sum(output ** 2)`` plus the layer's losses changes every
    trainable weight."""
    before = [w.numpy() for w in layer.trainable_weights]
    out = _first(layer(input_data, training=training))
    loss = (out * out).sum()
    for penalty in layer.losses:
        loss = loss + penalty
    loss.backward()
    if not np.isfinite(float(loss.numpy())):
        raise AssertionError(f"training step: the loss is {float(loss.numpy())}")
    optimizers.SGD(learning_rate=0.01).step(layer.trainable_weights)
    for w, old in zip(layer.trainable_weights, before):
        if np.array_equal(w.numpy(), old):
            raise AssertionError(f"training step did not change weight {w.path!r}")
        w.zero_grad()
