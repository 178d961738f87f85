"""StyleGAN and StyleGAN2 (course_lib.gan.stylegan): AdaIN, truncation, the modulated/demodulated convolution against
a per-sample loop, style mixing, the mapping network, w_avg, noise injection and the two generators."""

from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F

from course_lib.gan import stylegan
from course_lib.gan.stylegan import (
    MappingNetwork,
    NoiseInjection,
    StyleGAN2Generator,
    StyleGANGenerator,
    adain,
    modulated_conv2d,
    style_mix,
    truncate,
)


# --- AdaIN -----------------------------------------------------------------------------------------------------
def test_adain_sets_each_feature_maps_mean_and_std():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 5, 6, generator=g, dtype=torch.float64) * 3 + 1
    scale = torch.rand(3, 4, generator=g, dtype=torch.float64) + 0.5
    bias = torch.randn(3, 4, generator=g, dtype=torch.float64)
    out = adain(x, scale, bias)
    torch.testing.assert_close(out.mean(dim=(2, 3)), bias, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(out.std(dim=(2, 3), correction=0), scale, rtol=1e-6, atol=1e-8)
    # written out for one feature map
    fm = x[1, 2]
    expected = scale[1, 2] * (fm - fm.mean()) / torch.sqrt(fm.var(correction=0) + 1e-8) + bias[1, 2]
    torch.testing.assert_close(out[1, 2], expected, rtol=1e-12, atol=1e-12)


def test_adain_constant_feature_map_gives_the_bias_and_errors():
    x = torch.randn(2, 3, 4, 4)
    x[0, 1] = 5.0
    bias = torch.randn(2, 3)
    out = adain(x, torch.ones(2, 3), bias)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[0, 1], torch.full((4, 4), float(bias[0, 1])))
    with pytest.raises(ValueError):
        adain(x, torch.ones(3), bias)
    with pytest.raises(ValueError):
        adain(x[0], torch.ones(2, 3), bias)
    with pytest.raises(TypeError):
        adain(x.long(), torch.ones(2, 3), bias)


# --- truncation ------------------------------------------------------------------------------------------------
def test_truncate():
    w = torch.randn(5, 2, 8)
    w_avg = torch.randn(8)
    assert torch.equal(truncate(w, w_avg, 1.0), w_avg + 1.0 * (w - w_avg))
    torch.testing.assert_close(truncate(w, w_avg, 0.0), w_avg.expand_as(w))
    torch.testing.assert_close(truncate(w, w_avg, 0.7), 0.3 * w_avg + 0.7 * w)
    torch.testing.assert_close(truncate(w, w_avg, -1.0), 2 * w_avg - w)
    with pytest.raises(ValueError):
        truncate(w, torch.zeros(7), 0.5)
    with pytest.raises(TypeError):
        truncate(w, w_avg, "0.5")


# --- modulated convolution -------------------------------------------------------------------------------------
def _modconv_loop(x, weight, styles, demodulate, padding):
    outs = []
    for n in range(x.shape[0]):
        wn = weight * styles[n].view(1, -1, 1, 1)  # scale the input channels
        if demodulate:
            wn = wn / torch.sqrt((wn**2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        outs.append(F.conv2d(x[n : n + 1], wn, padding=padding))
    return torch.cat(outs)


@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("padding,k", [(0, 3), (1, 3), (0, 1)])
def test_modulated_conv2d_matches_a_per_sample_loop(demodulate, padding, k):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, 6, 6, generator=g, dtype=torch.float64)
    weight = torch.randn(5, 3, k, k, generator=g, dtype=torch.float64)
    styles = torch.randn(4, 3, generator=g, dtype=torch.float64)
    out = modulated_conv2d(x, weight, styles, demodulate=demodulate, padding=padding)
    torch.testing.assert_close(out, _modconv_loop(x, weight, styles, demodulate, padding), rtol=1e-12, atol=1e-12)


def test_modulation_scales_the_input_channels_and_demodulation_fixes_the_output_scale():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 4, 5, 5, generator=g)
    weight = torch.randn(6, 4, 3, 3, generator=g)
    styles = torch.rand(2, 4, generator=g) + 0.5
    ref = F.conv2d(x * styles[:, :, None, None], weight)  # modulating the weights = scaling the input
    torch.testing.assert_close(modulated_conv2d(x, weight, styles, demodulate=False), ref, rtol=1e-5, atol=1e-5)
    # demodulated: multiplying a sample's style by a constant changes nothing (up to the epsilon)
    a = modulated_conv2d(x, weight, styles)
    b = modulated_conv2d(x, weight, styles * torch.tensor([[10.0], [0.1]]))
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # unit-variance i.i.d. inputs give unit-variance outputs, whatever the style's magnitude
    big = torch.randn(4, 16, 24, 24, generator=g)
    out = modulated_conv2d(big, torch.randn(8, 16, 3, 3, generator=g), torch.rand(4, 16, generator=g) * 50)
    assert out.std().item() == pytest.approx(1.0, rel=0.05)


