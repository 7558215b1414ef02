"""Losses and metrics per output, for functional models with several outputs.

``compile(loss=...)`` takes one loss for every output, a list (one per output) or a dict
keyed by output name, and the training loss is the sum over outputs (plus the layers'
``losses``). Targets ``y`` are a list in ``outputs`` order or a dict keyed by output name
(the output layer's name, or the key of a dict ``outputs``). Metrics given as a plain list
watch every output and are named ``<output>_<metric>`` when there are several.
"""
from .. import losses as losses_module
from .. import metrics as metrics_module

__all__ = ["OutputsMixin"]


class OutputsMixin:
    """``compile`` support for several outputs; needs ``output_names``."""

    _metric_outputs = ()   # per compiled metric, the index of the output it watches

    def _compile_outputs(self, loss, metrics):
        """Losses and metrics per output of a functional model.

        ``loss``: one loss for every output, a list (one per output, None for none) or a
        dict keyed by output name; the training loss is their sum. ``metrics``: a list
        (each metric on every output, named ``<output>_<metric>`` when there are several
        outputs), a list of lists (one per output) or a dict keyed by output name.
        """
        names = list(self.output_names)
        self.loss = _loss_per_output(loss, names)
        if metrics is not None and not isinstance(metrics, (list, tuple, dict)):
            raise ValueError(f"metrics={metrics!r} must be a list of metrics (or a dict "
                             "keyed by output name)")
        self._metric_identifiers = metrics if isinstance(metrics, dict) else \
            list(metrics or [])
        per_output = _metrics_per_output(metrics, names)
        losses = self._per_output_losses()
        self.compiled_metrics, self._metric_outputs = [], []
        for k, (name, identifiers) in enumerate(zip(names, per_output)):
            for identifier in (identifiers if isinstance(identifiers, (list, tuple))
                               else [identifiers]):
                if isinstance(identifier, metrics_module.Metric) and k > 0 and \
                        identifier in self.compiled_metrics:
                    identifier = type(identifier).from_config(identifier.get_config())
                metric = metrics_module.get(identifier, loss=losses[k])
                if len(names) > 1:
                    metric.name = f"{name}_{metric.name}"
                self.compiled_metrics.append(metric)
                self._metric_outputs.append(k)

    def _per_output_losses(self):
        names = list(self.output_names)
        if isinstance(self.loss, dict):
            return [self.loss.get(name) for name in names]
        if isinstance(self.loss, list):
            return list(self.loss)
        return [self.loss] * len(names)

    def _per_output(self, value, what, required=True):
        """Targets or predictions (one value, a list or a dict by output name) as a list
        with one entry per output; None where a dict lacks an output and ``required`` is
        False."""
        names = list(self.output_names)
        if isinstance(value, dict):
            missing = [name for name in names if name not in value]
            if missing and required:
                raise ValueError(f"{what} is a dict with keys {sorted(value)}; the outputs "
                                 f"are {names} (missing {missing})")
            return [value.get(name) for name in names]
        if isinstance(value, list):
            if len(value) != len(names):
                raise ValueError(f"{what} is a list of {len(value)}; the model has "
                                 f"{len(names)} outputs {names}")
            return value
        if len(names) != 1:
            raise ValueError(f"the model has {len(names)} outputs {names}: give {what} as "
                             "a list in that order or a dict keyed by output name")
        return [value]

    def _targets(self, y):
        """``y`` per output; an output with no loss and no metric needs no target."""
        trues = self._per_output(y, "y", required=False)
        used = {k for k, fn in enumerate(self._per_output_losses()) if fn is not None}
        used.update(self._metric_outputs)
        missing = [self.output_names[k] for k in sorted(used) if trues[k] is None]
        if missing:
            raise ValueError(f"y has no target for output(s) {missing}; give a list in "
                             f"output order {list(self.output_names)} or a dict by name")
        return trues

    def _sample_weights(self, sample_weight):
        """``sample_weight`` per output: one array for every output, or a list / dict
        (None where a dict lacks an output)."""
        if sample_weight is None or not isinstance(sample_weight, (list, dict)):
            return [sample_weight] * len(self.output_names)
        return self._per_output(sample_weight, "sample_weight", required=False)

    def _outputs_loss(self, y, y_pred, sample_weight=None):
        """The sum over outputs of each output's loss (weighted by its sample weights)."""
        total = None
        preds = self._per_output(y_pred, "the predictions")
        for fn, t, p, w in zip(self._per_output_losses(), self._targets(y), preds,
                               self._sample_weights(sample_weight)):
            if fn is not None:
                value = fn(t, p) if w is None else fn(t, p, sample_weight=w)
                total = value if total is None else total + value
        if total is None:
            raise ValueError("compile(loss=...) gave no loss for any output")
        return total

    def _update_output_metrics(self, y_true, y_pred, sample_weight=None):
        """Updates each metric on its output; the weighted ones (``compile``'s
        ``weighted_metrics``) with that output's sample weights."""
        trues = self._targets(y_true)
        preds = self._per_output(y_pred, "the predictions")
        weights = self._sample_weights(sample_weight)
        for metric, k, weighted in zip(self.compiled_metrics, self._metric_outputs,
                                       self._metric_weighted):
            if weighted and weights[k] is not None:
                metric.update_state(trues[k], preds[k], sample_weight=weights[k])
            else:
                metric.update_state(trues[k], preds[k])


def _loss_per_output(loss, names):
    """``loss`` resolved: one loss, a list (None for none) or a dict by output name."""
    if isinstance(loss, dict):
        unknown = sorted(set(loss) - set(names))
        if unknown:
            raise ValueError(f"loss has keys {unknown} that are not outputs {names}")
        return {k: losses_module.get(v) for k, v in loss.items()}
    if isinstance(loss, (list, tuple)):
        if len(loss) != len(names):
            raise ValueError(f"loss is a list of {len(loss)}; the model has "
                             f"{len(names)} outputs {names}")
        return [None if v is None else losses_module.get(v) for v in loss]
    return losses_module.get(loss)


def _metrics_per_output(metrics, names):
    """The metric identifiers of each output, from a list, a list of lists or a dict."""
    if isinstance(metrics, dict):
        unknown = sorted(set(metrics) - set(names))
        if unknown:
            raise ValueError(f"metrics has keys {unknown} that are not outputs {names}")
        return [metrics.get(name) or [] for name in names]
    if metrics and all(isinstance(m, (list, tuple)) or m is None for m in metrics):
        if len(metrics) != len(names):
            raise ValueError(f"metrics is a list of {len(metrics)} lists; the model "
                             f"has {len(names)} outputs {names}")
        return [m or [] for m in metrics]
    return [list(metrics or [])] * len(names)
