"""Depthwise and separable convolution ops: forward against slow references, gradients
against finite differences over a pairwise-covering grid, the fused backward against the
differentiable one, second derivatives, inputs smaller than the kernel, cache blocking,
dtypes and argument errors."""
import importlib.util
import itertools
import random

import numpy as np
import pytest
import scipy.signal

import minidl as mdl
from minidl.gradcheck import check_double_grad, check_grad
from minidl.ops.conv_utils import padding_amounts
from minidl.ops.depthwise import Geometry, reference

F = mdl.functional


# -- slow references -----------------------------------------------------------------------

def reference_depthwise(x, kernel, strides, padding, dilation, bias=None):
    """Explicit loops over output pixels on a zero-padded copy (channels_last, rank 2)."""
    n, h, w, c = x.shape
    kh, kw, _, m = kernel.shape
    (oh, top, bottom), (ow, left, right) = padding_amounts(
        (h, w), (kh, kw), strides, dilation, padding)
    xpad = np.pad(x, ((0, 0), (top, bottom + kh * dilation[0]),
                      (left, right + kw * dilation[1]), (0, 0)))
    y = np.zeros((n, oh, ow, c, m))
    for r, s, i, j in itertools.product(range(oh), range(ow), range(kh), range(kw)):
        pixel = xpad[:, r * strides[0] + i * dilation[0], s * strides[1] + j * dilation[1]]
        y[:, r, s] += pixel[:, :, None] * kernel[i, j]
    y = y.reshape(n, oh, ow, c * m)
    return y if bias is None else y + bias


def reference_scipy(x, kernel, padding):
    """Stride 1, dilation 1: scipy.signal.correlate2d per (image, channel, multiplier)."""
    n, h, w, c = x.shape
    kh, kw, _, m = kernel.shape
    (_, top, bottom), (_, left, right) = padding_amounts((h, w), (kh, kw), (1, 1), (1, 1),
                                                         padding)
    out = []
    for b in range(n):
        maps = []
        for ch in range(c):
            image = np.pad(x[b, :, :, ch], ((top, bottom), (left, right)))
            for k in range(m):
                maps.append(scipy.signal.correlate2d(image, kernel[:, :, ch, k], "valid"))
        out.append(np.stack(maps, axis=-1))
    return np.stack(out)


def to_first(a):
    return np.ascontiguousarray(np.moveaxis(a, -1, 1))


# -- a pairwise-covering grid --------------------------------------------------------------

FACTORS = {
    "kernel": [1, 2, 3, 5, (2, 3), (3, 1)],
    "strides": [1, 2, 3, (2, 1), (1, 3)],
    "dilation": [1, 2, (1, 2), (2, 1)],
    "padding": ["valid", "same"],
    "multiplier": [1, 2, 3],
    "data_format": ["channels_last", "channels_first"],
    "size": [(5, 6), (7, 5), (4, 4), (2, 3)],
    "bias": [True, False],
    "batch": [1, 2],
    "channels": [1, 2, 3],
    "activation": ["linear", "tanh", "relu", "sigmoid"],
}


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


def is_valid(case):
    """A case the op accepts: no stride > 1 with dilation > 1, and a non-empty output."""
    strides, dilation = _pair(case["strides"]), _pair(case["dilation"])
    if max(strides) > 1 and max(dilation) > 1:
        return False
    if case["padding"] == "valid":
        for n, k, d in zip(case["size"], _pair(case["kernel"]), dilation):
            if n - (k - 1) * d < 1:
                return False
    return True


