"""Tests of course_lib.gan.latent: lerp and slerp against independent constructions (a rotation in the plane of
the two codes), their edge cases, vector arithmetic, the walk frames, and the slider widget's saved state."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_lib.gan import latent as L
from course_lib.gan.dcgan import DCGANGenerator


def _angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    cos = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))
    return torch.arccos(cos.clamp(-1, 1))


def _rotation_reference(z0: np.ndarray, z1: np.ndarray, t: float) -> np.ndarray:
    """Equal-norm endpoints: rotate z0 towards z1 by t * angle inside their plane (Gram-Schmidt basis)."""
    r = np.linalg.norm(z0)
    u = z0 / r
    v = z1 - (z1 @ u) * u
    v /= np.linalg.norm(v)
    omega = math.acos(np.clip(z0 @ z1 / (r * np.linalg.norm(z1)), -1, 1))
    return r * (math.cos(t * omega) * u + math.sin(t * omega) * v)


class TestLerp:
    def test_values_and_shapes(self):
        z0, z1 = torch.tensor([0.0, 2.0]), torch.tensor([4.0, -2.0])
        assert torch.equal(L.lerp(z0, z1, 0.25), torch.tensor([1.0, 1.0]))
        t = torch.tensor([0.0, 0.5, 1.0])
        out = L.lerp(z0, z1, t)
        assert out.shape == (3, 2) and torch.equal(out[0], z0) and torch.equal(out[2], z1)
        batch0, batch1 = torch.randn(4, 5), torch.randn(4, 5)
        assert L.lerp(batch0, batch1, 0.3).shape == (4, 5)
        assert L.lerp(batch0, batch1, t).shape == (3, 4, 5)
        torch.testing.assert_close(L.lerp(batch0, batch1, t)[1], 0.5 * (batch0 + batch1))

    def test_dtype_promotion(self):
        out = L.lerp(torch.zeros(3), torch.ones(3, dtype=torch.float64), torch.tensor(0.5))
        assert out.dtype == torch.float64


class TestSlerp:
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_endpoints(self, dtype):
        gen = torch.Generator().manual_seed(0)
        z0, z1 = torch.randn(100, generator=gen, dtype=dtype), 3 * torch.randn(100, generator=gen, dtype=dtype)
        tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(L.slerp(z0, z1, 0.0), z0, **tol)
        torch.testing.assert_close(L.slerp(z0, z1, 1.0), z1, **tol)
        assert L.slerp(z0, z1, 0.5).dtype == dtype

    def test_against_rotation_in_the_plane(self):
        gen = torch.Generator().manual_seed(1)
        z0 = torch.randn(50, generator=gen, dtype=torch.float64)
        z1 = torch.randn(50, generator=gen, dtype=torch.float64)
        z1 = z1 / z1.norm() * z0.norm()  # equal norms
        for t in (0.0, 0.1, 0.37, 0.5, 0.9, 1.0):
            ref = torch.from_numpy(_rotation_reference(z0.numpy(), z1.numpy(), t))
            torch.testing.assert_close(L.slerp(z0, z1, t), ref, rtol=1e-12, atol=1e-12)

    def test_norm_preserved_and_constant_angular_speed(self):
        gen = torch.Generator().manual_seed(2)
        z0 = torch.randn(8, 64, generator=gen, dtype=torch.float64)
        z1 = torch.randn(8, 64, generator=gen, dtype=torch.float64)
        z1 = z1 / z1.norm(dim=1, keepdim=True) * z0.norm(dim=1, keepdim=True)
        t = torch.linspace(0, 1, 11, dtype=torch.float64)
        path = L.slerp(z0, z1, t)  # (11, 8, 64)
        assert path.shape == (11, 8, 64)
        torch.testing.assert_close(path.norm(dim=-1), z0.norm(dim=-1).expand(11, 8), rtol=1e-12, atol=1e-12)
        omega = _angle(z0, z1)  # (8,)
        torch.testing.assert_close(_angle(path[1:], path[:-1]), (omega / 10).expand(10, 8), rtol=1e-7, atol=1e-9)
        torch.testing.assert_close(_angle(z0.expand(11, 8, 64), path), t[:, None] * omega, rtol=1e-7, atol=1e-7)
        # lerp's midpoint falls inside the sphere: the norm gap slerp avoids
        assert (L.lerp(z0, z1, 0.5).norm(dim=-1) < 0.9 * z0.norm(dim=-1)).all()

    def test_unequal_norms_reference_formula(self):
        z0 = torch.tensor([2.0, 0.0], dtype=torch.float64)
        z1 = torch.tensor([0.0, 1.0], dtype=torch.float64)  # 90 degrees apart
        t = 1 / 3
        expected = math.sin(2 / 3 * math.pi / 2) * z0 + math.sin(1 / 3 * math.pi / 2) * z1  # sin(omega) = 1
        torch.testing.assert_close(L.slerp(z0, z1, t), expected)

    def test_batch_rows_are_independent(self):
        gen = torch.Generator().manual_seed(3)
        z0, z1 = torch.randn(5, 7, generator=gen), torch.randn(5, 7, generator=gen)
        out = L.slerp(z0, z1, torch.tensor([0.2, 0.8]))
        for i in range(5):
            torch.testing.assert_close(out[:, i], L.slerp(z0[i], z1[i], torch.tensor([0.2, 0.8])))

    def test_parallel_opposite_and_zero_fall_back_to_lerp(self):
        z = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
        t = torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64)
        cases = [(z, 2 * z), (z, z.clone()), (z, -z), (z, torch.zeros(3, dtype=torch.float64)),
                 (z, z + torch.tensor([0.0, 0.0, 1e-7], dtype=torch.float64))]
        for a, b in cases:
            out = L.slerp(a, b, t)
            assert torch.isfinite(out).all()
            torch.testing.assert_close(out, L.lerp(a, b, t), rtol=1e-12, atol=1e-12)

    def test_small_angle_just_above_threshold_is_finite_and_close_to_lerp(self):
        z0 = torch.tensor([1.0, 0.0], dtype=torch.float64)
        angle = 10 * L.PARALLEL_ANGLE
        z1 = torch.tensor([math.cos(angle), math.sin(angle)], dtype=torch.float64)
        out = L.slerp(z0, z1, 0.5)
        torch.testing.assert_close(out, torch.tensor([math.cos(angle / 2), math.sin(angle / 2)], dtype=torch.float64))
        torch.testing.assert_close(out, L.lerp(z0, z1, 0.5), rtol=0, atol=angle**2)

    def test_gradient_finite_at_fallback(self):
        z0 = torch.tensor([1.0, 1.0], requires_grad=True)
        z1 = torch.tensor([2.0, 2.0], requires_grad=True)
        L.slerp(z0, z1, 0.5).sum().backward()
        assert torch.isfinite(z0.grad).all() and torch.isfinite(z1.grad).all()
        torch.testing.assert_close(z0.grad, torch.full((2,), 0.5))


class TestBadInputs:
    @pytest.mark.parametrize("fn", [L.lerp, L.slerp])
    @pytest.mark.parametrize(
        "z0, z1, t, err, match",
        [
            (torch.zeros(3), torch.zeros(4), 0.5, ValueError, "same shape"),
            (torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), 0.5, ValueError, "\\(D,\\) or \\(N, D\\)"),
            (torch.zeros(3, dtype=torch.int64), torch.zeros(3), 0.5, TypeError, "floating-point"),
            ([0.0], torch.zeros(1), 0.5, TypeError, "z0 must be a torch.Tensor"),
            (torch.zeros(3), torch.tensor([0.0, float("nan"), 0.0]), 0.5, ValueError, "NaN"),
            (torch.zeros(3), torch.ones(3), 1.5, ValueError, "t must lie in \\[0, 1\\]"),
            (torch.zeros(3), torch.ones(3), torch.tensor([0.0, -0.1]), ValueError, "got -0.1"),
            (torch.zeros(3), torch.ones(3), torch.zeros(2, 2), ValueError, "1-D tensor of steps"),
            (torch.zeros(3), torch.ones(3), "0.5", TypeError, "t must be a number"),
            (torch.zeros(3), torch.ones(3), float("inf"), ValueError, "finite"),
        ],
    )
    def test_bad(self, fn, z0, z1, t, err, match):
        with pytest.raises(err, match=match):
            fn(z0, z1, t)


class TestPathAndArithmetic:
    def test_interpolation_path(self):
        gen = torch.Generator().manual_seed(4)
        z0, z1 = torch.randn(6, generator=gen), torch.randn(6, generator=gen)
        path = L.interpolation_path(z0, z1, 5)
        assert path.shape == (5, 6)
        torch.testing.assert_close(path[0], z0)
        torch.testing.assert_close(path[-1], z1)
        torch.testing.assert_close(path, L.slerp(z0, z1, torch.linspace(0, 1, 5)))
        torch.testing.assert_close(L.interpolation_path(z0, z1, 3, "lerp")[1], 0.5 * (z0 + z1))
        assert L.interpolation_path(torch.randn(2, 6), torch.randn(2, 6), 4).shape == (4, 2, 6)
        with pytest.raises(ValueError, match="steps"):
            L.interpolation_path(z0, z1, 1)
        with pytest.raises(ValueError, match="method"):
            L.interpolation_path(z0, z1, 3, "cubic")

    def test_vector_arithmetic(self):
        gen = torch.Generator().manual_seed(5)
        a, b = torch.randn(3, 10, generator=gen), torch.randn(3, 10, generator=gen)
        c = torch.randn(2, 10, generator=gen)
        expected = a.mean(0) - b.mean(0) + c.mean(0)
        torch.testing.assert_close(L.vector_arithmetic(a, b, c), expected)
        torch.testing.assert_close(L.vector_arithmetic(a[0], b[0], c[0]), a[0] - b[0] + c[0])
        with pytest.raises(ValueError, match="same code dimension"):
            L.vector_arithmetic(a, b, torch.randn(3, 9))
        with pytest.raises(ValueError, match="K, D >= 1"):
            L.vector_arithmetic(a, torch.zeros(0, 10), c)
        with pytest.raises(TypeError, match="floating-point"):
            L.vector_arithmetic(a, b, [0.0] * 10)


@pytest.fixture
def tiny_g() -> DCGANGenerator:
    torch.manual_seed(0)
    return DCGANGenerator(z_dim=4, image_size=28, channels=1, base=2)


class TestWalk:
    def test_frames(self, tiny_g):
        z0, z1 = torch.randn(2, 4), torch.randn(2, 4)
        tiny_g.train()
        frames = L.latent_walk_frames(tiny_g, z0, z1, steps=3, batch_size=4)
        assert frames.shape == (3, 2, 1, 28, 28)
        assert tiny_g.training  # mode restored
        tiny_g.eval()
        with torch.no_grad():
            torch.testing.assert_close(frames[1], tiny_g(L.slerp(z0, z1, 0.5)))
            torch.testing.assert_close(frames[0], tiny_g(z0))
        single = L.latent_walk_frames(tiny_g, z0[0], z1[0], steps=2, method="lerp")
        assert single.shape == (2, 1, 1, 28, 28)

    def test_widget_and_its_saved_state(self, tiny_g):
        widgets = pytest.importorskip("ipywidgets")
        from ipywidgets.embed import embed_data

        box = L.latent_walk_widget(tiny_g, torch.randn(3, 4), torch.randn(3, 4), steps=4)
        slider, stack = box.children
        assert isinstance(slider, widgets.IntSlider) and (slider.min, slider.max, slider.value) == (0, 3, 0)
        # its values are frame numbers, and it says so (issue 18: a label "t" over 0..3 was a lie)
        assert slider.description == "frame" and slider.tooltip == "frame j of the walk shows t = j / 3"
        assert isinstance(stack, widgets.Stack) and len(stack.children) == 4 and stack.selected_index == 0
        assert all(isinstance(im, widgets.Image) and im.value[:8] == b"\x89PNG\r\n\x1a\n" for im in stack.children)
        assert len({im.value for im in stack.children}) == 4  # four different frames
        link = box.walk_link
        assert link.source == (slider, "value") and link.target == (stack, "selected_index")
        # the state a notebook saves (and the static book embeds) holds the frames and the browser-side link
        state = embed_data(views=[box])["manager_state"]["state"]
        models = {entry["model_name"] for entry in state.values()}
        assert {"StackModel", "ImageModel", "IntSliderModel", "LinkModel"} <= models

    def test_widget_bad_inputs(self, tiny_g):
        pytest.importorskip("ipywidgets")
        with pytest.raises(ValueError, match="width"):
            L.latent_walk_widget(tiny_g, torch.randn(4), torch.randn(4), width=0)
        with pytest.raises(ValueError, match="steps"):
            L.latent_walk_widget(tiny_g, torch.randn(4), torch.randn(4), steps=1)
        with pytest.raises(TypeError, match="G must be"):
            L.latent_walk_frames("G", torch.randn(4), torch.randn(4))
