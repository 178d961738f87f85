"""Chapter 12's answers for the wrong-answer suite (see ``tests/exercise_suite.py``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from exercise_suite import correct, wrong


# ----------------------------------------------------------------------------------------------------------------------
# 12.1 pixel shuffle
# ----------------------------------------------------------------------------------------------------------------------
def ps_view_permute(x, upscale):
    b, c, h, w = x.shape
    r = upscale
    return x.view(b, c // (r * r), r, r, h, w).permute(0, 1, 4, 2, 5, 3).contiguous().view(b, -1, h * r, w * r)


def ps_loop(x, upscale):
    """The definition, entry by entry over the sub-pixel offsets."""
    b, cr2, h, w = x.shape
    r = upscale
    c = cr2 // (r * r)
    out = x.new_zeros(b, c, h * r, w * r)
    for i in range(r):
        for j in range(r):
            out[:, :, i::r, j::r] = x[:, [ch * r * r + i * r + j for ch in range(c)]]
    return out


def ps_torch(x, upscale):
    return F.pixel_shuffle(x, upscale)


def ps_channels_last_order(x, upscale):
    """Reads the channels as (i, j, c) instead of (c, i, j)."""
    b, cr2, h, w = x.shape
    r = upscale
    return x.reshape(b, r, r, cr2 // (r * r), h, w).permute(0, 3, 4, 1, 5, 2).reshape(b, -1, h * r, w * r)


def ps_i_j_swapped(x, upscale):
    b, cr2, h, w = x.shape
    r = upscale
    return x.reshape(b, cr2 // (r * r), r, r, h, w).permute(0, 1, 4, 3, 5, 2).reshape(b, -1, h * r, w * r)


def ps_no_permute(x, upscale):
    b, cr2, h, w = x.shape
    r = upscale
    return x.reshape(b, cr2 // (r * r), h * r, w * r)


def ps_blocks_not_interleaved(x, upscale):
    """Puts the r x r sub-images side by side instead of interleaving them."""
    b, cr2, h, w = x.shape
    r = upscale
    return x.reshape(b, cr2 // (r * r), r, r, h, w).permute(0, 1, 2, 4, 3, 5).reshape(b, -1, h * r, w * r)


# ----------------------------------------------------------------------------------------------------------------------
# 12.2 PSNR
# ----------------------------------------------------------------------------------------------------------------------
def psnr_log_form(x, y, data_range=1.0):
    mse = ((x - y) ** 2).mean(dim=(1, 2, 3))
    return 20 * math.log10(data_range) - 10 * torch.log10(mse)


def psnr_float64(x, y, data_range=1.0):
    d = (x.double() - y.double()).flatten(1)
    return 10 * torch.log10(data_range**2 / (d * d).mean(1))


def psnr_rmse(x, y, data_range=1.0):
    rmse = torch.sqrt(F.mse_loss(x, y, reduction="none").flatten(1).mean(1))
    return 20 * torch.log10(data_range / rmse)


def psnr_batch_mean_first(x, y, data_range=1.0):
    mse = ((x - y) ** 2).mean()  # one MSE for the whole batch, before the log
    return (10 * torch.log10(data_range**2 / mse)).expand(x.shape[0])


def psnr_scalar(x, y, data_range=1.0):
    return 10 * torch.log10(data_range**2 / ((x - y) ** 2).flatten(1).mean(1)).mean()


def psnr_ignores_range(x, y, data_range=1.0):
    return 10 * torch.log10(1.0 / ((x - y) ** 2).flatten(1).mean(1))


def psnr_range_not_squared(x, y, data_range=1.0):
    return 10 * torch.log10(data_range / ((x - y) ** 2).flatten(1).mean(1))


def psnr_20_log_mse(x, y, data_range=1.0):
    return 20 * torch.log10(data_range / ((x - y) ** 2).flatten(1).mean(1))


def psnr_eps(x, y, data_range=1.0):
    return 10 * torch.log10(data_range**2 / (((x - y) ** 2).flatten(1).mean(1) + 1e-10))


def psnr_per_channel(x, y, data_range=1.0):
    return 10 * torch.log10(data_range**2 / ((x - y) ** 2).mean(dim=(2, 3)))


# ----------------------------------------------------------------------------------------------------------------------
# 12.3 CAM heat map
# ----------------------------------------------------------------------------------------------------------------------
def _divide_by_max(m):
    peak = m.amax(dim=(1, 2), keepdim=True)
    return torch.where(peak > 0, m / peak.clamp_min(1e-30), torch.zeros_like(m))


def cam_loop(features, fc_weight, class_idx, size):
    maps = []
    for b in range(features.shape[0]):
        m = torch.zeros(features.shape[2:], dtype=features.dtype)
        for k in range(features.shape[1]):
            m = m + fc_weight[class_idx[b], k] * features[b, k]
        m = m.clamp(min=0)
        if m.max() > 0:
            m = m / m.max()
        maps.append(F.interpolate(m[None, None], size=size, mode="bilinear", align_corners=False)[0, 0])
    return torch.stack(maps)


def cam_upsample_first(features, fc_weight, class_idx, size):
    """Upsample the raw map, then ReLU and the maximum (an order the statement allows)."""
    w = fc_weight[class_idx]
    raw = (w[:, :, None, None] * features).sum(1, keepdim=True)
    up = F.interpolate(raw, size=size, mode="bilinear", align_corners=False)[:, 0]
    return _divide_by_max(F.relu(up))


def cam_eps(features, fc_weight, class_idx, size):
    cam = F.relu(torch.einsum("ck,bkhw->bchw", fc_weight, features)[torch.arange(len(class_idx)), class_idx])
    cam = cam / (cam.flatten(1).max(1).values[:, None, None] + 1e-12)
    return F.interpolate(cam[:, None], size=size, mode="bilinear")[:, 0]


def cam_predicted_class(features, fc_weight, class_idx, size):
    pred = (features.mean(dim=(2, 3)) @ fc_weight.T).argmax(1)
    return cam_loop(features, fc_weight, pred, size)


def cam_first_class_for_all(features, fc_weight, class_idx, size):
    return cam_loop(features, fc_weight, class_idx[:1].expand(features.shape[0]), size)


def cam_column_not_row(features, fc_weight, class_idx, size):
    w = fc_weight.T[class_idx % fc_weight.shape[1]] if fc_weight.shape[0] >= fc_weight.shape[1] else fc_weight[:, 0]
    w = w if w.dim() == 2 else w.expand(features.shape[0], -1)
    m = torch.einsum("bk,bkhw->bhw", w[:, : features.shape[1]], features)
    return F.interpolate(_divide_by_max(F.relu(m))[:, None], size=size, mode="bilinear")[:, 0]


def cam_no_relu(features, fc_weight, class_idx, size):
    m = torch.einsum("bk,bkhw->bhw", fc_weight[class_idx], features)
    m = m / m.abs().amax(dim=(1, 2), keepdim=True)
    return F.interpolate(m[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def cam_no_normalisation(features, fc_weight, class_idx, size):
    m = F.relu(torch.einsum("bk,bkhw->bhw", fc_weight[class_idx], features))
    return F.interpolate(m[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def cam_size_swapped(features, fc_weight, class_idx, size):
    return cam_loop(features, fc_weight, class_idx, (size[1], size[0]))


def cam_integer_scale_factor(features, fc_weight, class_idx, size):
    m = _divide_by_max(F.relu(torch.einsum("bk,bkhw->bhw", fc_weight[class_idx], features)))
    s = (size[0] // features.shape[2], size[1] // features.shape[3])
    return F.interpolate(m[:, None], scale_factor=s, mode="bilinear", align_corners=False)[:, 0]


def cam_align_corners(features, fc_weight, class_idx, size):
    m = _divide_by_max(F.relu(torch.einsum("bk,bkhw->bhw", fc_weight[class_idx], features)))
    return F.interpolate(m[:, None], size=size, mode="bilinear", align_corners=True)[:, 0]


def cam_no_zero_guard(features, fc_weight, class_idx, size):
    m = F.relu(torch.einsum("bk,bkhw->bhw", fc_weight[class_idx], features))
    m = m / m.amax(dim=(1, 2), keepdim=True)
    return F.interpolate(m[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


ANSWERS = {
    "12.1": [
        correct("view + permute + view", ps_view_permute),
        correct("loop over the sub-pixel offsets", ps_loop),
        correct("torch's F.pixel_shuffle", ps_torch),
        wrong("channels read as (i, j, c)", ps_channels_last_order),
        wrong("sub-pixel row and column offsets swapped", ps_i_j_swapped),
        wrong("a reshape without the permutation", ps_no_permute),
        wrong("sub-images side by side, not interleaved", ps_blocks_not_interleaved),
    ],
    "12.2": [
        correct("20 log10 R - 10 log10 MSE", psnr_log_form),
        correct("in float64", psnr_float64),
        correct("20 log10(R / RMSE)", psnr_rmse),
        wrong("MSE averaged over the batch before the log", psnr_batch_mean_first),
        wrong("the batch mean of the PSNRs (a scalar)", psnr_scalar),
        wrong("data_range ignored", psnr_ignores_range),
        wrong("R instead of R^2", psnr_range_not_squared),
        wrong("20 log10(R / MSE)", psnr_20_log_mse),
        wrong("an epsilon under the MSE (equal images not +inf)", psnr_eps, max_fraction=0.9),
        wrong("one PSNR per channel", psnr_per_channel),
    ],
    "12.3": [
        correct("loop over channels and samples", cam_loop),
        correct("upsample first, then ReLU and maximum", cam_upsample_first),
        correct("einsum over all classes, epsilon in the division", cam_eps),
        wrong("the predicted class instead of class_idx", cam_predicted_class),
        wrong("the first sample's class for all", cam_first_class_for_all),
        wrong("a column of the weight instead of a row", cam_column_not_row),
        wrong("no ReLU (divided by the largest magnitude)", cam_no_relu),
        wrong("no normalisation", cam_no_normalisation),
        wrong("size read as (W, H)", cam_size_swapped),
        wrong("an integer scale factor instead of the size", cam_integer_scale_factor),
        wrong("align_corners=True", cam_align_corners),
        wrong("no guard for a map without positive values", cam_no_zero_guard),
    ],
}