def pairwise_cases(factors, seed=0, tries=300):
    """Greedy all-pairs: each new case starts from an uncovered pair of factor values and
    is the random valid completion covering most uncovered pairs. Returns the cases and
    the pairs no valid case can hold."""
    names = list(factors)
    gen = random.Random(seed)
    uncovered = {((a, i), (b, j)) for a, b in itertools.combinations(names, 2)
                 for i in range(len(factors[a])) for j in range(len(factors[b]))}
    cases, infeasible = [], set()

    def pairs_of(choice):
        return {((a, choice[a]), (b, choice[b]))
                for a, b in itertools.combinations(names, 2)}

    while uncovered:
        seed_pair = min(uncovered)
        best, best_gain = None, 0
        for _ in range(tries):
            choice = {name: gen.randrange(len(factors[name])) for name in names}
            (a, i), (b, j) = seed_pair
            choice[a], choice[b] = i, j
            if not is_valid({name: factors[name][choice[name]] for name in names}):
                continue
            gain = len(pairs_of(choice) & uncovered)
            if gain > best_gain:
                best, best_gain = choice, gain
        if best is None:
            infeasible.add(seed_pair)
            uncovered.discard(seed_pair)
            continue
        uncovered -= pairs_of(best)
        cases.append({name: factors[name][best[name]] for name in names})
    return cases, infeasible


CASES, INFEASIBLE = pairwise_cases(FACTORS)


def case_id(case):
    return "-".join(f"{k[0]}{v}" for k, v in case.items()).replace(" ", "")


def make_inputs(case, rng):
    h, w = case["size"]
    kh, kw = _pair(case["kernel"])
    c, m = case["channels"], case["multiplier"]
    x = rng.standard_normal((case["batch"], h, w, c))
    kernel = rng.standard_normal((kh, kw, c, m))
    bias = rng.standard_normal(c * m) if case["bias"] else None
    return x, kernel, bias


def run_depthwise(case, x, kernel, bias, activate=False):
    """The op on channels_last arrays/tensors, through the requested data_format, then
    (``activate``) the case's activation."""
    first = case["data_format"] == "channels_first"
    x_in = F.transpose(x, (0, 3, 1, 2)) if first else x
    y = F.depthwise_conv2d(x_in, kernel, strides=case["strides"], padding=case["padding"],
                           dilation_rate=case["dilation"], data_format=case["data_format"],
                           bias=bias)
    y = F.transpose(y, (0, 2, 3, 1)) if first else y
    return mdl.activations.get(case["activation"])(y) if activate else y


def test_pairwise_grid_covers_every_feasible_pair():
    names = list(FACTORS)
    covered = set()
    for case in CASES:
        assert is_valid(case)
        index = {n: FACTORS[n].index(case[n]) for n in names}
        covered |= {((a, index[a]), (b, index[b]))
                    for a, b in itertools.combinations(names, 2)}
    everything = {((a, i), (b, j)) for a, b in itertools.combinations(names, 2)
                  for i in range(len(FACTORS[a])) for j in range(len(FACTORS[b]))}
    assert everything - covered == INFEASIBLE
    # only stride > 1 with dilation > 1 is impossible as a pair; those must raise
    for (a, i), (b, j) in INFEASIBLE:
        assert {a, b} == {"strides", "dilation"}
        assert max(_pair(FACTORS[a][i])) > 1 and max(_pair(FACTORS[b][j])) > 1
    assert len(CASES) < 60


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_forward_and_gradients_over_grid(case, rng):
    x, kernel, bias = make_inputs(case, rng)
    strides, dilation = _pair(case["strides"]), _pair(case["dilation"])
    y = run_depthwise(case, x, kernel, bias)
    expected = reference_depthwise(x, kernel, strides, case["padding"], dilation, bias)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    inputs = [x, kernel] + ([bias] if bias is not None else [])
    check_grad(lambda *t: run_depthwise(case, t[0], t[1], t[2] if len(t) > 2 else None,
                                        True),
               inputs, names=["x", "kernel", "bias"][:len(inputs)])


