"""The report's token-entropy figure: the distribution of token entropies and the ECDF of
per-response mean entropy, one curve per checkpoint."""

from __future__ import annotations

import numpy as np

from entropy_lens.analyses.marks import all_token_entropies, mean_entropies
from entropy_lens.plots.style import COLORS, new_figure


def entropy_figure(tables):
    """Token-entropy histogram (log density) and ECDF of per-response mean entropy of
    ``tables``, a list of (name, role, checked frame); ``role`` ('base', 'rl') picks the colour.
    Returns the figure (not saved)."""
    fig, (left, right) = new_figure(10.5, 3.7, ncols=2)
    everything = np.concatenate([np.asarray(e, dtype=np.float64) for _, _, f in tables for e in f["entropy"]])
    top = float(np.quantile(everything, 0.999)) if len(everything) else 1.0
    bins = np.linspace(0, max(top, 1e-6), 60)
    for name, role, frame in tables:
        tokens = all_token_entropies(frame)
        left.hist(np.clip(tokens, 0, bins[-1]), bins=bins, density=True, histtype="step", linewidth=1.8,
                  color=COLORS[role], label=f"{name} (n = {len(tokens):,} tokens)")
        means = np.sort(mean_entropies(frame))
        right.step(means, np.arange(1, len(means) + 1) / len(means), where="post", color=COLORS[role], linewidth=1.8,
                   label=f"{name} (n = {len(means):,} responses)")
    left.set_yscale("log")
    left.set_xlabel("token entropy (nats; the last bin holds everything above the 99.9th percentile)")
    left.set_ylabel("density (log scale)")
    left.set_title("Token entropy")
    left.legend(frameon=False, fontsize=8.5)
    right.set_xlabel("mean token entropy of a response (nats)")
    right.set_ylabel("share of responses at or below")
    right.set_title("Per-response mean entropy (ECDF)")
    right.legend(frameon=False, fontsize=8.5, loc="lower right")
    fig.tight_layout()
    return fig
