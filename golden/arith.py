"""The arithmetic contract (docs/arithmetic.md), one pure function per RTL block.

Everything here computes exact integers. Float arrays appear only as carriers of exact integers
(float32 while every partial sum stays below 2**24, float64 otherwise; see `conv_acc`), never as
a rounding step. The only float->int conversions are in the `*_params` helpers that turn
calibrated scales into integer fields once, at extraction time.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from golden.errors import BiasSaturationError, RangeError

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
INT16_MIN = -(2**15)
INT16_MAX = 2**15 - 1
#: Largest |a - z| x |w| product term: 9-bit activation operand times narrow-range int8 weight.
MAX_TERM = 255 * 127
#: Largest n the requantizer accepts: acc x M0 is formed in 64 bits and shifted right by n.
MAX_SHIFT = 63
BIAS_MODES = ("int16_shift", "int16_saturate", "int32")

IntArray = NDArray[np.int64]


# --------------------------------------------------------------------------------------------
# Calibration-time conversions (float scale -> integer fields). Run once per layer.
# --------------------------------------------------------------------------------------------
def round_half_even(x: float) -> int:
    """Python's round() on a float64 is round-half-to-even and exact."""
    return int(round(x))


def quantize_multiplier(m: float, *, m0_bits: int, where: str) -> tuple[int, int]:
    """M = M0 * 2**-n with 2**(m0_bits-1) <= M0 < 2**m0_bits and n >= 1.

    M0 = round(M * 2**n) (half away from zero: M > 0, so half up); if rounding reaches
    2**m0_bits, M0 is halved and n decremented. `where` names the layer for errors.
    """
    if not 1 <= m0_bits <= 31:
        raise RangeError(f"{where}: m0_bits={m0_bits} is outside 1..31")
    if not (m > 0 and math.isfinite(m)):
        raise RangeError(f"{where}: requantisation multiplier M={m!r} is not a positive finite number")
    frac, exp = math.frexp(m)  # m = frac * 2**exp, 0.5 <= frac < 1
    n = m0_bits - exp
    m0 = math.floor(math.ldexp(frac, m0_bits) + 0.5)
    if m0 == 1 << m0_bits:
        m0 >>= 1
        n -= 1
    if n < 1:
        raise RangeError(
            f"{where}: M={m:.6g} needs n={n} < 1 with m0_bits={m0_bits}; the contract requires n >= 1 "
            "(the output scale is too small for this layer's input and weight scales)"
        )
    if n > MAX_SHIFT:
        raise RangeError(f"{where}: M={m:.6g} needs n={n} > {MAX_SHIFT}")
    return m0, n


@dataclass(frozen=True)
class BiasCodes:
    """Bias of one layer in accumulator units, stored the way the chosen mode stores it."""

    mode: str
    mantissa: IntArray  # int16 mantissa (int16 modes) or the int32 bias (int32 mode)
    shift: IntArray  # per-channel left shift sb (always 0 except int16_shift)
    saturated: int  # channels clamped to int16 (int16_saturate only)

    @property
    def term(self) -> IntArray:
        """bias_term[k] = mantissa[k] << shift[k], the value added to the accumulator."""
        return bias_term(self.mantissa, self.shift)


def bias_term(mantissa: IntArray, shift: IntArray) -> IntArray:
    return np.left_shift(mantissa.astype(np.int64), shift.astype(np.int64))