@pytest.mark.parametrize("case", CASES[::4], ids=case_id)
def test_gradients_scipy_method(case, rng):
    x, kernel, bias = make_inputs(case, rng)
    inputs = [x, kernel] + ([bias] if bias is not None else [])
    check_grad(lambda *t: run_depthwise(case, t[0], t[1], t[2] if len(t) > 2 else None,
                                        True),
               inputs, method="scipy")


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("multiplier", [1, 2])
def test_forward_matches_scipy_correlate2d(padding, multiplier, rng):
    x = rng.standard_normal((2, 6, 5, 3))
    kernel = rng.standard_normal((3, 2, 3, multiplier))
    y = F.depthwise_conv2d(x, kernel, padding=padding.upper())
    np.testing.assert_allclose(y.numpy(), reference_scipy(x, kernel, padding), atol=1e-12)


def test_output_channel_order_is_c_times_m_plus_m():
    x = np.zeros((1, 1, 1, 2))
    x[..., 1] = 1.0
    kernel = np.arange(6.0).reshape(1, 1, 2, 3)  # kernel[0, 0, c, m] = 3c + m
    y = F.depthwise_conv2d(x, kernel).numpy().ravel()
    np.testing.assert_array_equal(y, [0, 0, 0, 3, 4, 5])


# -- the two backward routes, second derivatives -------------------------------------------

ROUTE_CASES = [
    dict(strides=1, padding="same", dilation_rate=1, m=1, size=(6, 5)),
    dict(strides=2, padding="same", dilation_rate=1, m=2, size=(7, 6)),
    dict(strides=(1, 3), padding="valid", dilation_rate=1, m=3, size=(5, 7)),
    dict(strides=1, padding="valid", dilation_rate=(2, 1), m=1, size=(7, 4)),
    dict(strides=1, padding="same", dilation_rate=2, m=2, size=(3, 2)),
]


@pytest.mark.parametrize("args", ROUTE_CASES)
def test_fused_backward_equals_differentiable_backward(args, rng):
    args = dict(args)
    m, (h, w) = args.pop("m"), args.pop("size")
    x = mdl.tensor(rng.standard_normal((2, h, w, 3)), requires_grad=True)
    kernel = mdl.tensor(rng.standard_normal((3, 2, 3, m)), requires_grad=True)
    bias = mdl.tensor(rng.standard_normal(3 * m), requires_grad=True)
    y = F.depthwise_conv2d(x, kernel, bias=bias, **args)
    gy = rng.standard_normal(y.shape)
    fused = mdl.grad(y, [x, kernel, bias], grad_outputs=mdl.tensor(gy))
    y = F.depthwise_conv2d(x, kernel, bias=bias, **args)
    taped = mdl.grad(y, [x, kernel, bias], grad_outputs=mdl.tensor(gy), create_graph=True)
    assert taped[0].creator is not None and taped[1].creator is not None  # recorded
    for a, b in zip(fused, taped):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("args", ROUTE_CASES[:4])
def test_double_grad_depthwise(args, rng):
    args = dict(args)
    m, (h, w) = args.pop("m"), args.pop("size")
    x = rng.standard_normal((1, h, w, 2))
    kernel = rng.standard_normal((2, 2, 2, m))
    bias = rng.standard_normal(2 * m)
    # tanh makes the objective non-bilinear, so every second-order term is exercised
    check_double_grad(lambda a, k, b: F.depthwise_conv2d(a, k, bias=b, **args).tanh(),
                      [x, kernel, bias])


def test_double_grad_separable_channels_first(rng):
    x = rng.standard_normal((1, 2, 4, 5))
    dk, pk, b = (rng.standard_normal((2, 3, 2, 2)), rng.standard_normal((1, 1, 4, 3)),
                 rng.standard_normal(3))
    check_double_grad(lambda *t: F.separable_conv2d(*t[:3], strides=(2, 1), padding="same",
                                                    data_format="channels_first",
                                                    bias=t[3]).tanh(), [x, dk, pk, b])


