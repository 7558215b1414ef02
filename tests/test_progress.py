"""What ``fit`` / ``evaluate`` print (``callbacks.ProgbarLogger``): on a terminal of any
width a live bar, then one line per epoch with everything; into a file, the lines alone."""
import io
import re
import sys

import numpy as np
import pytest

import minidl as mdl
from minidl import layers


class Terminal(io.StringIO):
    def isatty(self):
        return True


def fitted(verbose, epochs=2):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4)).astype("float32")
    y = rng.integers(0, 3, 40)
    model = mdl.models.Sequential([layers.Dense(3, input_shape=(4,))])
    model.compile(mdl.optimizers.Adam(0.01),
                  mdl.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=8, epochs=epochs, verbose=verbose, validation_split=0.25,
              callbacks=[mdl.callbacks.ReduceLROnPlateau(monitor="loss")])
    return model, x, y


def visible(text):
    """The lines a terminal shows at the end: what follows each line's last ``\\r``."""
    return [line.rsplit("\r", 1)[-1].rstrip() for line in text.split("\n")
            if line.rsplit("\r", 1)[-1].strip()]


V = r"\d\.\d{4}(e[+-]\d\d)?"  # Keras's format: 4 decimals, exponent form below 1e-3
EPOCH_LINE = re.compile(rf"^Epoch \d/2 - 4/4 - \d+\.\ds \d+(ms|us|s)/step - loss: {V} - "
                        rf"accuracy: {V} - val_loss: {V} - val_accuracy: {V} - "
                        r"learning_rate: 0\.0100$")


@pytest.mark.parametrize("columns", ["80", "110", "40"])
def test_a_terminal_of_any_width_shows_the_whole_epoch_line(monkeypatch, columns):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setenv("COLUMNS", columns)
    fitted(verbose=1)
    text = terminal.getvalue()
    assert "\r" in text  # the live bar ran
    bar = [part for part in re.split(r"[\r\n]", text) if "Epoch 1/2:" in part]
    assert bar and all(len(part) <= int(columns) for part in bar)
    lines = visible(text)
    assert len(lines) == 2 and all(EPOCH_LINE.match(line) for line in lines), lines


def test_into_a_file_one_line_per_epoch_without_control_characters(capsys):
    model, x, y = fitted(verbose=1)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 2 and all(EPOCH_LINE.match(line) for line in lines), lines
    assert not re.search(r"[\r\x1b\x08]", out)
    model.evaluate(x, y, batch_size=16)
    line = capsys.readouterr().out
    assert re.match(rf"^Evaluate - 3/3 - .* - loss: {V} - accuracy: {V}\n$", line), line


def test_verbose_2_prints_one_line_per_epoch_even_on_a_terminal(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    fitted(verbose=2)
    text = terminal.getvalue()
    assert "\r" not in text and len(text.splitlines()) == 2
    assert all(EPOCH_LINE.match(line) for line in text.splitlines())


def test_small_values_keep_their_digits():
    from minidl.callbacks import _format
    assert _format(0.5) == "0.5000" and _format(1.5e-5) == "1.5000e-05"
