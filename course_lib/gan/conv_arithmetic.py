"""Convolution arithmetic for DCGAN: output sizes, transposed = fractionally-strided convolution, checkerboards.

Three facts chapter 4 needs, each computed here and checked against PyTorch in the tests:

1. **Output sizes** (Dumoulin and Visin, *A guide to convolution arithmetic for deep learning*, 2016, Relationships
   6 and 14 in their notation, with dilation as in PyTorch's documentation): a convolution maps size :math:`n` to
   :math:`\\lfloor (n + 2p - d(k - 1) - 1)/s \\rfloor + 1`; the transposed convolution with the same
   :math:`(k, s, p, d)` maps :math:`n` back to :math:`(n - 1)s - 2p + d(k - 1) + 1 + \\text{output\\_padding}`
   (the floor loses up to :math:`s - 1` pixels, ``output_padding`` says which size to return to).
2. **Transposed = fractionally strided.** A convolution is a linear map :math:`y = C x`; its *transpose*
   :math:`x' = C^\\top y` (:func:`conv_as_matrix`) is what ``ConvTranspose2d`` computes (and what autograd uses as
   the convolution's backward pass). The same map is an ordinary stride-1 convolution, with the kernel flipped and
   its in/out channels swapped, run over the input with :math:`s - 1` zeros inserted between pixels (a "stride of
   :math:`1/s`") and :math:`d(k-1) - p` zeros around it (:func:`fractionally_strided_conv`).
3. **Checkerboard artifacts** (Odena, Dumoulin and Olah, *Deconvolution and Checkerboard Artifacts*, Distill 2016): in
   a transposed convolution each input pixel paints a :math:`k \\times k` patch every :math:`s` pixels. When
   :math:`s` does not divide :math:`k` the patches overlap unevenly, some output pixels receive more contributions
   than their neighbours, and a periodic pattern appears (:func:`checkerboard_pattern`). DCGAN's :math:`k = 4,
   s = 2` overlaps evenly; :math:`k = 3, s = 2` does not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "conv_output_size",
    "conv_transpose_output_size",
    "insert_zeros",
    "fractionally_strided_conv",
    "conv_as_matrix",
    "checkerboard_pattern",
    "has_uneven_overlap",
]


def _int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    return value


def _pair(value: object, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints (height, width), each at least ``minimum``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (height, width), got {value!r}.")
        return _int(value[0], name, minimum), _int(value[1], name, minimum)
    v = _int(value, name, minimum)
    return v, v


def conv_output_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Output size of a convolution along one dimension (as ``nn.Conv2d`` computes it).

    .. math::
        o = \\Big\\lfloor \\frac{n + 2p - d(k - 1) - 1}{s} \\Big\\rfloor + 1

    (Dumoulin and Visin 2016, Relationship 6, with the dilated kernel's extent :math:`d(k - 1) + 1` in place of
    :math:`k`). Examples: DCGAN's discriminator, :math:`k = 4, s = 2, p = 1`, halves an even size; :math:`k = 3,
    s = 1, p = 1` keeps it ("same" padding).

    Args:
        n: input size, at least 1; k: kernel size, at least 1; s: stride, at least 1; p: zero padding on each side,
        at least 0; d: dilation, at least 1.

    Returns:
        the output size :math:`o \\ge 1`.

    Raises:
        ValueError: if the (dilated) kernel does not fit in the padded input (:math:`o < 1`).
    """
    n, k, s, p, d = _int(n, "n", 1), _int(k, "k", 1), _int(s, "s", 1), _int(p, "p", 0), _int(d, "d", 1)
    span = n + 2 * p - d * (k - 1) - 1
    if span < 0:
        raise ValueError(
            f"the kernel (extent d(k-1)+1 = {d * (k - 1) + 1}) is larger than the padded input (n + 2p = {n + 2 * p})."
        )
    return span // s + 1