def test_backprop_ops_hold_third_derivative(rng):
    """The gradient ops' own backwards: d/dx of (d/dw of <g, y>) is differentiable again."""
    x = mdl.tensor(rng.standard_normal((1, 4, 4, 2)), requires_grad=True)
    k = mdl.tensor(rng.standard_normal((3, 3, 2, 1)), requires_grad=True)
    y = F.depthwise_conv2d(x, k, padding="same")
    (gk,) = mdl.grad((y * y).sum(), [k], create_graph=True)
    (gx,) = mdl.grad((gk * gk).sum(), [x], create_graph=True)
    (gk2,) = mdl.grad((gx * gx).sum(), [k])
    assert gk2.shape == k.shape and np.isfinite(gk2.numpy()).all()

    def objective(x_, k_):
        y_ = F.depthwise_conv2d(x_, k_, padding="same")
        (g,) = mdl.grad((y_ * y_).sum(), [k_], create_graph=True)
        return (g * g).sum()
    check_double_grad(objective, [x.numpy(), k.numpy()], atol=1e-5)


# -- separable and 1-D forms ---------------------------------------------------------------

@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_separable_conv2d_forward_and_gradients(data_format, rng):
    x = rng.standard_normal((2, 5, 6, 2))
    dk, pk, b = (rng.standard_normal((3, 3, 2, 2)), rng.standard_normal((1, 1, 4, 3)),
                 rng.standard_normal(3))
    depthwise = reference_depthwise(x, dk, (2, 2), "same", (1, 1))
    expected = np.einsum("nhwk,kf->nhwf", depthwise, pk[0, 0]) + b
    x_in = to_first(x) if data_format == "channels_first" else x

    def fn(x_, dk_, pk_, b_):
        return F.separable_conv2d(x_, dk_, pk_, strides=2, padding="same",
                                  data_format=data_format, bias=b_)
    y = fn(x_in, dk, pk, b).numpy()
    y = np.moveaxis(y, 1, -1) if data_format == "channels_first" else y
    np.testing.assert_allclose(y, expected, atol=1e-12)
    check_grad(fn, [x_in, dk, pk, b])


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_1d_forms_equal_2d_with_singleton_height(data_format, rng):
    x = rng.standard_normal((2, 7, 3))
    dk, pk, b = (rng.standard_normal((3, 3, 2)), rng.standard_normal((1, 6, 4)),
                 rng.standard_normal(6))
    expected = reference_depthwise(x[:, None], dk[None], (1, 2), "same", (1, 1))[:, 0] + b
    x_in = np.ascontiguousarray(np.swapaxes(x, 1, 2)) if data_format == "channels_first" \
        else x
    back = (lambda a: np.swapaxes(a, 1, 2)) if data_format == "channels_first" else \
        (lambda a: a)
    y = F.depthwise_conv1d(x_in, dk, strides=2, padding="same", data_format=data_format,
                           bias=b)
    np.testing.assert_allclose(back(y.numpy()), expected, atol=1e-12)
    sep = F.separable_conv1d(x_in, dk, pk, strides=2, padding="same",
                             data_format=data_format)
    np.testing.assert_allclose(back(sep.numpy()), (expected - b) @ pk[0], atol=1e-12)
    check_grad(lambda a, k, bb: F.depthwise_conv1d(a, k, dilation_rate=2, padding="same",
                                                   data_format=data_format, bias=bb),
               [x_in, dk, b])
    check_grad(lambda a, k, p: F.separable_conv1d(a, k, p, data_format=data_format),
               [x_in, dk, pk], method="scipy")


def test_data_format_none_reads_the_config(rng):
    x = rng.standard_normal((1, 2, 4, 4))
    kernel = rng.standard_normal((3, 3, 2, 1))
    previous = mdl.config.image_data_format()
    mdl.config.set_image_data_format("channels_first")
    try:
        y = F.depthwise_conv2d(x, kernel, padding="same")
    finally:
        mdl.config.set_image_data_format(previous)
    expected = reference_depthwise(np.moveaxis(x, 1, -1), kernel, (1, 1), "same", (1, 1))
    np.testing.assert_allclose(y.numpy(), to_first(expected), atol=1e-12)


