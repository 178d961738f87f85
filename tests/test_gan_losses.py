"""Tests of course_lib.gan.losses: BCE references, stability, gradients vs closed forms, the registry."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.gan import losses as L


def _logits(n: int, seed: int, dtype=torch.float64, scale: float = 3.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(n, generator=gen, dtype=torch.float64)).to(dtype)


def _bce(logits: torch.Tensor, label: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))


class TestAgainstBCE:
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    @pytest.mark.parametrize("n_real, n_fake", [(1, 1), (7, 7), (5, 9)])
    def test_d_loss(self, dtype, n_real, n_fake):
        real, fake = _logits(n_real, 0, dtype), _logits(n_fake, 1, dtype)
        out = L.d_loss_minimax(real, fake)
        assert out.shape == () and out.dtype == dtype
        torch.testing.assert_close(out, _bce(real, 1.0) + _bce(fake, 0.0))

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_generator_losses(self, dtype):
        fake = _logits(11, 2, dtype)
        torch.testing.assert_close(L.g_loss_non_saturating(fake), _bce(fake, 1.0))
        # log(1 - D) = -BCE(l, label 0)
        torch.testing.assert_close(L.g_loss_saturating(fake), -_bce(fake, 0.0))

    def test_naive_formula_where_it_is_accurate(self):
        # for moderate logits in float64, the textbook sigmoid/log formulas agree
        real, fake = _logits(6, 3, scale=1.0), _logits(4, 4, scale=1.0)
        d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
        naive_d = -torch.log(d_real).mean() - torch.log(1 - d_fake).mean()
        torch.testing.assert_close(L.d_loss_minimax(real, fake), naive_d)
        torch.testing.assert_close(L.g_loss_saturating(fake), torch.log(1 - d_fake).mean())
        torch.testing.assert_close(L.g_loss_non_saturating(fake), -torch.log(d_fake).mean())

    def test_by_hand_at_zero_logits(self):
        # D = 1/2 everywhere: L_D = 2 log 2, L_G^sat = -log 2, L_G^ns = log 2
        z = torch.zeros(4)
        torch.testing.assert_close(L.d_loss_minimax(z, z), torch.tensor(2 * math.log(2.0)))
        torch.testing.assert_close(L.g_loss_saturating(z), torch.tensor(-math.log(2.0)))
        torch.testing.assert_close(L.g_loss_non_saturating(z), torch.tensor(math.log(2.0)))

    def test_column_shape_same_as_flat(self):
        real, fake = _logits(5, 5), _logits(3, 6)
        assert L.d_loss_minimax(real[:, None], fake[:, None]).item() == L.d_loss_minimax(real, fake).item()
        assert L.g_loss_saturating(fake[:, None]).item() == L.g_loss_saturating(fake).item()
        assert L.g_loss_non_saturating(fake[:, None], real).item() == L.g_loss_non_saturating(fake).item()

    def test_real_logits_ignored_by_generator_losses(self):
        fake = _logits(4, 7)
        for g in (L.g_loss_saturating, L.g_loss_non_saturating):
            assert g(fake, _logits(9, 8)).item() == g(fake).item()


class TestStability:
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
    def test_extreme_logits_finite_and_exact(self, dtype):
        big = torch.tensor([100.0, -100.0], dtype=dtype, requires_grad=True)
        # softplus(100) = 100, softplus(-100) ~ 3.7e-44 (0 in low precision)
        d = L.d_loss_minimax(big, big)
        assert torch.isfinite(d)
        torch.testing.assert_close(d.float(), torch.tensor(100.0), rtol=1e-2, atol=0)  # (0 + 100)/2 + (100 + 0)/2
        g_sat = L.g_loss_saturating(big)
        g_ns = L.g_loss_non_saturating(big)
        torch.testing.assert_close(g_sat.float(), torch.tensor(-50.0), rtol=1e-2, atol=0)
        torch.testing.assert_close(g_ns.float(), torch.tensor(50.0), rtol=1e-2, atol=0)
        (d + g_sat + g_ns).backward()
        assert torch.isfinite(big.grad).all()

    def test_naive_formula_fails_where_ours_does_not(self):
        # the reason for logits: sigmoid then log gives inf at l = -100 in float32
        fake = torch.tensor([-100.0])
        assert torch.isinf(-torch.log(torch.sigmoid(fake))).all()
        torch.testing.assert_close(L.g_loss_non_saturating(fake), torch.tensor(100.0))


class TestGradients:
    @pytest.mark.parametrize(
        "kind, loss", [("saturating", L.g_loss_saturating), ("non_saturating", L.g_loss_non_saturating)]
    )
    def test_autograd_matches_closed_form(self, kind, loss):
        fake = _logits(8, 9).requires_grad_(True)
        loss(fake).backward()
        d = torch.sigmoid(fake.detach())
        # the loss is a mean over 8 samples: each logit's gradient is the per-sample one divided by 8
        torch.testing.assert_close(fake.grad, L.generator_gradient_wrt_logit(kind, d) / 8)

    def test_autograd_matches_closed_form_extreme_float32(self):
        fake = torch.tensor([-30.0, -5.0, 0.0, 5.0, 30.0], requires_grad=True)
        L.g_loss_non_saturating(fake).backward()
        grad_ns = fake.grad.clone()
        fake.grad = None
        L.g_loss_saturating(fake).backward()
        d = torch.sigmoid(fake.detach())
        torch.testing.assert_close(grad_ns, L.generator_gradient_wrt_logit("non_saturating", d) / 5)
        torch.testing.assert_close(fake.grad, L.generator_gradient_wrt_logit("minimax", d) / 5)

    def test_closed_form_values(self):
        d = torch.tensor([0.0, 0.01, 0.5, 0.99, 1.0], dtype=torch.float64)
        torch.testing.assert_close(
            L.generator_gradient_wrt_logit("saturating", d),
            torch.tensor([0.0, -0.01, -0.5, -0.99, -1.0], dtype=torch.float64),
        )
        torch.testing.assert_close(
            L.generator_gradient_wrt_logit("non_saturating", d),
            torch.tensor([-1.0, -0.99, -0.5, -0.01, 0.0], dtype=torch.float64),
        )
        # the chapter's point: when D rejects the fakes (D -> 0), the saturating gradient vanishes
        assert L.generator_gradient_wrt_logit("saturating", d)[1].abs() < 0.02
        assert L.generator_gradient_wrt_logit("non_saturating", d)[1].abs() > 0.98

    def test_closed_form_keeps_shape_and_dtype(self):
        d = torch.full((2, 3), 0.25, dtype=torch.float32)
        out = L.generator_gradient_wrt_logit("saturating", d)
        assert out.shape == (2, 3) and out.dtype == torch.float32

    def test_d_loss_gradient(self):
        # dL_D/dl_real = -(1 - D)/N, dL_D/dl_fake = D/M
        real, fake = _logits(3, 10).requires_grad_(True), _logits(5, 11).requires_grad_(True)
        L.d_loss_minimax(real, fake).backward()
        torch.testing.assert_close(real.grad, -(1 - torch.sigmoid(real.detach())) / 3)
        torch.testing.assert_close(fake.grad, torch.sigmoid(fake.detach()) / 5)

    @pytest.mark.parametrize(
        "kind, d, err, match",
        [
            ("wasserstein", torch.tensor([0.5]), ValueError, "kind must be one of"),
            (None, torch.tensor([0.5]), ValueError, "kind must be one of"),
            ("saturating", [0.5], TypeError, "d_values must be a torch.Tensor"),
            ("saturating", torch.tensor([1.5]), ValueError, r"\[0, 1\]"),
            ("non_saturating", torch.tensor([-0.1]), ValueError, r"\[0, 1\]"),
            ("saturating", torch.tensor([float("nan")]), ValueError, "NaN"),
        ],
    )
    def test_closed_form_bad_inputs(self, kind, d, err, match):
        with pytest.raises(err, match=match):
            L.generator_gradient_wrt_logit(kind, d)


class TestShapeChecks:
    @pytest.mark.parametrize(
        "logits, err, match",
        [
            (torch.zeros(0), ValueError, "empty"),
            (torch.zeros(0, 1), ValueError, "empty"),
            (torch.zeros(3, 2), ValueError, r"\(N,\) or \(N, 1\)"),
            (torch.zeros(3, 1, 4, 4), ValueError, "flatten"),
            (torch.tensor(0.0), ValueError, r"\(N,\) or \(N, 1\)"),
            ([0.0, 1.0], TypeError, "torch.Tensor"),
            (torch.zeros(3, dtype=torch.long), TypeError, "floating-point"),
        ],
    )
    def test_bad_logits(self, logits, err, match):
        good = torch.zeros(3)
        with pytest.raises(err, match=match):
            L.d_loss_minimax(logits, good)
        with pytest.raises(err, match=match):
            L.d_loss_minimax(good, logits)
        with pytest.raises(err, match=match):
            L.g_loss_saturating(logits)
        with pytest.raises(err, match=match):
            L.g_loss_non_saturating(logits)
        with pytest.raises(err, match=match):
            L.g_loss_non_saturating(good, logits)  # a given real_logits is validated too

    def test_error_names_the_argument(self):
        with pytest.raises(ValueError, match="fake_logits"):
            L.d_loss_minimax(torch.zeros(3), torch.zeros(0))
        with pytest.raises(ValueError, match="real_logits"):
            L.d_loss_minimax(torch.zeros(3, 2), torch.zeros(3))


class TestRegistry:
    def test_builtin_entries(self):
        names = L.list_gan_losses()
        assert {"minimax", "non_saturating"} <= set(names) and names == sorted(names)
        mm = L.get_gan_loss("minimax")
        assert mm.name == "minimax" and mm.d_loss is L.d_loss_minimax and mm.g_loss is L.g_loss_saturating
        ns = L.get_gan_loss("non_saturating")
        assert ns.d_loss is L.d_loss_minimax and ns.g_loss is L.g_loss_non_saturating

    def test_object_passthrough_and_call_signatures(self):
        ns = L.get_gan_loss("non_saturating")
        assert L.get_gan_loss(ns) is ns
        real, fake = _logits(4, 12), _logits(6, 13)
        assert torch.isfinite(ns.d_loss(real, fake)) and torch.isfinite(ns.g_loss(fake, real))

    def test_register_and_conflicts(self):
        def d(real, fake):
            return L.d_loss_minimax(real, fake)

        def g(fake, real=None):
            return L.g_loss_non_saturating(fake)

        name = "_test_custom_loss"
        try:
            entry = L.register_gan_loss(name, d, g)
            assert isinstance(entry, L.GANLoss) and L.get_gan_loss(name) == entry and name in L.list_gan_losses()
            assert L.register_gan_loss(name, d, g) == entry  # same functions again: allowed
            with pytest.raises(ValueError, match="already registered"):
                L.register_gan_loss(name, d, L.g_loss_saturating)
        finally:
            L._LOSSES.pop(name, None)
        with pytest.raises(ValueError, match="already registered"):
            L.register_gan_loss("minimax", d, g)

    @pytest.mark.parametrize(
        "args, err",
        [
            (("", L.d_loss_minimax, L.g_loss_saturating), TypeError),
            ((3, L.d_loss_minimax, L.g_loss_saturating), TypeError),
            (("x", "not callable", L.g_loss_saturating), TypeError),
            (("x", L.d_loss_minimax, None), TypeError),
        ],
    )
    def test_register_bad_args(self, args, err):
        with pytest.raises(err):
            L.register_gan_loss(*args)
        assert "x" not in L.list_gan_losses()

    def test_get_unknown(self):
        with pytest.raises(ValueError, match="unknown GAN loss 'no_such_loss'.*minimax"):
            L.get_gan_loss("no_such_loss")
        with pytest.raises(TypeError, match="GANLoss"):
            L.get_gan_loss(42)