def conv_transpose_output_size(n: int, k: int, s: int = 1, p: int = 0, output_padding: int = 0, d: int = 1) -> int:
    """Output size of a transposed convolution along one dimension (as ``nn.ConvTranspose2d`` computes it).

    .. math::
        o = (n - 1)\\, s - 2p + d(k - 1) + \\text{output\\_padding} + 1

    (Dumoulin and Visin 2016, Relationship 14). It inverts :func:`conv_output_size` for the same
    :math:`(k, s, p, d)`: a convolution maps sizes :math:`o, o + 1, \\dots, o + s - 1` to the same :math:`n`
    (the floor), and ``output_padding`` in :math:`[0, \\max(s, d))` picks which one to return to. DCGAN's
    :math:`k = 4, s = 2, p = 1` doubles the size; :math:`k = 4, s = 1, p = 0` maps :math:`1 \\to 4`.

    Args:
        n: input size, at least 1; k, s, d: at least 1; p: at least 0; output_padding: at least 0 and less than
            ``max(s, d)`` (PyTorch's rule).

    Returns:
        the output size, at least 1.

    Raises:
        ValueError: on a bad ``output_padding`` or when the padding removes the whole output (:math:`o < 1`).
    """
    n, k, s, p, d = _int(n, "n", 1), _int(k, "k", 1), _int(s, "s", 1), _int(p, "p", 0), _int(d, "d", 1)
    output_padding = _int(output_padding, "output_padding", 0)
    if output_padding >= max(s, d):
        raise ValueError(f"output_padding must be smaller than the stride or the dilation, got {output_padding} "
                         f"with s = {s} and d = {d}.")
    out = (n - 1) * s - 2 * p + d * (k - 1) + output_padding + 1
    if out < 1:
        raise ValueError(f"the padding p = {p} removes the whole output: (n-1)s - 2p + d(k-1) + output_padding + 1 = "
                         f"{out}.")
    return out


def _check_images(x: object, name: str = "x") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}.")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got {tuple(x.shape)}.")
    return x


def insert_zeros(x: Tensor, stride: int | tuple[int, int]) -> Tensor:
    """Put :math:`s - 1` zeros between neighbouring pixels: the "fractional stride" :math:`1/s`.

    .. math::
        u[\\dots, s_h i, s_w j] = x[\\dots, i, j], \\qquad u = 0 \\text{ elsewhere}

    Args:
        x: ``Tensor[N, C, H, W]``.
        stride: :math:`s` or :math:`(s_h, s_w)`, at least 1.

    Returns:
        ``Tensor[N, C, (H - 1) s_h + 1, (W - 1) s_w + 1]`` of ``x``'s dtype and device (a copy, even for stride 1).
    """
    x = _check_images(x)
    sh, sw = _pair(stride, "stride", 1)
    n, c, h, w = x.shape
    out = x.new_zeros(n, c, (h - 1) * sh + 1, (w - 1) * sw + 1)  # (N, C, (H-1) s_h + 1, (W-1) s_w + 1)
    out[:, :, ::sh, ::sw] = x
    return out