def encode_bias(
    bias_acc_units: NDArray[np.float64], *, mode: str, where: str, saturate_policy: str = "warn"
) -> BiasCodes:
    """Turn B[k] = bias_float / (S_in * S_w[k]) into the stored codes of `mode` (arithmetic.md)."""
    b = np.asarray(bias_acc_units, dtype=np.float64)
    if not np.all(np.isfinite(b)):
        raise RangeError(f"{where}: bias is not finite")
    k = b.shape[0]
    if mode == "int32":
        r = np.rint(b)  # float64 rint is round-half-even, exact for |B| < 2**52
        if np.any(r < INT32_MIN) or np.any(r > INT32_MAX):
            bad = int(np.argmax(np.abs(r)))
            raise RangeError(f"{where}: bias of channel {bad} = {r[bad]:.0f} does not fit int32")
        return BiasCodes(mode, r.astype(np.int64), np.zeros(k, np.int64), 0)
    if mode == "int16_saturate":
        r = np.rint(b)
        sat = (r < INT16_MIN) | (r > INT16_MAX)
        if np.any(sat) and saturate_policy == "error":
            bad = int(np.flatnonzero(sat)[0])
            raise BiasSaturationError(
                f"{where}: bias of channel {bad} = {r[bad]:.0f} accumulator units does not fit int16 "
                f"({int(sat.sum())} of {k} channels); use bias mode int16_shift or int32"
            )
        return BiasCodes(
            mode, np.clip(r, INT16_MIN, INT16_MAX).astype(np.int64), np.zeros(k, np.int64), int(sat.sum())
        )
    if mode == "int16_shift":
        mant = np.empty(k, np.int64)
        shift = np.empty(k, np.int64)
        for i, v in enumerate(b.tolist()):
            for sb in range(16):
                # ldexp by a power of two is exact, so rint rounds the true quotient half-to-even.
                q = float(np.rint(math.ldexp(v, -sb)))
                if INT16_MIN <= q <= INT16_MAX:
                    mant[i], shift[i] = int(q), sb
                    break
            else:
                raise RangeError(f"{where}: bias of channel {i} = {v:.0f} does not fit int16 << 15")
        return BiasCodes(mode, mant, shift, 0)
    raise ValueError(f"{where}: unknown bias mode {mode!r}; choose one of {', '.join(BIAS_MODES)}")


def clamp_code(value: float, z: int, scale: float) -> int:
    """The code a quantized clamp / hardtanh bound `value` becomes on a tensor of scale S and zero
    point z: z + round(value / S) (ties to even, as PyTorch's quantize_val), within 0..255; -inf and
    inf (no bound) give 0 and 255. A ReLU6's upper bound is clamp_code(6.0, z, S) (arithmetic.md)."""
    if math.isinf(value):
        return 0 if value < 0 else 255
    return min(255, max(0, z + round_half_even(value / scale)))


# --------------------------------------------------------------------------------------------
# Run-time integer arithmetic
# --------------------------------------------------------------------------------------------
def _carrier_dtype(k_dot: int) -> type:
    """float32 is exact while every partial sum stays below 2**24; otherwise float64 (below 2**53)."""
    return np.float32 if k_dot * MAX_TERM < 2**24 else np.float64


def accumulator_bits(bias_term: IntArray, k_dot: int, *, in_bits: int, z_in: int, w_bits: int) -> int:
    """Bits of the signed accumulator that holds every sum a layer can make at these widths, whatever
    its input: |bias| + K x max|a - z_in| x max|w|, with a in 0..2^in_bits - 1 and weights in
    +-(2^(w_bits-1) - 1) (K: taps x input channels per group). The data-independent bound a
    hardware designer provisions for (Brevitas' A2Q bounds the same sum); it falls with the widths."""
    worst_act = max(int(z_in), (1 << in_bits) - 1 - int(z_in))
    worst = int(np.abs(np.asarray(bias_term, np.int64)).max(initial=0)) + int(k_dot) * worst_act * ((1 << (w_bits - 1)) - 1)
    return worst.bit_length() + 1


def conv_out_size(size: int, before: int, after: int, kernel: int, stride: int, dilation: int = 1) -> int:
    """Output size of a conv along one axis with `before` / `after` zero padding: the one formula
    (golden's conv, hexgen's rule book and checker, the synthetic layers; rtl/desc_check.sv mirrors it).
    A dilated kernel spans dilation x (kernel - 1) + 1 input positions (dilated_span)."""
    return (size + before + after - dilated_span(kernel, dilation)) // stride + 1


def dilated_span(kernel: int, dilation: int) -> int:
    """Input positions a kernel of `kernel` taps spaced `dilation` apart covers along one axis."""
    return dilation * (kernel - 1) + 1


#: In a process that has not imported PyTorch, a conv of at most this many multiply-adds is carried
#: by numpy (_conv_numpy); otherwise by PyTorch's conv kernel. Both hold exact integers
#: (_carrier_dtype), so the choice changes no value: numpy spares a process that runs only small
#: layers (a unit bench inside a simulator) the 2 s PyTorch import; once PyTorch is in, its kernel
#: is the faster (make bench-golden: 33.8 ms against 47.4 ms with numpy below 2M multiply-adds).
NUMPY_CONV_MACS = 1 << 23


def _numpy_carrier(macs: int) -> bool:
    return macs <= NUMPY_CONV_MACS and "torch" not in sys.modules


