"""``entropy-lens summary``: what a rollout table holds, at a glance.

Counts, accuracy and mean entropy with 95% confidence intervals, the entropy distribution,
the tokens with the highest mean entropy, and one response with its highest-entropy
tokens marked.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from entropy_lens.stats import mean_ci, wilson_interval


def token_table(frame, tokenizer_free: bool = True):
    """One row per response token: prompt_id, sample_id, position, text, entropy (long format)."""
    import pandas as pd

    lengths = frame["token_ids"].map(len).to_numpy()
    texts = []
    for response, offsets in zip(frame["response"], frame["offsets"]):
        texts.extend(response[a:b] for a, b in offsets)
    return pd.DataFrame({
        "prompt_id": np.repeat(frame["prompt_id"].to_numpy(), lengths),
        "sample_id": np.repeat(frame["sample_id"].to_numpy(), lengths),
        "position": np.concatenate([np.arange(n) for n in lengths]) if len(lengths) else np.zeros(0, int),
        "text": texts,
        "entropy": np.concatenate([np.asarray(e, dtype=np.float32) for e in frame["entropy"]]) if len(frame) else np.zeros(0),
    })


def summarize(rollouts, *, min_count: int = 5, top: int = 12) -> dict[str, Any]:
    """Summary statistics of a rollout table (a DataFrame or a rollout directory; see the
    module docstring)."""
    from entropy_lens.rollouts.load import as_frame

    frame = as_frame(rollouts)
    tokens = token_table(frame)
    per_response = np.array([np.mean(e) for e in frame["entropy"] if len(e)], dtype=np.float64)
    graded = frame["correct"].dropna().astype(bool)
    words = tokens.assign(word=tokens["text"].str.strip()).query("word != ''")
    by_word = words.groupby("word")["entropy"].agg(["count", "mean"]).query("count >= @min_count")
    quantiles = np.quantile(tokens["entropy"], [0.5, 0.8, 0.95]) if len(tokens) else [math.nan] * 3
    return {
        "responses": len(frame),
        "prompts": int(frame["prompt_id"].nunique()),
        "tokens": len(tokens),
        "finish_reasons": frame["finish_reason"].value_counts().to_dict(),
        "truncated": int((frame["finish_reason"] == "length").sum()),  # cut off at --max-new-tokens
        "graded": len(graded),
        "accuracy": float(graded.mean()) if len(graded) else math.nan,
        "accuracy_ci": wilson_interval(int(graded.sum()), len(graded)),
        "mean_entropy": float(tokens["entropy"].mean()) if len(tokens) else math.nan,
        "mean_entropy_ci": mean_ci(per_response)[1:],  # responses are the independent unit
        "entropy_p50_p80_p95": [float(q) for q in quantiles],
        "top_tokens": by_word.sort_values("mean", ascending=False).head(top).reset_index(),
    }


def marked_response(response: str, offsets, entropy, quantile: float = 0.9) -> str:
    """The response with its top-decile-entropy tokens shown as [token|H]."""
    if not len(entropy):
        return response
    cut = float(np.quantile(entropy, quantile))
    parts, pos = [], 0
    for (a, b), h in zip(offsets, entropy):
        if h >= cut and b > a:
            parts.append(response[pos:a] + f"[{response[a:b]}|{h:.2f}]")
            pos = b
    return "".join(parts) + response[pos:]


def format_summary(rollouts, **options: Any) -> str:
    """The text that ``entropy-lens summary`` prints."""
    from entropy_lens.rollouts.load import as_frame

    frame = as_frame(rollouts)
    s = summarize(frame, **options)
    lo, hi = s["mean_entropy_ci"]
    lines = [
        f"{s['responses']} responses to {s['prompts']} prompts, {s['tokens']} tokens "
        f"(finish: {', '.join(f'{k} {v}' for k, v in s['finish_reasons'].items())}); "
        f"{s['truncated']} truncated at --max-new-tokens",
        f"mean token entropy {s['mean_entropy']:.3f} nats (95% CI {lo:.3f}-{hi:.3f} over responses); "
        "median / p80 / p95: " + " / ".join(f"{q:.3f}" for q in s["entropy_p50_p80_p95"]),
    ]
    if s["graded"]:
        a, b = s["accuracy_ci"]
        lines.append(f"accuracy {s['accuracy']:.1%} of {s['graded']} graded (95% CI {a:.1%}-{b:.1%})")
    if len(s["top_tokens"]):
        lines.append("highest-entropy tokens (seen at least %d times):" % options.get("min_count", 5))
        lines += [f"  {r.word!r:>16}  n={r['count']:<4d} mean H={r['mean']:.3f}" for _, r in s["top_tokens"].iterrows()]
    if len(frame):
        row = frame.iloc[int(np.argmax([len(t) for t in frame["token_ids"]]))]
        lines.append(f"example ({row.prompt_id} #{row.sample_id}, top-10% entropy tokens marked [token|H]):")
        lines.append("  " + marked_response(row.response, row.offsets, np.asarray(row.entropy)).replace("\n", "\n  "))
    return "\n".join(lines)