def fractionally_strided_conv(
    x: Tensor,
    weight: Tensor,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    bias: Tensor | None = None,
) -> Tensor:
    """A transposed convolution computed as a *fractionally-strided* one: zero insertion, padding, then an ordinary
    stride-1 convolution with the flipped kernel. Equals ``F.conv_transpose2d(x, weight, bias, stride, padding,
    output_padding, dilation=dilation)``.

    Per spatial dimension (Dumoulin and Visin 2016, Section 4.5):

    .. math::
        u = \\operatorname{insert\\_zeros}(x, s), \\qquad
        u' = \\operatorname{pad}\\big(u;\\ d(k-1) - p \\text{ before},\\ d(k-1) - p + \\text{output\\_padding}
        \\text{ after}\\big), \\qquad
        y = u' \\star \\tilde w, \\quad \\tilde w_{o, i, a, b} = w_{i, o, k_h - 1 - a, k_w - 1 - b}

    where :math:`\\star` is the cross-correlation ``F.conv2d`` computes (stride 1, dilation :math:`d`) and a negative
    padding crops. The output size is :math:`(n - 1)s + 1 + 2(d(k-1) - p) + \\text{output\\_padding} - d(k-1)`, which
    is :func:`conv_transpose_output_size`.

    Args:
        x: ``Tensor[N, C_in, H, W]``.
        weight: ``Tensor[C_in, C_out, k_h, k_w]``, laid out as ``nn.ConvTranspose2d.weight`` (input channels first).
        stride, padding, output_padding, dilation: ints or (height, width) pairs, as for ``F.conv_transpose2d``
            (``output_padding`` smaller than the stride or the dilation).
        bias: ``Tensor[C_out]`` or None.

    Returns:
        ``Tensor[N, C_out, H_out, W_out]`` in the inputs' dtype and on their device; differentiable.
    """
    x = _check_images(x)
    if not isinstance(weight, Tensor) or not weight.is_floating_point() or weight.ndim != 4:
        raise TypeError("weight must be a floating-point Tensor[C_in, C_out, k_h, k_w] (ConvTranspose2d's layout).")
    if weight.shape[0] != x.shape[1]:
        raise ValueError(
            f"weight.shape[0] (input channels, {weight.shape[0]}) must equal x's channels, {x.shape[1]}; the weight "
            "of a transposed convolution is laid out (C_in, C_out, k_h, k_w)."
        )
    if bias is not None and (not isinstance(bias, Tensor) or tuple(bias.shape) != (weight.shape[1],)):
        raise ValueError(f"bias must be a Tensor of shape ({weight.shape[1]},) or None.")
    s = _pair(stride, "stride", 1)
    p = _pair(padding, "padding", 0)
    op = _pair(output_padding, "output_padding", 0)
    d = _pair(dilation, "dilation", 1)
    k = (weight.shape[2], weight.shape[3])
    sizes = [conv_transpose_output_size(x.shape[2 + i], k[i], s[i], p[i], op[i], d[i]) for i in range(2)]  # checks
    u = insert_zeros(x, s)  # (N, C_in, (H-1) s_h + 1, (W-1) s_w + 1)
    before = [d[i] * (k[i] - 1) - p[i] for i in range(2)]  # zeros before (negative: crop)
    after = [before[i] + op[i] for i in range(2)]
    u = F.pad(u, (before[1], after[1], before[0], after[0]))  # F.pad's order: (left, right, top, bottom)
    w_flipped = weight.transpose(0, 1).flip(-2, -1)  # (C_out, C_in, k_h, k_w), rotated by 180 degrees
    y = F.conv2d(u, w_flipped, bias, stride=1, dilation=d)  # (N, C_out, H_out, W_out)
    assert list(y.shape[2:]) == sizes  # the size formula, by construction
    return y


