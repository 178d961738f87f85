"""Plotting helpers (matplotlib): image grids, the 1-D picture of Goodfellow et al. (2014), 2-D toys, curves, boxes."""

from course_lib.viz.boxes import draw_boxes, draw_grid, mark_cells

from course_lib.viz.plots import (
    discriminator_grid_2d,
    image_grid,
    make_grid_array,
    page_figsize,
    plot_d_contour_2d,
    plot_density_1d,
    plot_history,
    plot_samples_2d,
)

__all__ = [
    "make_grid_array",
    "image_grid",
    "plot_density_1d",
    "plot_samples_2d",
    "plot_history",
    "discriminator_grid_2d",
    "plot_d_contour_2d",
    "draw_boxes",
    "draw_grid",
    "mark_cells",
    "page_figsize",
]
