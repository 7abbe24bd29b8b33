"""``entropy-lens fork``: do high-entropy tokens change the outcome? A causal probe by resampling.

The paper shows that high-entropy tokens *coincide* with exploratory reasoning; this probe
intervenes. In each response it picks token positions of three kinds (``high``: among the
response's top 10% entropy tokens; ``low``: its lower half, matched in relative position;
``pivotal``: first tokens of pivotal words; ``analyses/fork_positions.py``), resamples
``samples`` continuations at each (``measure/fork.py``) and grades them. A position whose
continuations reach other final answers is one where the response's outcome was still open.
Per position: ``changed`` (share of continuations whose final answer differs from the
response's own), ``answer_entropy`` (nats, of the final-answer distribution) and
``accuracy``; per kind and between kinds, the statistics of ``analyses/fork_stats.py``.

``prepare_fork`` chooses the positions and says what they will cost (nothing is loaded);
``run_fork`` samples, resuming from the shards of an earlier run in ``out``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from entropy_lens.analyses.fork_positions import KINDS, choose_positions
from entropy_lens.analyses.fork_stats import ForkResult, fork_summary
from entropy_lens.errors import UserError
from entropy_lens.measure.config import ForkConfig, GenerateConfig
from entropy_lens.measure.fork import KEY, sample_positions, sampling_settings
from entropy_lens.rollouts.load import load_rollouts
from entropy_lens.rollouts.schema import RUN_FILE
from entropy_lens.rollouts.validate import TOKEN_COLUMNS

NEED = TOKEN_COLUMNS + ("prompt_token_ids", "answer", "finish_reason")


@dataclass
class ForkPlan:
    """What a fork run will do: the responses, the positions, and how they are sampled."""

    frame: Any                   # the probed responses (pandas DataFrame)
    probes: Any                  # one row per (response, kind, position): analyses/fork_positions.py
    model: str
    sampling: GenerateConfig     # the rollouts' temperature, top-p, top-k, response budget
    skipped: str = ""
    sampling_recorded: bool = True  # False: the table recorded no sampling settings; generate's defaults

    @property
    def positions(self) -> list[tuple[str, int, int]]:
        """The distinct positions to sample at (a position of two kinds is sampled once)."""
        unique = self.probes[list(KEY)].drop_duplicates()
        return [(str(p), int(s), int(t)) for p, s, t in unique.itertuples(index=False)]

    def describe(self, samples: int) -> str:
        counts = self.probes["kind"].value_counts()
        kinds = ", ".join(f"{int(counts.get(k, 0))} {k}" for k in KINDS)
        n = len(self.positions)
        return (f"fork: {len(self.frame)} responses, {len(self.probes)} probed positions ({kinds}; {n} distinct) "
                f"x {samples} samples = {n * samples:,} continuations of up to {self.sampling.max_new_tokens} tokens "
                f"(temperature {self.sampling.temperature}, top-p {self.sampling.top_p}"
                + ("" if self.sampling_recorded else ": generate's defaults, the table records no sampling settings")
                + f"), model {self.model}")


def _run_settings(rollouts) -> dict[str, Any] | None:
    if isinstance(rollouts, (str, os.PathLike)) and (Path(rollouts) / RUN_FILE).is_file():
        try:
            return json.loads((Path(rollouts) / RUN_FILE).read_text()).get("settings")
        except ValueError:
            return None
    return None


def prepare_fork(rollouts, cfg: ForkConfig, *, run_settings: dict[str, Any] | None = None) -> ForkPlan:
    """Choose the positions of a fork run (seeded, recorded) without loading a model.
    ``rollouts``: a rollout table or directory; ``run_settings``: its generation settings
    when it is a DataFrame (a directory's own ``_run.json`` is read)."""
    cfg.validate()
    checked = load_rollouts(rollouts, need=NEED)  # a missing or bad table is named first
    settings = run_settings if run_settings is not None else _run_settings(rollouts)
    model = cfg.model or (settings or {}).get("model")
    if not model:
        raise UserError("no model to resample with: the rollouts do not name theirs",
                        "pass --model (the model that wrote the responses)")
    frame = checked.frame.assign(prompt_id=checked.frame["prompt_id"].astype(str))  # ids as the store keys them
    frame = frame.sort_values(["prompt_id", "sample_id"], kind="stable").reset_index(drop=True)
    if cfg.limit is not None:
        frame = frame.head(cfg.limit).reset_index(drop=True)
    probes = choose_positions(frame, positions=cfg.positions, seed=cfg.seed)
    if probes.empty:
        raise UserError("no position to probe: every response is a single token", "generate longer responses first")
    recorded = bool(settings) and all(settings.get(k) is not None for k in ("temperature", "max_new_tokens"))
    return ForkPlan(frame=frame, probes=probes, model=model, sampling=sampling_settings(settings),
                    skipped=checked.skipped_note(), sampling_recorded=recorded)


def _store_settings(plan: ForkPlan, cfg: ForkConfig) -> dict[str, Any]:
    """What decides the outcome rows; a rerun into the same folder must match them."""
    digest = hashlib.sha256(json.dumps(plan.positions).encode()).hexdigest()
    return {"command": "fork", "model": plan.model, "dtype": cfg.dtype, "samples": cfg.samples, "seed": cfg.seed,
            "positions": cfg.positions, "limit": cfg.limit, "lenient_truncated": cfg.lenient_truncated,
            "positions_sha256": digest,
            **{k: getattr(plan.sampling, k) for k in ("temperature", "top_p", "top_k", "max_new_tokens",
                                                      "entropy_temperature")}}


def run_fork(plan: ForkPlan, cfg: ForkConfig, out: str | os.PathLike | None = None, *,
             show_progress: bool = True) -> ForkResult:
    """Sample and grade the continuations of ``plan`` (``measure/fork.py``; with ``out``, a
    folder, finished positions are kept there as shards and a rerun only samples the rest),
    then summarise them."""
    outcomes = sample_positions(plan.frame, plan.positions, model=plan.model, cfg=cfg, sampling=plan.sampling,
                                settings=_store_settings(plan, cfg), out=out, show_progress=show_progress)
    forks = plan.probes.merge(outcomes, on=list(KEY), how="left", validate="many_to_one")
    summary, correlation = fork_summary(forks, seed=cfg.seed)
    settings = _store_settings(plan, cfg)
    return ForkResult(forks=forks, summary=summary, correlation=correlation, settings=settings, skipped=plan.skipped,
                      responses=plan.frame)


def fork(rollouts, model: str | None = None, *, out: str | os.PathLike | None = None, show_progress: bool = True,
         run_settings: dict[str, Any] | None = None, **options: Any) -> ForkResult:
    """Python API of ``entropy-lens fork``: keyword options as the CLI flags (``positions``,
    ``samples``, ``limit``, ``seed``, ``batch_size``, ``device``, ``dtype``, ...). ``out``: a
    folder for the resumable outcome shards (nothing is written without it)."""
    try:
        cfg = ForkConfig(model=model, **options)
    except TypeError as exc:
        raise UserError(f"fork() got an unknown option ({exc})", "see `entropy-lens fork --help` for the options") from None
    plan = prepare_fork(rollouts, cfg, run_settings=run_settings)
    return run_fork(plan, cfg, out, show_progress=show_progress)
