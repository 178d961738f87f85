"""Chapter 4's answers for the wrong-answer suite (see ``tests/exercise_suite.py``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from exercise_suite import correct, wrong


# ----------------------------------------------------------------------------------------------------------------------
# 4.1 the output size of ConvTranspose2d
# ----------------------------------------------------------------------------------------------------------------------
def size_formula(n, k, s, p, op):
    return (n - 1) * s - 2 * p + k + op


def size_by_zero_stuffing(n, k, s, p, op):
    """Zeros between the n inputs (n + (n-1)(s-1) samples), padded by k - 1 - p each side, valid conv of size k."""
    stuffed = n + (n - 1) * (s - 1)
    return int(stuffed + 2 * (k - 1 - p) - k + 1 + op)


def size_no_output_padding(n, k, s, p, op):
    return (n - 1) * s - 2 * p + k


def size_conv_formula(n, k, s, p, op):
    return (n + 2 * p - k) // s + 1


def size_no_padding(n, k, s, p, op):
    return (n - 1) * s + k + op


def size_ns(n, k, s, p, op):
    return n * s - 2 * p + op


# ----------------------------------------------------------------------------------------------------------------------
# 4.2 the fractionally-strided convolution
# ----------------------------------------------------------------------------------------------------------------------
def frac_zero_stuffing(x, weight, stride, padding):
    n, c, h, w = x.shape
    kh, kw = weight.shape[-2:]
    up = x.new_zeros(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
    up[:, :, ::stride, ::stride] = x
    ph, pw = kh - 1 - padding, kw - 1 - padding
    up = F.pad(up, (max(pw, 0), max(pw, 0), max(ph, 0), max(ph, 0)))
    if ph < 0:
        up = up[:, :, -ph:up.shape[2] + ph, :]
    if pw < 0:
        up = up[:, :, :, -pw:up.shape[3] + pw]
    kernel = weight.flip(-1, -2).transpose(0, 1)  # (C_out, C_in, kh, kw)
    return F.conv2d(up, kernel)


def frac_scatter(x, weight, stride, padding):
    """The definition: each input pixel adds its weighted copy of the kernel into the output, then crop."""
    n, c_in, h, w = x.shape
    _, c_out, kh, kw = weight.shape
    full = x.new_zeros(n, c_out, (h - 1) * stride + kh, (w - 1) * stride + kw)
    contrib = torch.einsum("nchw,cokl->nohwkl", x, weight)
    for i in range(h):
        for j in range(w):
            full[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += contrib[:, :, i, j]
    return full[:, :, padding:full.shape[2] - padding, padding:full.shape[3] - padding]


def frac_square_kernel_only(x, weight, stride, padding):
    """Reads one kernel size (the width) for both axes: the padding k - 1 - p is right only for square kernels."""
    n, c, h, w = x.shape
    k = weight.shape[-1]
    up = x.new_zeros(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
    up[:, :, ::stride, ::stride] = x
    pad = k - 1 - padding
    up = F.pad(up, (pad,) * 4) if pad >= 0 else up[:, :, -pad:up.shape[2] + pad, -pad:up.shape[3] + pad]
    return F.conv2d(up, weight.flip(-1, -2).transpose(0, 1))


def frac_no_flip(x, weight, stride, padding):
    n, c, h, w = x.shape
    kh, kw = weight.shape[-2:]
    up = x.new_zeros(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
    up[:, :, ::stride, ::stride] = x
    ph, pw = kh - 1 - padding, kw - 1 - padding
    up = F.pad(up, (pw, pw, ph, ph)) if min(ph, pw) >= 0 else up[:, :, -ph:up.shape[2] + ph, -pw:up.shape[3] + pw]
    return F.conv2d(up, weight.transpose(0, 1))


def frac_padding_p(x, weight, stride, padding):
    """Pads by p instead of k - 1 - p."""
    n, c, h, w = x.shape
    up = x.new_zeros(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
    up[:, :, ::stride, ::stride] = x
    return F.conv2d(F.pad(up, (padding,) * 4), weight.flip(-1, -2).transpose(0, 1))


def frac_stride_after(x, weight, stride, padding):
    """Zeros inserted after every pixel, the last one included (one row and column too many)."""
    n, c, h, w = x.shape
    kh, kw = weight.shape[-2:]
    up = x.new_zeros(n, c, h * stride, w * stride)
    up[:, :, ::stride, ::stride] = x
    ph, pw = kh - 1 - padding, kw - 1 - padding
    up = F.pad(up, (pw, pw, ph, ph)) if min(ph, pw) >= 0 else up[:, :, -ph:up.shape[2] + ph, -pw:up.shape[3] + pw]
    return F.conv2d(up, weight.flip(-1, -2).transpose(0, 1))


def frac_via_torch_convolution(x, weight, stride, padding):
    return torch.convolution(x, weight, None, [stride] * 2, [padding] * 2, [1, 1], True, [0, 0], 1)


def frac_via_conv2d_input(x, weight, stride, padding):
    n, _, h, w = x.shape
    kh, kw = weight.shape[-2:]
    size = (n, weight.shape[1], (h - 1) * stride - 2 * padding + kh, (w - 1) * stride - 2 * padding + kw)
    return torch.nn.grad.conv2d_input(size, weight, x, stride=stride, padding=padding)


def frac_via_module(x, weight, stride, padding):
    layer = torch.nn.ConvTranspose2d(weight.shape[0], weight.shape[1], tuple(weight.shape[-2:]), stride, padding,
                                     bias=False).to(x.dtype)
    with torch.no_grad():
        layer.weight.copy_(weight)
        return layer(x)


# ----------------------------------------------------------------------------------------------------------------------
# 4.3 slerp
# ----------------------------------------------------------------------------------------------------------------------
def slerp_acos(z0, z1, t):
    dot = (z0 * z1).sum(-1, keepdim=True)
    norms = z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True)
    omega = torch.acos((dot / norms).clamp(-1, 1))
    so = torch.sin(omega)
    safe = so.abs() > 1e-6
    a = torch.where(safe, torch.sin((1 - t) * omega) / torch.where(safe, so, torch.ones_like(so)), 1 - t)
    b = torch.where(safe, torch.sin(t * omega) / torch.where(safe, so, torch.ones_like(so)), torch.full_like(so, t))
    return a * z0 + b * z1


def slerp_atan2(z0, z1, t):
    """The angle from atan2(|z0 x z1|, z0 . z1) (well conditioned near 0), in float64 then cast back."""
    a0, a1 = z0.double(), z1.double()
    dot = (a0 * a1).sum(-1, keepdim=True)
    n0, n1 = a0.norm(dim=-1, keepdim=True), a1.norm(dim=-1, keepdim=True)
    cross = (n0 ** 2 * n1 ** 2 - dot ** 2).clamp_min(0).sqrt()
    omega = torch.atan2(cross, dot)
    out = torch.where(omega > 1e-9, (torch.sin((1 - t) * omega) * a0 + torch.sin(t * omega) * a1)
                      / torch.sin(omega).clamp_min(1e-300), (1 - t) * a0 + t * a1)
    return out.to(z0.dtype)


def lerp(z0, z1, t):
    return (1 - t) * z0 + t * z1


def slerp_unguarded(z0, z1, t):
    dot = (z0 * z1).sum(-1, keepdim=True)
    omega = torch.acos((dot / (z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True))).clamp(-1, 1))
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def slerp_unit_codes(z0, z1, t):
    """Interpolates the directions only (normalises the codes first)."""
    return slerp_acos(z0 / z0.norm(dim=-1, keepdim=True), z1 / z1.norm(dim=-1, keepdim=True), t)


def slerp_one_angle(z0, z1, t):
    """One angle for the whole batch (the tensors flattened)."""
    a, b = z0.reshape(-1), z1.reshape(-1)
    return slerp_acos(a, b, t).reshape(z0.shape)


ANSWERS = {
    "4.1": [
        correct("the formula", size_formula),
        correct("counting the zero-stuffed input", size_by_zero_stuffing),
        wrong("output_padding forgotten", size_no_output_padding),
        wrong("the convolution's formula", size_conv_formula),
        wrong("padding forgotten", size_no_padding),
        wrong("n * s - 2p + output_padding", size_ns),
    ],
    "4.2": [
        correct("zero stuffing, padding k - 1 - p, flipped kernel", frac_zero_stuffing),
        correct("the scatter definition", frac_scatter),
        wrong("a square kernel assumed", frac_square_kernel_only),
        wrong("the kernel not flipped", frac_no_flip),
        wrong("padding p instead of k - 1 - p", frac_padding_p),
        wrong("a zero after the last pixel too", frac_stride_after),
        wrong("torch.convolution(..., transposed=True)", frac_via_torch_convolution, max_fraction=0.0),
        wrong("torch.nn.grad.conv2d_input", frac_via_conv2d_input, max_fraction=0.0),
        wrong("nn.ConvTranspose2d", frac_via_module, max_fraction=0.0),
    ],
    "4.3": [
        correct("acos and a guard", slerp_acos),
        correct("atan2 in float64", slerp_atan2),
        wrong("the straight line (lerp)", lerp),
        wrong("no guard for parallel codes (0/0)", slerp_unguarded),
        wrong("the codes normalised first", slerp_unit_codes),
        wrong("one angle for the whole batch", slerp_one_angle),
    ],
}
