"""Tests of course_lib.viz: what is drawn (data, styles, titles, labels) and the arrays behind it, against
torchvision's make_grid and closed forms."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.text import Annotation  # noqa: E402
from torch import nn  # noqa: E402

from course_lib.viz import (  # noqa: E402
    discriminator_grid_2d,
    image_grid,
    make_grid_array,
    plot_d_contour_2d,
    plot_density_1d,
    plot_history,
    plot_samples_2d,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _labelled(ax, title=None):
    assert ax.get_title() if title is None else ax.get_title() == title
    assert ax.get_xlabel() and (ax.get_ylabel() or not ax.get_yticks().size)


# ----------------------------------------------------------------------------------------------------------------
# image grids
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, c, nrow, padding", [(5, 3, 2, 1), (7, 1, 3, 2), (4, 3, 8, 0), (2, 1, 8, 3)])
def test_make_grid_array_matches_torchvision(n, c, nrow, padding):
    tv_utils = pytest.importorskip("torchvision.utils")
    images = torch.rand(n, c, 4, 5, generator=torch.Generator().manual_seed(n)) * 2.4 - 1.2  # beyond [-1, 1]
    ours = make_grid_array(images, nrow=nrow, padding=padding, value_range=(-1, 1), pad_value=0.5)
    scaled = ((images + 1) / 2).clamp(0, 1)
    ref = tv_utils.make_grid(scaled, nrow=nrow, padding=padding, pad_value=0.5).permute(1, 2, 0).numpy()
    if c == 1:
        ref = ref[..., 0]  # torchvision repeats a grey channel three times
    assert ours.shape == ref.shape and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, ref)


def test_make_grid_array_value_range_and_layout():
    images = torch.tensor([[-1.0, 0.0], [1.0, 3.0]]).reshape(1, 1, 2, 2)  # one 2x2 grey image
    grid = make_grid_array(images, padding=1, value_range=(-1, 1), pad_value=0.25)
    expected = np.full((4, 4), 0.25, dtype=np.float32)
    expected[1:3, 1:3] = [[0.0, 0.5], [1.0, 1.0]]  # -1 -> 0, 0 -> 0.5, 1 -> 1, 3 clipped to 1
    np.testing.assert_array_equal(grid, expected)
    same = make_grid_array(images[:, 0], padding=1, value_range=(-1, 1), pad_value=0.25)  # (N, H, W) input
    np.testing.assert_array_equal(same, expected)
    # a single image keeps its padding (torchvision's make_grid returns one image unpadded)
    assert make_grid_array(torch.zeros(1, 1, 4, 5), padding=3).shape == (10, 11)
    unit = make_grid_array(torch.full((1, 3, 1, 1), 0.5), padding=0, value_range=(0, 1))
    assert unit.shape == (1, 1, 3) and np.all(unit == 0.5)


@pytest.mark.parametrize(
    "images, kwargs, err",
    [
        ([[0.0]], {}, TypeError),
        (torch.zeros(2, 2, 4, 4), {}, ValueError),  # two channels
        (torch.zeros(2, 1, 1, 4, 4), {}, ValueError),  # 5-D
        (torch.zeros(0, 1, 4, 4), {}, ValueError),
        (torch.zeros(2, 1, 4, 4), {"nrow": 0}, ValueError),
        (torch.zeros(2, 1, 4, 4), {"value_range": (1, -1)}, ValueError),
        (torch.zeros(2, 1, 4, 4), {"padding": -1}, ValueError),
    ],
)
def test_make_grid_array_rejects_bad_input(images, kwargs, err):
    with pytest.raises(err):
        make_grid_array(images, **kwargs)


def test_image_grid_draws_the_grid_with_title_and_label():
    images = torch.rand(6, 1, 5, 5) * 2 - 1
    ax = image_grid(images, nrow=3)
    assert ax.get_title() == "Samples"
    assert ax.get_xlabel() == "6 images, 3 per row"
    np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), make_grid_array(images, nrow=3))
    _, ax2 = plt.subplots()
    assert image_grid(images, ax=ax2, title="Step 100") is ax2 and ax2.get_title() == "Step 100"


# ----------------------------------------------------------------------------------------------------------------
# 1-D and 2-D plots
# ----------------------------------------------------------------------------------------------------------------
def test_plot_density_1d_styles_like_goodfellow_figure_1():
    x = np.linspace(-4, 4, 201)
    p_data = np.exp(-0.5 * (x - 1) ** 2) / np.sqrt(2 * np.pi)
    p_g = np.exp(-0.5 * (x + 1) ** 2) / np.sqrt(2 * np.pi)
    d = p_data / (p_data + p_g)  # D* of Proposition 1
    z = np.linspace(0, 1, 9)
    ax = plot_density_1d(x, p_data, p_g=p_g, d=d, z_to_x=(z, 2 * z - 1), data_samples=np.random.randn(500) + 1)
    _labelled(ax)
    styles = {(line.get_linestyle(), to_rgba(line.get_color())) for line in ax.get_lines()}
    assert (":", to_rgba("black")) in styles and ("-", to_rgba("green")) in styles
    twin = [a for a in ax.figure.axes if a is not ax]
    assert len(twin) == 1 and twin[0].get_ylabel() == "D(x)"
    (d_line,) = twin[0].get_lines()
    assert d_line.get_linestyle() == "--" and to_rgba(d_line.get_color()) == to_rgba("blue")
    np.testing.assert_array_equal(d_line.get_ydata(), d)
    assert sum(isinstance(t, Annotation) for t in ax.texts) == len(z)  # one arrow z -> G(z) each
    ends = sorted(t.xy[0] for t in ax.texts if isinstance(t, Annotation))
    np.testing.assert_allclose(ends, 2 * z - 1)


def test_plot_density_1d_minimal_and_bad_inputs():
    x = np.linspace(0, 1, 11)
    ax = plot_density_1d(torch.tensor(x), torch.ones(11), title="Uniform")
    assert ax.get_title() == "Uniform" and len(ax.figure.axes) == 1
    with pytest.raises(ValueError, match="one value per grid point"):
        plot_density_1d(x, np.ones(10))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plot_density_1d(x, np.ones(11), d=np.full(11, 2.0))
    with pytest.raises(ValueError, match="equal length"):
        plot_density_1d(x, np.ones(11), z_to_x=(np.zeros(3), np.zeros(4)))


def test_plot_samples_2d_draws_the_points():
    real, fake = torch.randn(50, 2), torch.randn(40, 2)
    modes = np.array([[1.0, 0.0], [-1.0, 0.0]])
    ax = plot_samples_2d(real, fake, modes=modes)
    _labelled(ax)
    offsets = [c.get_offsets() for c in ax.collections]
    assert len(offsets) == 3
    np.testing.assert_allclose(offsets[0], real.numpy(), rtol=1e-6)
    np.testing.assert_allclose(offsets[1], fake.numpy(), rtol=1e-6)
    np.testing.assert_allclose(offsets[2], modes)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plot_samples_2d(torch.randn(5, 3), fake)


def test_plot_history_plots_each_key_against_steps():
    history = {"step": [10, 20, 30], "d_loss": [1.3, 1.2, 1.1], "g_loss": [0.7, 0.8, 0.9], "d_real": [0.5] * 3}
    ax = plot_history(history)
    _labelled(ax)
    assert ax.get_xlabel() == "generator step" and ax.get_ylabel() == "loss"
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"d_loss", "g_loss"}
    np.testing.assert_array_equal(lines["g_loss"].get_xdata(), [10, 20, 30])
    np.testing.assert_array_equal(lines["g_loss"].get_ydata(), [0.7, 0.8, 0.9])
    assert plot_history(history, keys="d_real").get_ylabel() == "value"
    empty = plot_history({k: [] for k in history}, title="Nothing yet")
    assert empty.get_title() == "Nothing yet"
    with pytest.raises(ValueError, match="no \\['gp'\\]"):
        plot_history(history, keys=("gp",))
    with pytest.raises(ValueError, match="'step'"):
        plot_history({"d_loss": [1.0]})


class _BNLogit(nn.Module):
    """logit = 2 x1 - x2 + 0.5 after a batch norm whose running statistics are the identity."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(2)
        self.lin = nn.Linear(2, 1)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[2.0, -1.0]]))
            self.lin.bias.fill_(0.5)

    def forward(self, x):
        return self.lin(self.bn(x))