def _conv_numpy(x: NDArray[np.uint8], w: NDArray[np.int8], *, z_in: int, stride: tuple[int, int],
                padding: tuple[int, int, int, int], groups: int, channels_last: bool, dt: type,
                dilation: tuple[int, int] = (1, 1)) -> Any:
    """The centred activations' convolution in the carrier dtype, [N, HO, WO, K]: every window
    (numpy's sliding_window_view over the zero-padded centred image, at the strides; a dilated
    window is the span's every dilation-th row and column) against every kernel of its group."""
    from numpy.lib.stride_tricks import sliding_window_view

    top, bottom, left, right = padding
    xc: Any = (x if channels_last else x.transpose(0, 2, 3, 1)).astype(dt)
    xc -= dt(z_in)
    xc = np.pad(xc, ((0, 0), (top, bottom), (left, right), (0, 0)))  # zeros of the centred image: z_in
    k, cg, kh, kw = w.shape
    dy, dx = dilation
    span = (dilated_span(kh, dy), dilated_span(kw, dx))
    win = sliding_window_view(xc, span, axis=(1, 2))[:, :: stride[0], :: stride[1], :, ::dy, ::dx]  # N, HO, WO, C, KH, KW
    n, ho, wo = win.shape[:3]
    win = win.reshape(n, ho, wo, groups, cg, kh, kw)
    wg: Any = w.astype(dt).reshape(groups, k // groups, cg, kh, kw)
    out = np.einsum("nhwgcij,gkcij->nhwgk", win, wg, optimize=True)
    return out.reshape(n, ho, wo, k)


def conv_acc(
    x: NDArray[np.uint8],
    w: NDArray[np.int8],
    bias: IntArray,
    *,
    z_in: int,
    stride: tuple[int, int],
    padding: tuple[int, ...],
    groups: int,
    dilation: tuple[int, int] = (1, 1),
    channels_last: bool = False,
    exact_float: bool = False,
) -> IntArray:
    """acc[n,k,y,x] = bias[k] + sum_{c,i,j} (a[n, c, y*s+i*d-p, x*s+j*d-p] - z_in) * w[k,c,i,j].

    x: uint8 [N, C, H, W]; w: int8 [K, C/groups, KH, KW]; bias: int64 [K] (bias_term).
    padding: (py, px) on both sides, or (top, bottom, left, right). dilation: (dy, dx), the
    spacing of the kernel's taps (1: adjacent).
    Padding positions hold z_in, so they contribute 0. Returns int64 [N, K, HO, WO], every
    value checked to fit int32. With channels_last, x is [N, H, W, C] and the result
    [N, HO, WO, K] (what Network.run uses internally: no transposes between layers).
    With exact_float the same integers come back as float64 (exact: |acc| < 2**31), which saves
    requantize two int64 passes.
    """
    if channels_last:
        n, h, wd, c = x.shape
    else:
        n, c, h, wd = x.shape
    k, cg, kh, kw = w.shape
    _check_weights(w)
    sy, sx = stride
    top, bottom, left, right = (padding[0], padding[0], padding[1], padding[1]) if len(padding) == 2 else padding
    dt = _carrier_dtype(cg * kh * kw)
    dy, dx = dilation
    ho = conv_out_size(h, top, bottom, kh, sy, dy)
    wo = conv_out_size(wd, left, right, kw, sx, dx)
    if _numpy_carrier(n * ho * wo * k * cg * kh * kw):
        out_np = _conv_numpy(x, w, z_in=z_in, stride=(sy, sx), padding=(top, bottom, left, right), groups=groups,
                             channels_last=channels_last, dt=dt, dilation=(dy, dx))
        acc_np: Any = out_np.astype(np.float64 if exact_float else np.int64)
        acc_np += bias.astype(np.float64 if exact_float else np.int64)
        if not exact_float:
            check_int32(acc_np, "conv accumulator")
        return acc_np if channels_last else acc_np.transpose(0, 3, 1, 2)
    # PyTorch's float convolution as the carrier (arithmetic.md allows it: every partial sum is an
    # integer the carrier holds exactly, whatever order the kernel adds in). Zero padding of the
    # centred activations is a padding activation of z_in. 2-3x faster than numpy im2col here.
    import torch
    import torch.nn.functional as F

    tdt = torch.float32 if dt is np.float32 else torch.float64
    xt = torch.from_numpy(np.ascontiguousarray(x)).to(tdt)  # uint8 -> carrier (a copy)
    xt = xt.permute(0, 3, 1, 2) if channels_last else xt  # NCHW view (channels-last memory)
    xt.sub_(float(z_in))  # in place: the copy above is ours
    wt = torch.from_numpy(w.astype(dt))  # a writable copy: layer records are read-only
    with torch.no_grad():
        if top == bottom and left == right:
            yt = F.conv2d(xt, wt, None, stride=(sy, sx), padding=(top, left), dilation=(dy, dx), groups=groups)
        else:  # zeros of the centred activations are z_in
            yt = F.conv2d(F.pad(xt, (left, right, top, bottom)), wt, None, stride=(sy, sx), dilation=(dy, dx), groups=groups)
    out = yt.permute(0, 2, 3, 1)  # NHWC
    if tuple(out.shape[1:3]) != (ho, wo):
        raise RangeError(f"conv output {tuple(out.shape[1:3])} != expected {(ho, wo)}")
    # widen and add the bias in torch (two threads; the values are exact integers either way)
    acc_t = out.to(torch.float64 if exact_float else torch.int64)
    acc_t += torch.from_numpy(bias.astype(np.float64 if exact_float else np.int64))
    acc: Any = acc_t.numpy()
    if not exact_float:  # the exact_float caller, requantize, checks int32 itself
        check_int32(acc, "conv accumulator")
    return acc if channels_last else acc.transpose(0, 3, 1, 2)


def linear_acc(
    x: NDArray[np.uint8], w: NDArray[np.int8], bias: IntArray, *, z_in: int, exact_float: bool = False
) -> IntArray:
    """acc[n,k] = bias[k] + sum_c (a[n,c] - z_in) * w[k,c]. A 1x1 conv on a 1x1 image."""
    k, c = w.shape
    _check_weights(w)
    dt = _carrier_dtype(c)
    xf: Any = x.astype(dt)
    xf -= dt(z_in)
    acc = (xf @ w.astype(dt).T).astype(np.float64 if exact_float else np.int64)
    acc += bias.astype(acc.dtype)
    check_int32(acc, "linear accumulator")
    return acc


def _check_weights(w: NDArray[np.int8]) -> None:
    # MAX_TERM (and so the float32 carrier's exactness) assumes narrow-range weights
    if w.size and int(w.min()) < -127:
        raise RangeError("weights use -128; the contract's narrow range is [-127, 127]")


def check_int32(acc: IntArray, what: str) -> None:
    if acc.size and (acc.min() < INT32_MIN or acc.max() > INT32_MAX):
        raise RangeError(f"{what} left int32: range [{acc.min()}, {acc.max()}]")


#: Below this many elements numpy's per-call cost is lower than torch's (the MLP's layers).
_TORCH_MIN_ELEMENTS = 1 << 16


def requantize(
    acc: IntArray, *, m0: IntArray, n: IntArray, z_out: int, lo: int, hi: int, channel_axis: int = 1
) -> NDArray[np.uint8]:
    """y = clamp(((acc * M0 + 2**(n-1)) >> n) + z_out, lo, hi), per output channel (M0, n).

    The product is formed in 64 bits (|acc| < 2**31, M0 < 2**31); >> is arithmetic (floor), so
    ties round toward +infinity. channel_axis: 1 for [N, K, ...], -1 for channels-last.
    """
    use_torch = acc.size >= _TORCH_MIN_ELEMENTS and acc.dtype == np.float64 and acc.flags.c_contiguous
    if use_torch:
        import torch  # one pass for both ends, on two threads

        lo_t, hi_t = torch.aminmax(torch.from_numpy(acc))
        lo_acc, hi_acc = int(lo_t), int(hi_t)
    else:
        lo_acc, hi_acc = (int(acc.min()), int(acc.max())) if acc.size else (0, 0)
    if lo_acc < INT32_MIN or hi_acc > INT32_MAX:
        raise RangeError(f"requantize input accumulator left int32: range [{lo_acc}, {hi_acc}]")
    if not (0 <= lo <= 255 and 0 <= hi <= 255):
        raise RangeError(f"requantize: clamp bounds [{lo}, {hi}] outside the uint8 range")
    m0a, na = np.asarray(m0, np.int64), np.asarray(n, np.int64)
    if m0a.size and (m0a.min() < 0 or m0a.max() >= 2**31):
        raise RangeError(f"requantize: M0 outside 0..2**31-1 (range {m0a.min()}..{m0a.max()})")
    if na.size and (na.min() < 1 or na.max() > MAX_SHIFT):
        raise RangeError(f"requantize: n outside 1..{MAX_SHIFT} (range {na.min()}..{na.max()})")
    shape = [1] * acc.ndim
    shape[channel_axis] = -1
    m0b = m0a.reshape(shape)
    nb = na.reshape(shape)
    amax = max(-lo_acc, hi_acc)
    if amax * int(m0b.max(initial=0)) + (1 << (int(nb.max(initial=1)) + 9)) < 2**53:
        # Fast exact path. M = M0 * 2**-n is a float64 exactly (a 31-bit integer times a power of
        # two), and acc * M + (z_out + 1/2) equals (acc*M0 + 2**(n-1)) / 2**n + z_out exactly: the
        # exact value needs fewer than 53 significant bits (the condition above, with 9 bits of
        # headroom for z_out < 2**8). floor() of it is then exactly the arithmetic shift's result
        # plus z_out. (acc may arrive as float64 holding exact integers: conv_acc(exact_float=True).)
        # Then clamp to the integer bounds and convert with truncation: for values >= 0 (lo >= 0)
        # truncation is floor(), and floor(clamp(v)) == clamp(floor(v)) for integer bounds.
        mult = np.ldexp(m0b.astype(np.float64), -nb)
        if use_torch:
            import torch  # the same float64 operations, in place and on two threads

            zt = torch.tensor(float(z_out) + 0.5, dtype=torch.float64)
            yt = torch.addcmul(zt, torch.from_numpy(acc), torch.from_numpy(np.ascontiguousarray(mult)))
            return yt.clamp_(lo, hi).to(torch.uint8).numpy()
        yf: Any = acc * mult
        yf += float(z_out) + 0.5
        np.clip(yf, lo, hi, out=yf)
        return yf.astype(np.uint8)
    y = (np.rint(acc) if acc.dtype.kind == "f" else acc).astype(np.int64) * m0b  # new int64 array; then in place
    y += np.left_shift(np.int64(1), nb - 1)
    np.right_shift(y, nb, out=y)
    y += np.int64(z_out)
    np.clip(y, lo, hi, out=y)
    return y.astype(np.uint8)


def requantize_codes(
    x: NDArray[np.uint8], *, z_in: int, m0: int, n: int, z_out: int, lo: int, hi: int
) -> NDArray[np.uint8]:
    """Codes of one tensor brought to another scale and zero point (a concat's input quantized
    otherwise than its output): requantize(a - z_in) with one M0 * 2^-n = S_in / S_out, i.e. a
    residual add of one operand, clamp(((M0 * (a - z_in) + 2**(n-1)) >> n) + z_out, lo, hi)."""
    acc = x.astype(np.int64) - np.int64(z_in)
    return requantize(acc, m0=np.array([m0], np.int64), n=np.array([n], np.int64), z_out=z_out, lo=lo, hi=hi)


def upsample_nearest(x: NDArray[np.uint8], *, scale: tuple[int, int], channels_last: bool = False) -> NDArray[np.uint8]:
    """Nearest upsampling by whole factors (sy, sx): output (y, x) is input (y // sy, x // sx), a copy."""
    hax, wax = (1, 2) if channels_last else (2, 3)
    return np.repeat(np.repeat(x, scale[0], axis=hax), scale[1], axis=wax)


def add_requant(
    a: NDArray[np.uint8], b: NDArray[np.uint8], *, z_a: int, z_b: int, a0: int, b0: int, n: int, z_out: int, lo: int, hi: int
) -> NDArray[np.uint8]:
    """Residual add: clamp(((A0*(a - z_a) + B0*(b - z_b) + 2**(n-1)) >> n) + z_out, lo, hi)."""
    s = np.int64(a0) * (a.astype(np.int64) - z_a) + np.int64(b0) * (b.astype(np.int64) - z_b)
    y = np.right_shift(s + (np.int64(1) << np.int64(n - 1)), np.int64(n)) + z_out
    return np.clip(y, lo, hi).astype(np.uint8)


def add_params(scale_a: float, scale_b: float, scale_out: float, *, m0_bits: int, where: str) -> tuple[int, int, int]:
    """(A0, B0, n) for the residual add: one shared n, both multipliers of at most m0_bits bits."""
    ra, rb = scale_a / scale_out, scale_b / scale_out
    if not (ra > 0 and rb > 0):
        raise RangeError(f"{where}: add scales must be positive")
    _, exp = math.frexp(max(ra, rb))
    n = m0_bits - exp
    while True:
        a0 = math.floor(math.ldexp(ra, n) + 0.5)
        b0 = math.floor(math.ldexp(rb, n) + 0.5)
        if max(a0, b0) < (1 << m0_bits):
            break
        n -= 1
    if n < 1:
        raise RangeError(f"{where}: add needs n={n} < 1 with m0_bits={m0_bits}")
    if n > MAX_SHIFT:
        raise RangeError(f"{where}: add needs n={n} > {MAX_SHIFT}")
    return a0, b0, n


def _windows(x: NDArray[np.uint8], kernel: tuple[int, int], stride: tuple[int, int], out_hw: tuple[int, int],
             channels_last: bool) -> Any:
    """The KH*KW strided slices of x whose element (.., oy, ox, ..) is window (oy, ox)'s element
    (i, j): a pool is then KH*KW elementwise passes instead of a reduction over a strided view."""
    kh, kw = kernel
    sy, sx = stride
    ho, wo = out_hw
    for i in range(kh):
        for j in range(kw):
            rows, cols = slice(i, i + sy * (ho - 1) + 1, sy), slice(j, j + sx * (wo - 1) + 1, sx)
            yield x[:, rows, cols, :] if channels_last else x[:, :, rows, cols]


def max_pool(
    x: NDArray[np.uint8], *, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int], channels_last: bool = False
) -> NDArray[np.uint8]:
    """Exact. Padding never wins: every window holds at least one real element and codes are >= 0."""
    kh, kw = kernel
    sy, sx = stride
    py, px = padding
    hax, wax = (1, 2) if channels_last else (2, 3)
    if py or px:
        pads = [(0, 0)] * 4
        pads[hax], pads[wax] = (py, py), (px, px)
        x = np.pad(x, pads)
    ho = (x.shape[hax] - kh) // sy + 1
    wo = (x.shape[wax] - kw) // sx + 1
    y: Any = None
    for win in _windows(x, kernel, stride, (ho, wo), channels_last):
        y = np.array(win, dtype=np.uint8) if y is None else np.maximum(y, win, out=y)
    return y


