"""Batching, one-hot labels, splits, and the IDX reader on files the tests write."""
import gzip

import numpy as np
import pytest

import minidl as mdl
from minidl.data import ArrayIterator, to_categorical, train_validation_split
from minidl.datasets import load_idx, save_idx


def test_iterator_keeps_the_last_partial_batch_and_covers_every_sample():
    x, y = np.arange(10), np.arange(10) * 10
    it = ArrayIterator(x, y, batch_size=4, seed=1)
    batches = list(it)
    assert len(it) == 3 and [len(b[0]) for b in batches] == [4, 4, 2]
    xs = np.concatenate([b[0] for b in batches])
    assert sorted(xs.tolist()) == list(range(10))
    for xb, yb in batches:
        np.testing.assert_array_equal(yb, xb * 10)


def test_iterator_is_seeded_and_reshuffles_each_pass():
    x = np.arange(20)
    a, b = ArrayIterator(x, batch_size=20, seed=3), ArrayIterator(x, batch_size=20, seed=3)
    first_a, first_b = next(iter(a)), next(iter(b))
    np.testing.assert_array_equal(first_a, first_b)
    assert not np.array_equal(next(iter(a)), first_a)
    mdl.random.seed(4)
    g1 = next(iter(ArrayIterator(x, batch_size=20)))
    mdl.random.seed(4)
    np.testing.assert_array_equal(next(iter(ArrayIterator(x, batch_size=20))), g1)


def test_iterator_without_shuffle_keeps_order():
    batches = list(ArrayIterator(np.arange(5), batch_size=2, shuffle=False))
    assert [b.tolist() for b in batches] == [[0, 1], [2, 3], [4]]


@pytest.mark.parametrize("kwargs,message", [
    (dict(x=np.arange(3), y=np.arange(2)), "3 samples but y has 2"),
    (dict(x=np.arange(3), batch_size=0), "batch_size=0"),
    (dict(x=np.zeros((0, 2))), "at least one sample"),
])
def test_iterator_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ArrayIterator(**kwargs)


def test_to_categorical():
    out = to_categorical(np.array([[1], [0], [3]]), num_classes=4)
    np.testing.assert_array_equal(out, np.eye(4, dtype=np.float32)[[1, 0, 3]])
    assert out.dtype == np.float32
    assert to_categorical([2, 1]).shape == (2, 3)
    assert to_categorical(np.zeros((2, 3), int), 2).shape == (2, 3, 2)
    with pytest.raises(ValueError, match="out of range"):
        to_categorical([0, 5], num_classes=3)
    with pytest.raises(ValueError, match="negative"):
        to_categorical([-1, 0])
    with pytest.raises(ValueError, match="integer"):
        to_categorical([0.5])


def test_train_validation_split():
    x, y = np.arange(10), np.arange(10)
    (xt, yt), (xv, yv) = train_validation_split(x, y, 0.3, shuffle=False)
    assert xt.tolist() == list(range(7)) and xv.tolist() == [7, 8, 9]
    (xt, yt), (xv, yv) = train_validation_split(x, y, 0.3, seed=0)
    assert sorted(np.concatenate([xt, xv]).tolist()) == list(range(10))
    np.testing.assert_array_equal(xt, yt)
    with pytest.raises(ValueError, match="validation_split=1.0"):
        train_validation_split(x, y, 1.0)


def test_fit_on_an_iterator_runs_its_batches_each_epoch():
    from minidl import layers
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]
    model = mdl.models.Sequential([layers.Dense(1)])
    model.compile(mdl.optimizers.SGD(0.1), "mse")
    history = model.fit(ArrayIterator(x, y, batch_size=8, seed=0), epochs=5, verbose=0)
    assert len(history.history["loss"]) == 5
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, dtype, compress):
    data = (np.arange(24).reshape(2, 3, 4) * 3).astype(dtype)
    path = tmp_path / ("images-idx3" + (".gz" if compress else ""))
    save_idx(path, data)
    out = load_idx(path)
    assert out.dtype == dtype and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, data)


def test_idx_reads_mnist_layout_written_by_hand(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    raw = bytes([0, 0, 0x08, 3]) + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(raw + images.tobytes())
    np.testing.assert_array_equal(load_idx(path), images)


@pytest.mark.parametrize("content,message", [
    (b"", "not an IDX file"),
    (b"\x01\x02\x08\x01", "not an IDX file"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "unknown IDX type code 0x07"),
    (b"\x00\x00\x08\x02\x00\x00\x00\x02", "truncated inside its header"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", "truncated"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", "too long"),
])
def test_idx_bad_files(tmp_path, content, message):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_idx(path)


def test_idx_truncated_gzip(tmp_path):
    path = tmp_path / "x.gz"
    save_idx(path, np.arange(1000, dtype=np.int32))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        load_idx(path)


def test_save_idx_checks_compress(tmp_path):
    with pytest.raises(TypeError, match="compress='yes'"):
        save_idx(tmp_path / "x.idx", np.arange(3, dtype=np.uint8), compress="yes")
    assert not (tmp_path / "x.idx").exists()


def test_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_idx(tmp_path / "nope")