def test_discriminator_grid_matches_the_closed_form_in_eval_mode():
    D = _BNLogit()
    D.train()
    X, Y, V = discriminator_grid_2d(D, (-2, 2), (-1, 3), n=7)
    assert X.shape == Y.shape == V.shape == (7, 7)
    np.testing.assert_allclose(X[0], np.linspace(-2, 2, 7))
    np.testing.assert_allclose(Y[:, 0], np.linspace(-1, 3, 7))
    # eval mode: running mean 0, var 1 -> the batch norm divides by sqrt(1 + eps)
    s = 1.0 / np.sqrt(1.0 + D.bn.eps)
    expected = 1.0 / (1.0 + np.exp(-(2 * X * s - Y * s + 0.5)))
    np.testing.assert_allclose(V, expected, rtol=1e-6)
    assert D.training and int(D.bn.num_batches_tracked) == 0  # train mode restored, statistics untouched
    _, _, raw = discriminator_grid_2d(D, (-2, 2), (-1, 3), n=7, apply_sigmoid=False)
    np.testing.assert_allclose(raw, 2 * X * s - Y * s + 0.5, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="n must be"):
        discriminator_grid_2d(D, (-2, 2), (-1, 3), n=1)
    with pytest.raises(ValueError, match="xlim"):
        discriminator_grid_2d(D, (2, -2), (-1, 3))
    with pytest.raises(ValueError, match="one value per point"):
        discriminator_grid_2d(nn.Linear(2, 3), (-2, 2), (-1, 3), n=4)


