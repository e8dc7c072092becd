"""A tiny NumPy rasteriser for the ``rgb_array`` frames of Car-on-Hill and the inverted pendulum.

Gymnasium's classic-control envs draw with pygame; these two envs draw with NumPy alone, so their
frames need no extra dependency.
"""

from __future__ import annotations

import numpy as np

WHITE = (255, 255, 255)


class Canvas:
    """An RGB image with a world-to-pixel map: world ``x`` grows right, world ``y`` grows up."""

    def __init__(self, width: int, height: int, x_range: tuple[float, float], y_range: tuple[float, float]):
        self.image = np.full((height, width, 3), WHITE, dtype=np.uint8)
        self.width, self.height = width, height
        self.x_range, self.y_range = x_range, y_range
        rows, cols = np.mgrid[0:height, 0:width]
        self._rows, self._cols = rows, cols

    def to_pixels(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """(column, row) pixel coordinates of world points."""
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        col = (np.asarray(x) - x0) / (x1 - x0) * (self.width - 1)
        row = (y1 - np.asarray(y)) / (y1 - y0) * (self.height - 1)
        return col, row

    def disc(self, x: float, y: float, radius_px: float, color: tuple[int, int, int]) -> None:
        """A filled disc centred on a world point."""
        col, row = self.to_pixels(x, y)
        inside = (self._cols - col) ** 2 + (self._rows - row) ** 2 <= radius_px**2
        self.image[inside] = color

    def polyline(self, xs: np.ndarray, ys: np.ndarray, width_px: float, color: tuple[int, int, int]) -> None:
        """A thick line through world points (each segment sampled densely and stamped with discs)."""
        cols, rows = self.to_pixels(np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64))
        for c0, r0, c1, r1 in zip(cols[:-1], rows[:-1], cols[1:], rows[1:], strict=True):
            samples = max(2, int(np.hypot(c1 - c0, r1 - r0)) + 1)
            for t in np.linspace(0.0, 1.0, samples):
                self._stamp(c0 + t * (c1 - c0), r0 + t * (r1 - r0), width_px / 2, color)

    def rectangle(self, x0: float, y0: float, x1: float, y1: float, color: tuple[int, int, int]) -> None:
        """A filled axis-aligned rectangle between two world corners."""
        c0, r0 = self.to_pixels(x0, y0)
        c1, r1 = self.to_pixels(x1, y1)
        rows = slice(round(float(min(r0, r1))), round(float(max(r0, r1))) + 1)
        cols = slice(round(float(min(c0, c1))), round(float(max(c0, c1))) + 1)
        self.image[rows, cols] = color

    def _stamp(self, col: float, row: float, radius: float, color: tuple[int, int, int]) -> None:
        r0, r1 = max(int(row - radius), 0), min(int(row + radius) + 1, self.height)
        c0, c1 = max(int(col - radius), 0), min(int(col + radius) + 1, self.width)
        if r0 >= r1 or c0 >= c1:
            return
        patch_rows, patch_cols = self._rows[r0:r1, c0:c1], self._cols[r0:r1, c0:c1]
        inside = (patch_cols - col) ** 2 + (patch_rows - row) ** 2 <= radius**2
        self.image[r0:r1, c0:c1][inside] = color