# -- inputs smaller than the (dilated) kernel ----------------------------------------------

@pytest.fixture(params=[pytest.param("numba", marks=pytest.mark.skipif(
    importlib.util.find_spec("numba") is None, reason="Numba is not installed")), "numpy"])
def cpu_path(request):
    """Each CPU path in turn (the configured choice restored afterwards)."""
    saved = mdl.config.get("cpu_kernels")
    mdl.config.set_cpu_kernels(request.param)
    yield request.param
    mdl.config.set_cpu_kernels(saved)


@pytest.mark.parametrize("size,kernel,dilation,strides", [
    ((1, 1), (2, 2), (2, 2), 1), ((1, 2), (3, 2), (1, 3), 1), ((2, 1), (5, 3), 1, 2),
    ((1, 3), (1, 7), (1, 2), 1)])
def test_same_padding_on_inputs_smaller_than_the_kernel_2d(size, kernel, dilation, strides,
                                                          cpu_path, rng):
    x = rng.standard_normal((2,) + size + (2,))
    k, b = rng.standard_normal(kernel + (2, 2)), rng.standard_normal(4)
    y = F.depthwise_conv2d(x, k, strides=strides, padding="same", dilation_rate=dilation,
                           bias=b)
    np.testing.assert_allclose(y.numpy(), reference_depthwise(
        x, k, _pair(strides), "same", _pair(dilation), b), atol=1e-12)
    check_grad(lambda *t: F.depthwise_conv2d(t[0], t[1], strides=strides, padding="same",
                                             dilation_rate=dilation, bias=t[2]), [x, k, b])


@pytest.mark.parametrize("length", [1, 2])
def test_same_padding_on_inputs_smaller_than_the_kernel_1d(length, cpu_path, rng):
    """Kernel 2 at dilation 2 spans 3 positions: one or two input positions still give
    ``ceil(L / s)`` outputs (Keras returns a result; the NumPy path once raised)."""
    x = rng.standard_normal((2, length, 3))
    dk, pk = rng.standard_normal((2, 3, 2)), rng.standard_normal((1, 6, 7))
    y = F.separable_conv1d(x, dk, pk, padding="same", dilation_rate=2)
    depthwise = reference_depthwise(x[:, None], dk[None], (1, 1), "same", (1, 2))[:, 0]
    np.testing.assert_allclose(y.numpy(), depthwise @ pk[0], atol=1e-12)
    np.testing.assert_allclose(
        F.depthwise_conv1d(x, dk, padding="same", dilation_rate=2).numpy(), depthwise,
        atol=1e-12)
    check_grad(lambda *t: F.separable_conv1d(*t, padding="same", dilation_rate=2),
               [x, dk, pk])


# -- blocking, dtypes, backends ------------------------------------------------------------

@pytest.mark.parametrize("strides,padding,m", [(1, "same", 1), (2, "same", 2),
                                               (1, "valid", 1), ((1, 2), "valid", 3)])