def test_modulated_conv2d_gradients_and_errors():
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    weight = torch.randn(2, 3, 3, 3, requires_grad=True)
    styles = torch.randn(2, 3, requires_grad=True)
    modulated_conv2d(x, weight, styles, padding=1).square().sum().backward()
    assert all(t.grad is not None and torch.isfinite(t.grad).all() for t in (x, weight, styles))
    with pytest.raises(ValueError):
        modulated_conv2d(x, weight, torch.randn(3, 3))
    with pytest.raises(ValueError):
        modulated_conv2d(x, torch.randn(2, 4, 3, 3), styles)
    with pytest.raises(ValueError):
        modulated_conv2d(x, weight, styles, padding=-1)
    with pytest.raises(TypeError):
        modulated_conv2d(x, weight, styles, demodulate=1)


# --- mixing, mapping, w_avg, noise -----------------------------------------------------------------------------
def test_style_mix_takes_layers_before_the_crossover_from_the_first_latent():
    w1, w2 = torch.randn(3, 6, 4), torch.randn(3, 4)
    mixed = style_mix(w1, w2, 2)
    assert torch.equal(mixed[:, :2], w1[:, :2])
    assert torch.equal(mixed[:, 2:], w2.unsqueeze(1).expand(-1, 4, -1))
    assert torch.equal(style_mix(w1, w2, 6), w1)
    with pytest.raises(ValueError):
        style_mix(w1, w2, 7)
    with pytest.raises(ValueError):
        style_mix(torch.randn(3, 4), w2, 1)


def test_mapping_network_has_eight_equalized_layers_with_the_lr_multiplier():
    f = MappingNetwork(16, 32)
    assert f.n_layers == 8 and len(f.layers) == 8
    assert all(layer.lr_mul == 0.01 for layer in f.layers)
    assert f(torch.randn(5, 16)).shape == (5, 32)
    # the same z up to a scale gives the same w (pixel norm of z first)
    z = torch.randn(2, 16)
    torch.testing.assert_close(f(z), f(3 * z), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", [StyleGANGenerator, StyleGAN2Generator])
def test_generators_track_w_avg_mix_and_truncate(cls):
    torch.manual_seed(0)
    G = cls(8, 8, 1, 16, widths=4, mapping_layers=2, mixing_prob=0.0)
    assert G.num_ws == 6 and G.const.shape == (1, 4, 4, 4)
    z = torch.randn(5, 8)
    G.train()
    G(z)
    torch.testing.assert_close(G.w_avg, (1 - stylegan.W_AVG_BETA) * G.mapping(z).mean(0).detach())
    G.eval()
    before = G.w_avg.clone()
    out1, out2 = G(z), G(z)
    assert torch.equal(out1, out2) and torch.equal(G.w_avg, before)  # eval: const noise, no update
    # mixing all layers from the source reproduces the source; none reproduces the destination
    z2 = torch.randn(5, 8)
    torch.testing.assert_close(G.mix(z, z2, range(G.num_ws)), G.generate(z2))
    torch.testing.assert_close(G.mix(z, z2, []), G.generate(z))
    # psi = 0: every sample is the image of w_avg
    flat = G.generate(z, psi=0.0)
    torch.testing.assert_close(flat, flat[:1].expand_as(flat))
    ranges = G.layer_ranges()
    assert list(ranges["coarse"]) == [0, 1, 2, 3] and list(ranges["fine"]) == [4, 5]


def test_noise_injection_starts_at_zero_and_then_varies_the_images():
    torch.manual_seed(0)
    G = StyleGANGenerator(8, 8, 1, 8, widths=4, mapping_layers=2, mixing_prob=0.0)
    z = torch.randn(3, 8)
    G.noise_mode = "random"
    torch.testing.assert_close(G.generate(z), G.generate(z))  # scales start at 0: noise has no effect
    with torch.no_grad():
        for layer in G.noise:
            layer.weight.fill_(0.5)
    assert not torch.allclose(G.generate(z), G.generate(z))
    G.noise_mode = "const"
    assert torch.equal(G.generate(z), G.generate(z))
    layer = NoiseInjection(3)
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(layer(x, None), x)


def test_stylegan2_demodulation_switch_changes_the_generator():
    torch.manual_seed(0)
    G = StyleGAN2Generator(8, 8, 1, 8, widths=4, mapping_layers=2, mixing_prob=0.0).eval()
    z = torch.randn(2, 8)
    with_demod = G.generate(z)
    G.demodulate = False
    assert with_demod.shape == G.generate(z).shape == (2, 1, 8, 8)
    assert not torch.allclose(with_demod, G.generate(z))
    assert bool(torch.isfinite(with_demod).all())