def avg_pool_sums(
    x: NDArray[np.uint8], *, kernel: tuple[int, int], stride: tuple[int, int], channels_last: bool = False
) -> tuple[NDArray[np.int64], int]:
    """(sum(a) over each KHxKW window, N = KH*KW): the exact average is sum / N."""
    kh, kw = kernel
    sy, sx = stride
    hax, wax = (1, 2) if channels_last else (2, 3)
    ho = (x.shape[hax] - kh) // sy + 1
    wo = (x.shape[wax] - kw) // sx + 1
    s: Any = None
    for win in _windows(x, kernel, stride, (ho, wo), channels_last):
        if s is None:
            s = win.astype(np.int64)
        else:
            s += win
    return s, kh * kw


def global_avg_pool_sums(x: NDArray[np.uint8], *, channels_last: bool = False) -> tuple[NDArray[np.int64], int]:
    """(sum(a) over each channel's whole image, keepdims, N = H*W)."""
    axes = (1, 2) if channels_last else (2, 3)
    cnt = x.shape[axes[0]] * x.shape[axes[1]]
    return x.sum(axis=axes, dtype=np.int64, keepdims=True), cnt


def avg_round(s: NDArray[np.int64], cnt: int) -> NDArray[np.uint8]:
    """The contract's average of window sums s over cnt elements: (s + floor(N/2)) // N, ties up."""
    return ((s + cnt // 2) // cnt).astype(np.uint8)


def avg_pool(
    x: NDArray[np.uint8], *, kernel: tuple[int, int], stride: tuple[int, int], channels_last: bool = False
) -> NDArray[np.uint8]:
    """y = (sum(a) + floor(N/2)) // N over each KHxKW window (same qparams in and out)."""
    return avg_round(*avg_pool_sums(x, kernel=kernel, stride=stride, channels_last=channels_last))


def global_avg_pool(x: NDArray[np.uint8], *, channels_last: bool = False) -> NDArray[np.uint8]:
    """Global average pool to [N, C, 1, 1] ([N, 1, 1, C] channels-last): (sum + floor(N/2)) // N."""
    return avg_round(*global_avg_pool_sums(x, channels_last=channels_last))