@pytest.mark.parametrize("block_bytes", [64, 2500])
def test_cache_blocks_give_the_same_result(strides, padding, m, block_bytes, rng):
    """Row blocks (64 bytes: one row per block) and multi-image blocks agree with one
    block."""
    x = rng.standard_normal((3, 9, 8, 2))
    kernel, bias = rng.standard_normal((3, 3, 2, m)), rng.standard_normal(2 * m)
    geo = Geometry(x.shape, kernel.shape, _pair(strides), (1, 1), padding)
    g = rng.standard_normal(geo.output_shape)
    y1 = reference.forward(np, x, kernel, bias, geo, block_bytes=1 << 40)
    dx1, dw1 = reference.backward(np, x, kernel, g, geo, block_bytes=1 << 40)
    assert len(reference.blocks(np, 3, 9, 8 * 2 * m * 8, block_bytes)) > 1
    y2 = reference.forward(np, x, kernel, bias, geo, block_bytes=block_bytes)
    dx2, dw2 = reference.backward(np, x, kernel, g, geo, block_bytes=block_bytes)
    np.testing.assert_allclose(y2, y1, atol=1e-13)
    np.testing.assert_allclose(dx2, dx1, atol=1e-13)
    np.testing.assert_allclose(dw2, dw1, atol=1e-12)
    np.testing.assert_allclose(y1, reference_depthwise(x, kernel, _pair(strides), padding,
                                                       (1, 1), bias), atol=1e-12)


BLOCK_CASES = [  # "same" and "valid" geometries with strides in one or both axes
    dict(kernel=(3, 3), strides=(1, 1), dilation=(1, 1), padding="same", size=(6, 5), m=1),
    dict(kernel=(2, 5), strides=(1, 1), dilation=(1, 1), padding="same", size=(4, 7), m=2),
    dict(kernel=(3, 2), strides=(1, 1), dilation=(2, 3), padding="same", size=(5, 4), m=1),
    dict(kernel=(5, 5), strides=(1, 1), dilation=(1, 2), padding="same", size=(2, 3), m=3),
    dict(kernel=(3, 1), strides=(1, 1), dilation=(2, 1), padding="valid", size=(7, 3), m=2),
    dict(kernel=(3, 3), strides=(2, 2), dilation=(1, 1), padding="same", size=(7, 6), m=1),
    dict(kernel=(2, 5), strides=(3, 2), dilation=(1, 1), padding="same", size=(8, 5), m=2),
    dict(kernel=(5, 2), strides=(1, 3), dilation=(1, 1), padding="same", size=(3, 7), m=1),
    dict(kernel=(1, 1), strides=(2, 2), dilation=(1, 1), padding="valid", size=(5, 7), m=2),
    dict(kernel=(3, 1), strides=(2, 3), dilation=(1, 1), padding="valid", size=(7, 5), m=1),
]


