"""The one colour scale of token entropy, shared by the HTML heatmap and the figures.

magma_r sampled at 0 .. 0.85 (the darkest 15% would make text unreadable), with the first
stop pure white so low-entropy text looks like ordinary text. Lightness falls monotonically.
The scale runs from 0 to a cap, a quantile of the table's token entropies
(:func:`entropy_cap`), so a few outliers do not wash the rest out.
"""

from __future__ import annotations

import numpy as np

from entropy_lens.errors import UserError

COLOR_STOPS = ("#ffffff", "#fed799", "#feae77", "#fb8560", "#ef5d5e", "#d5446d",
               "#b2357b", "#8e2a81", "#6b1d81", "#4a1079", "#251255")
_STOP_RGB = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in COLOR_STOPS], dtype=np.float64)


def entropy_rgb(entropy: float | np.ndarray, cap: float) -> np.ndarray:
    """RGB (0-255 floats, shape (..., 3)) of ``entropy`` on the scale 0 .. ``cap`` (clipped)."""
    t = np.clip(np.asarray(entropy, dtype=np.float64) / cap, 0.0, 1.0) * (len(COLOR_STOPS) - 1)
    t = np.nan_to_num(t, nan=0.0)
    i = np.minimum(np.floor(t).astype(int), len(COLOR_STOPS) - 2)
    f = (t - i)[..., None]
    return _STOP_RGB[i] * (1 - f) + _STOP_RGB[i + 1] * f


def entropy_color(entropy: float, cap: float) -> str:
    """``#rrggbb`` of one entropy value (nats) on the scale capped at ``cap``."""
    r, g, b = np.round(entropy_rgb(entropy, cap)).astype(int)
    return f"#{r:02x}{g:02x}{b:02x}"


def relative_luminance(hex_color: str) -> float:
    """WCAG relative luminance of ``#rrggbb`` (0 black .. 1 white)."""
    channels = [int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def text_color(hex_background: str) -> str:
    """Black or white text, whichever contrasts more with the background."""
    lum = relative_luminance(hex_background)
    return "#000000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#ffffff"


def entropy_cap(entropies: np.ndarray, quantile: float) -> float:
    """The colour scale's top: the ``quantile`` of ``entropies`` (nats); never 0."""
    if not 0 < quantile <= 1:
        raise UserError(f"cap_quantile {quantile} is outside (0, 1]", "pass a quantile such as 0.95")
    if len(entropies) == 0:
        return 1.0
    cap = float(np.quantile(entropies, quantile))
    if not cap > 0:
        cap = float(np.max(entropies))
    return cap if cap > 0 else 1.0


def entropy_colormap():
    """The heatmap's colour scale as a matplotlib colormap."""
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("entropy_lens", list(COLOR_STOPS))