def conv_as_matrix(
    in_size: int | tuple[int, int],
    weight: Tensor,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> Tensor:
    """The matrix :math:`C` of a single-channel convolution: ``F.conv2d(x, weight, stride, padding)`` flattened is
    :math:`C\\, \\operatorname{vec}(x)`.

    .. math::
        \\operatorname{vec}(x \\star w) = C \\operatorname{vec}(x), \\qquad
        C \\in \\mathbb{R}^{(H_o W_o) \\times (H W)}, \\qquad
        C_{:, j} = \\operatorname{vec}(e_j \\star w)

    (column :math:`j` is the response to the :math:`j`-th one-hot image). Multiplying by :math:`C^\\top` instead is
    the *transposed* convolution: ``F.conv_transpose2d(y, weight, stride=stride, padding=padding)`` equals
    :math:`C^\\top \\operatorname{vec}(y)` when it returns to :math:`H \\times W` (the tests check both, Dumoulin
    and Visin 2016, Section 4.1). Dense, so for small pictures only (at most 4096 input pixels).

    Args:
        in_size: input size :math:`H` (square) or :math:`(H, W)`.
        weight: ``Tensor[k_h, k_w]`` or ``Tensor[1, 1, k_h, k_w]``, one input and one output channel.
        stride, padding: ints or pairs, as for ``F.conv2d``.

    Returns:
        ``Tensor[H_o * W_o, H * W]`` in ``weight``'s dtype and on its device (rows and columns in row-major order).
    """
    if not isinstance(weight, Tensor) or not weight.is_floating_point():
        raise TypeError("weight must be a floating-point Tensor[k_h, k_w] or Tensor[1, 1, k_h, k_w].")
    if weight.ndim == 2:
        weight = weight[None, None]  # (k_h, k_w) -> (1, 1, k_h, k_w)
    if weight.ndim != 4 or weight.shape[:2] != (1, 1):
        raise ValueError(f"weight must be (k_h, k_w) or (1, 1, k_h, k_w), got {tuple(weight.shape)}.")
    h, w = _pair(in_size, "in_size", 1)
    if h * w > 4096:
        raise ValueError(f"in_size {h}x{w} is too large for a dense matrix (at most 4096 pixels).")
    s = _pair(stride, "stride", 1)
    p = _pair(padding, "padding", 0)
    for i in range(2):
        conv_output_size((h, w)[i], weight.shape[2 + i], s[i], p[i])  # checks the kernel fits
    basis = torch.eye(h * w, dtype=weight.dtype, device=weight.device).reshape(h * w, 1, h, w)  # one-hot images
    responses = F.conv2d(basis, weight, stride=s, padding=p)  # (HW, 1, H_o, W_o): column j of C, as an image
    return responses.reshape(h * w, -1).T  # (H_o W_o, H W)


def checkerboard_pattern(
    k: int, s: int, size: int, padding: int = 0, device: torch.device | str | None = None
) -> Tensor:
    """How many input pixels paint each output pixel of a transposed convolution: the checkerboard, counted.

    Run a transposed convolution with an all-ones :math:`k \\times k` kernel, stride :math:`s` and padding :math:`p`
    on an all-ones :math:`n \\times n` image (``n`` = ``size``); output pixel :math:`(u, v)` receives one
    contribution per pair (input pixel, kernel tap) that lands on it:

    .. math::
        \\text{count}(u, v) = c(u)\\, c(v), \\qquad
        c(t) = \\#\\{(i, a) : 0 \\le i < n,\\ 0 \\le a < k,\\ i s + a - p = t\\}.

    Away from the borders :math:`c(t)` is the number of taps :math:`a \\equiv t + p \\pmod s`, which is
    :math:`\\lceil k/s \\rceil` or :math:`\\lfloor k/s \\rfloor`: constant iff :math:`s` divides :math:`k`. When it is
    not constant, neighbouring pixels get different numbers of contributions, the checkerboard of Odena et al.
    (2016). With :math:`k = 3, s = 2` the interior alternates 1, 2 per dimension (counts 1, 2, 4 in 2-D); with
    DCGAN's :math:`k = 4, s = 2` it is 2 everywhere (4 in 2-D).

    Args:
        k: kernel size, at least 1; s: stride, at least 1; size: input size :math:`n`, at least 1; padding: at
            least 0, as for ``ConvTranspose2d``.
        device: where to compute (default CPU).

    Returns:
        ``Tensor[o, o]`` of int64 counts, :math:`o` = ``conv_transpose_output_size(size, k, s, padding)``.
    """
    out_size = conv_transpose_output_size(size, k, s, padding)  # validates the ints
    ones = torch.ones(1, 1, size, size, dtype=torch.float64, device=device)  # float64: exact integer counts
    kernel = torch.ones(1, 1, k, k, dtype=torch.float64, device=device)
    counts = F.conv_transpose2d(ones, kernel, stride=s, padding=padding)[0, 0]  # (o, o)
    assert counts.shape == (out_size, out_size)
    return counts.round().to(torch.int64)


def has_uneven_overlap(k: int, s: int) -> bool:
    """Whether a transposed convolution with kernel ``k`` and stride ``s`` overlaps unevenly (checkerboard-prone):
    :math:`k \\bmod s \\ne 0`. Odena et al. (2016) recommend a kernel divisible by the stride, or resize-convolution.
    """
    return _int(k, "k", 1) % _int(s, "s", 1) != 0