@pytest.mark.parametrize("args", BLOCK_CASES)
@pytest.mark.parametrize("block", [64, 500])
def test_reference_kernels_in_small_blocks(args, block, rng):
    """Row blocks and remainders give the one-block result, and the forward the loops'."""
    x = rng.standard_normal((3,) + args["size"] + (2,))
    kernel = rng.standard_normal(args["kernel"] + (2, args["m"]))
    bias = rng.standard_normal(2 * args["m"])
    geo = Geometry(x.shape, kernel.shape, args["strides"], args["dilation"],
                   args["padding"])
    g = rng.standard_normal(geo.output_shape)
    results = []
    for block_bytes in (block, 1 << 40):
        y = reference.forward(np, x, kernel, bias, geo, block_bytes=block_bytes)
        results.append((y,) + reference.backward(np, x, kernel, g, geo,
                                                 block_bytes=block_bytes))
    for small, whole in zip(*results):
        np.testing.assert_allclose(small, whole, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(results[0][0], reference_depthwise(
        x, kernel, args["strides"], args["padding"], args["dilation"], bias), atol=1e-12)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_thread_count_does_not_change_results(threads, rng):
    x = rng.standard_normal((5, 6, 7, 2))
    kernel = rng.standard_normal((3, 3, 2, 2))
    for strides in ((2, 1), (1, 1), (1, 2)):
        geo = Geometry(x.shape, kernel.shape, strides, (1, 1), "same")
        g = rng.standard_normal(geo.output_shape)
        results = []
        for count, block in ((threads, 700), (1, 1 << 40)):
            options = dict(threads=count, block_bytes=block)
            results.append((reference.forward(np, x, kernel, None, geo, **options),)
                           + reference.backward(np, x, kernel, g, geo, **options))
        for threaded, single in zip(*results):
            np.testing.assert_allclose(threaded, single, atol=1e-12)
        np.testing.assert_allclose(results[0][0], reference_depthwise(
            x, kernel, strides, "same", (1, 1)), atol=1e-12)


@pytest.mark.parametrize("strides", [1, 2])
def test_non_finite_values_stay_where_they_belong(strides, rng):
    """An inf at a row's right edge must not reach the next row's left edge: the results
    equal the loops', inf and nan included."""
    x = rng.standard_normal((2, 6, 6, 2))
    x[0, 2, 5, 0] = np.inf
    x[1, 3, 0, 1] = -np.inf
    kernel = rng.standard_normal((3, 3, 2, 1))
    with np.errstate(invalid="ignore"):
        expected = reference_depthwise(x, kernel, (strides, strides), "same", (1, 1))
    y = F.depthwise_conv2d(x, kernel, strides=strides, padding="same").numpy()
    np.testing.assert_array_equal(np.isfinite(y), np.isfinite(expected))
    np.testing.assert_allclose(y[np.isfinite(y)], expected[np.isfinite(y)], atol=1e-12)
    assert not np.isfinite(y).all()

    xt = mdl.tensor(rng.standard_normal((1, 6, 6, 1)), requires_grad=True)
    kt = np.ones((3, 3, 1, 1))
    out = F.depthwise_conv2d(xt, kt, strides=strides, padding="same")
    g = np.ones(out.shape)
    g[0, -2, -1, 0] = np.inf
    out.backward(g)
    # the adjoint by explicit loops: scatter g * w into a padded input gradient
    (_, top, bottom), (_, left, right) = padding_amounts((6, 6), (3, 3), (strides,) * 2,
                                                         (1, 1), "same")
    dx = np.zeros((6 + top + bottom + 3, 6 + left + right + 3))
    for r, c, i, j in itertools.product(range(g.shape[1]), range(g.shape[2]), range(3),
                                        range(3)):
        dx[r * strides + i, c * strides + j] += g[0, r, c, 0] * kt[i, j, 0, 0]
    expected_dx = dx[top:top + 6, left:left + 6]
    np.testing.assert_array_equal(np.isfinite(xt.grad[0, :, :, 0]),
                                  np.isfinite(expected_dx))
    assert not np.isfinite(expected_dx).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_preserved(dtype, rng):
    x = mdl.tensor(rng.standard_normal((2, 5, 5, 3)).astype(dtype), requires_grad=True)
    k = mdl.tensor(rng.standard_normal((3, 3, 3, 2)).astype(dtype), requires_grad=True)
    pk = mdl.tensor(rng.standard_normal((1, 1, 6, 4)).astype(dtype), requires_grad=True)
    b = mdl.tensor(rng.standard_normal(4).astype(dtype), requires_grad=True)
    y = F.separable_conv2d(x, k, pk, strides=2, padding="same", bias=b)
    assert y.dtype == dtype
    y.sum().backward()
    for t in (x, k, pk, b):
        assert t.grad.dtype == dtype
    expected = reference_depthwise(x.numpy().astype(np.float64),
                                   k.numpy().astype(np.float64), (2, 2), "same", (1, 1))
    expected = expected @ pk.numpy()[0, 0].astype(np.float64) + b.numpy()
    tol = 1e-4 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y.numpy(), expected, rtol=tol, atol=tol)


