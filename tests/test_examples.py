"""Smoke tests: every example runs end to end with tiny epochs."""
import importlib.util
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    import sys
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXAMPLES))
    return module


def test_mobilenet_digits(tmp_path, capsys):
    out = tmp_path / "model.minidl"
    accuracy = load("mobilenet_digits").main(["--epochs", "1", "--output", str(out),
                                              "--verbose", "0"])
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and "wall time" in printed
    assert out.exists() and 0.0 <= accuracy <= 1.0


def test_mobilenet_digits_reads_idx_files(tmp_path, capsys):
    import numpy as np

    from minidl.datasets import save_idx
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        save_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz",
                 rng.integers(0, 256, (n, 12, 12), dtype=np.uint8))
        save_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n,
                                                                         dtype=np.uint8))
    load("mobilenet_digits").main(["--epochs", "1", "--data", str(tmp_path), "--verbose",
                                   "0", "--output", str(tmp_path / "m.minidl")])
    assert "test accuracy" in capsys.readouterr().out


def test_gradcheck_scipy(capsys):
    load("gradcheck_scipy").main([])
    assert "all gradients agree with scipy.optimize" in capsys.readouterr().out


def test_custom_layer(capsys):
    load("custom_layer").main(["--epochs", "1"])
    out = capsys.readouterr().out
    assert "validation accuracy" in out and "config round trip" in out


def test_gpu_backend_explains_a_missing_gpu(capsys, tmp_path):
    import minidl as mdl
    if "cupy" in mdl.backend.available_backends():
        pytest.skip("a GPU is present: the message for a missing one cannot be shown")
    assert load("gpu_backend").main(["--epochs", "1"]) is None
    assert "No GPU run: backend='cupy'" in capsys.readouterr().out


def test_mobilenetv2_digits(tmp_path, capsys):
    import numpy as np

    import minidl as mdl
    output = tmp_path / "v2.model"
    accuracy = load("mobilenetv2_digits").main(["--epochs", "1", "--output", str(output),
                                                "--verbose", "2"])
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and "test accuracy" in out and "wall time" in out
    assert "predicts the same" in out
    assert 0.0 <= accuracy <= 1.0 and output.is_file()
    model = mdl.models.load_model(output)
    assert isinstance(model, mdl.models.Functional)
    assert sum(isinstance(layer, mdl.layers.Add) for layer in model.layers) == 3
    assert model.predict(np.zeros((2, 8, 8, 1), np.float32)).shape == (2, 10)


def test_mobilenetv3_digits_quick(tmp_path, capsys):
    import minidl as mdl
    output = tmp_path / "v3.minidl"
    accuracy = load("mobilenetv3_digits").main(["--quick", "--output", str(output),
                                                "--verbose", "2"])
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and "test accuracy" in out and "wall time" in out
    assert 0.0 <= accuracy <= 1.0 and output.is_file()
    model = mdl.models.load_model(output)
    assert model.name == "MobileNetV3Small" and model.output_shape == (None, 10)
