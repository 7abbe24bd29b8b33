import numpy as np
import pandas as pd

from entropy_lens.analyses.fork_stats import FORK_COLUMNS, ForkResult, fork_summary
from entropy_lens.plots.fork import choose_example, fork_figure


def _result(n_responses=4, per=6, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n_responses):
        for i in range(per):
            kind = ("high", "low", "pivotal")[i % 3]
            entropy = float(rng.uniform(1.5, 3.0) if kind == "high" else rng.uniform(0, 0.5))
            rows.append({"prompt_id": f"p{r}", "sample_id": 0, "position": 5 * i + r, "token": f" tok{i}",
                         "entropy": entropy, "kind": kind, "n_samples": 8, "accuracy": None,
                         "changed": float(rng.integers(0, 9) / 8), "answers": ["4", "5"],
                         "answer_entropy": float(rng.uniform(0, 1))})
    forks = pd.DataFrame(rows, columns=FORK_COLUMNS)
    summary, corr = fork_summary(forks, n_boot=50)
    return ForkResult(forks=forks, summary=summary, correlation=corr, settings={})


def _texts(fig):
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts) + fig._suptitle.get_text()


def test_figure_draws_for_a_small_table():
    import matplotlib.pyplot as plt

    result = _result()
    rollouts = pd.DataFrame({"prompt_id": ["p0"], "sample_id": [0], "entropy": [np.linspace(0, 2, 40)]})
    fig = fork_figure(result, ("p0", 0), rollouts=rollouts)
    fig.canvas.draw()
    assert len(fig.axes) == 3  # two panels and the colour bar
    assert "Spearman" in _texts(fig) and "K = 8" in _texts(fig)
    assert fig.axes[0].get_xlabel() == "entropy of the probed token (nats)"
    plt.close(fig)
    fig = fork_figure(result)  # default example, no rollout table
    fig.canvas.draw()
    plt.close(fig)


def test_figure_draws_for_one_position():
    import matplotlib.pyplot as plt

    result = _result(n_responses=1, per=1)
    assert choose_example(result.forks) == ("p0", 0)
    fig = fork_figure(result)
    fig.canvas.draw()
    plt.close(fig)
    empty = ForkResult(forks=result.forks.iloc[:0], summary=result.summary.iloc[:0], correlation={})
    fig = fork_figure(empty)
    fig.canvas.draw()
    assert "no probed positions" in _texts(fig)
    plt.close(fig)


def test_default_example_has_the_most_positions():
    result = _result(n_responses=3, per=3)
    forks = pd.concat([result.forks, result.forks[result.forks["prompt_id"] == "p2"].assign(position=99)])
    assert choose_example(forks) == ("p2", 0)