def test_runs_on_every_backend(backend, rng):
    x = mdl.tensor(rng.standard_normal((2, 6, 5, 3)), requires_grad=True, backend=backend)
    k = mdl.tensor(rng.standard_normal((3, 3, 3, 2)), requires_grad=True, backend=backend)
    y = F.depthwise_conv2d(x, k, strides=2, padding="same")
    gy = rng.standard_normal(y.shape)
    y.backward(mdl.tensor(gy, backend=backend))
    assert y.backend == backend and x.grad.shape == x.shape
    reference = reference_depthwise(x.numpy(), k.numpy(), (2, 2), "same", (1, 1))
    np.testing.assert_allclose(y.numpy(), reference, atol=1e-12)
    xh = mdl.tensor(x.numpy(), requires_grad=True, backend="numpy")
    kh = mdl.tensor(k.numpy(), requires_grad=True, backend="numpy")
    F.depthwise_conv2d(xh, kh, strides=2, padding="same").backward(
        mdl.tensor(gy, backend="numpy"))
    np.testing.assert_allclose(mdl.backend.resolve(backend).to_numpy(x.grad), xh.grad,
                               atol=1e-12)
    np.testing.assert_allclose(mdl.backend.resolve(backend).to_numpy(k.grad), kh.grad,
                               atol=1e-12)


# -- argument errors -----------------------------------------------------------------------

X = np.zeros((1, 5, 5, 2))
K = np.zeros((3, 3, 2, 1))


@pytest.mark.parametrize("kwargs,words", [
    (dict(strides=2, dilation_rate=2), ["strides", "dilation_rate"]),
    (dict(strides=(2, 1), dilation_rate=(1, 2)),
     ["strides=(2, 1)", "dilation_rate=(1, 2)"]),
    (dict(padding=2), ["padding=2"]),
    (dict(padding="full"), ["padding='full'"]),
    (dict(strides=0), ["strides=0"]),
    (dict(strides=-1), ["strides=-1"]),
    (dict(strides=(1, 1, 1)), ["strides=(1, 1, 1)"]),
    (dict(dilation_rate=0), ["dilation_rate=0"]),
    (dict(data_format="channels_middle"), ["data_format='channels_middle'"]),
])
def test_bad_arguments_raise_naming_them(kwargs, words):
    with pytest.raises(ValueError) as err:
        F.depthwise_conv2d(X, K, **kwargs)
    for word in words:
        assert word in str(err.value)


def test_bad_shapes_raise_naming_them():
    with pytest.raises(ValueError, match=r"x of shape \(5, 5, 2\) must have rank 4"):
        F.depthwise_conv2d(X[0], K)
    with pytest.raises(ValueError, match="kernel of shape .* in_channels=3"):
        F.depthwise_conv2d(X, np.zeros((3, 3, 3, 1)))
    with pytest.raises(ValueError, match="kernel of shape .* must have rank 4"):
        F.depthwise_conv2d(X, np.zeros((3, 3, 2)))
    with pytest.raises(ValueError, match="too small .* empty"):
        F.depthwise_conv2d(X, np.zeros((6, 3, 2, 1)))
    with pytest.raises(ValueError, match="too small"):
        F.depthwise_conv2d(X, K, dilation_rate=3)
    with pytest.raises(ValueError, match=r"bias of shape \(3,\) must be \(2,\)"):
        F.depthwise_conv2d(X, K, bias=np.zeros(3))
    with pytest.raises(ValueError, match="pointwise_kernel of shape"):
        F.separable_conv2d(X, K, np.zeros((1, 1, 3, 4)))
    with pytest.raises(ValueError, match=r"bias of shape \(3,\) must be \(4,\)"):
        F.separable_conv2d(X, K, np.zeros((1, 1, 2, 4)), bias=np.zeros(3))
    with pytest.raises(ValueError, match="x of shape .* must have rank 3"):
        F.depthwise_conv1d(X, np.zeros((3, 2, 1)))
    with pytest.raises(ValueError, match="strides=2 with dilation_rate=2|strides=\\(2,\\)"):
        F.separable_conv1d(X[0], np.zeros((3, 2, 1)), np.zeros((1, 2, 2)), strides=2,
                           dilation_rate=2)
    with pytest.raises(TypeError, match="x must be a floating tensor"):
        F.depthwise_conv2d(X.astype(int), K)