def test_plot_d_contour_2d_has_title_labels_and_colorbar():
    D = _BNLogit()
    ax = plot_d_contour_2d(D, (-2, 2), (-2, 2), n=20, real=torch.randn(10, 2), fake=torch.randn(10, 2))
    _labelled(ax)
    assert ax.get_title() == "Discriminator output D(x)"
    assert len(ax.figure.axes) == 2  # the colour bar
    assert ax.get_xlim() == (-2.0, 2.0)
    critic = plot_d_contour_2d(D, (-2, 2), (-2, 2), n=10, apply_sigmoid=False, title="WGAN critic")
    assert critic.get_title() == "WGAN critic"


def test_page_figsize_scales_wide_figures_as_a_whole():
    from course_lib.viz import page_figsize
    from course_lib.viz.plots import PAGE_WIDTH_IN

    assert page_figsize(6, 4) == (6.0, 4.0)
    assert page_figsize(PAGE_WIDTH_IN, 3) == (PAGE_WIDTH_IN, 3.0)
    w, h = page_figsize(3.3 * 5, 7.2)
    assert w == PAGE_WIDTH_IN and abs(h - 7.2 * PAGE_WIDTH_IN / 16.5) < 1e-12
    assert abs(w / h - 16.5 / 7.2) < 1e-12  # same aspect: the same layout
    assert page_figsize(20, 5, max_width=10) == (10.0, 2.5)
    with pytest.raises(ValueError):
        page_figsize(0, 4)
    with pytest.raises(ValueError):
        page_figsize(4, float("nan"))
    with pytest.raises(TypeError):
        page_figsize("12", 4)
