"""The training loop, top to bottom: rollout -> reward -> advantage -> shaping -> loss -> step.

``train(cfg, out)`` runs ``cfg.steps`` steps and writes the run folder::

    OUT/config.yaml              the settings (alpha resolved), reusable with --config
    OUT/metrics.jsonl            one JSON object per step (see README: training metrics)
    OUT/tensorboard/             the same numbers as TensorBoard scalars
    OUT/checkpoints/step-NNNNNN/ HF model folders (+ trainer_state/ for --resume)

Determinism: what a step samples depends only on (seed, step), the minibatch order only on
(seed, step, epoch), and the policy stays in eval mode (no dropout: the sampler and the
training pass see the same policy). So a run resumed from a checkpoint reproduces the
uninterrupted run exactly on the same machine.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

from entropy_lens.errors import UserError
from entropy_lens.models import load_model, resolve_model_source
from entropy_lens.sampling import stream_seed
from entropy_lens.shaping import shape_advantages
from entropy_lens.tasks import load_tasks

from . import advantages as adv
from . import checkpoint as ckpt
from . import losses, rollout
from .config import RESUMABLE_CHANGES, TrainConfig
from .critic import build_critic
from .metrics import MetricsLog, read_metrics, rollout_metrics
from .rewards import RewardFn, load_reward, score_responses


@dataclasses.dataclass
class Trainer:
    """Everything a step reads or updates."""

    cfg: TrainConfig
    loaded: Any                  # entropy_lens LoadedModel: the policy and its tokenizer
    optimizer: Any
    scheduler: Any
    problems: list
    reward_fn: RewardFn
    critic: Any = None           # ppo only
    critic_optimizer: Any = None
    reference: Any = None        # frozen initial policy, only with kl_coef > 0
    skipped_total: int = 0       # optimiser updates skipped for a NaN / inf, all steps so far

    @property
    def device(self):
        return self.loaded.device


# ------------------------------------------------------------------------------- one step


def train_step(t: Trainer, step: int) -> dict[str, Any]:
    """One training step (1-based ``step``); returns its metrics row."""
    cfg, started = t.cfg, time.perf_counter()

    # 1. rollout: G responses to each of this step's problems, from the current policy
    problems = rollout.step_problems(t.problems, step - 1, cfg.prompts_per_step, cfg.seed)
    batch = rollout.sample_rollouts(t.loaded, problems, step=step, group_size=cfg.group_size, seed=cfg.seed,
                                    max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                                    top_p=cfg.top_p, instruction=cfg.instruction, chat_template=cfg.chat_template)
    rollout_s = time.perf_counter() - started
    mask = batch.tensors["response_mask"].float()

    # 2. reward: one number per response
    rewards = torch.tensor(score_responses(t.reward_fn, batch.texts, [p.answer for p in batch.problems]))

    # 3. advantage, per response token
    old_values = returns = None
    if cfg.algorithm == "grpo":
        advantages = adv.broadcast(adv.group_advantages(rewards, cfg.group_size), mask)
    else:
        with torch.no_grad():
            old_values = t.critic(_to(batch.tensors, t.device), batch.prompt_width).cpu() * mask
        advantages, returns = adv.gae(adv.outcome_token_rewards(rewards, mask), old_values, mask, cfg.gamma, cfg.lam)
        advantages = adv.whiten(advantages, mask)

    row: dict[str, Any] = {"step": step, "reward_mean": float(rewards.mean()), "accuracy": float((rewards > 0).float().mean()),
                           **rollout_metrics(batch)}
    updates = _Updates()
    if not (torch.isfinite(rewards).all() and torch.isfinite(advantages).all()):
        updates.skipped += 1  # a NaN / inf reward or advantage: no update at all this step
    else:
        # 4-6. shaping, loss and optimiser steps: ppo_epochs passes over minibatches
        _optimise(t, step, batch, advantages, mask, old_values, returns, updates)
    t.skipped_total += updates.skipped

    seconds = time.perf_counter() - started
    row.update(updates.summary())
    row.update({"skipped_updates": updates.skipped, "skipped_updates_total": t.skipped_total,
                "lr": t.scheduler.get_last_lr()[0], "tokens": batch.n_tokens, "tokens_per_s": batch.n_tokens / seconds,
                "rollout_s": rollout_s, "step_s": seconds})
    return row


def _optimise(t: Trainer, step: int, batch, advantages, mask, old_values, returns, updates: "_Updates") -> None:
    cfg, model = t.cfg, t.loaded.model
    train_policy = cfg.algorithm == "grpo" or step > cfg.critic_warmup  # ppo: critic pre-training first
    # Log-probs of the policy that sampled. With one update per batch they equal the
    # training pass's own (detached), as TRL does; otherwise one extra no-grad pass.
    old_logprob = ref_logprob = None
    if train_policy and (cfg.ppo_epochs > 1 or cfg.minibatches > 1):
        old_logprob = _logprobs(model, batch, cfg.temperature)
    if train_policy and t.reference is not None:
        ref_logprob = _logprobs(t.reference, batch, cfg.temperature)

    size = cfg.rollout_batch // cfg.minibatches
    for epoch in range(cfg.ppo_epochs):
        order = torch.randperm(cfg.rollout_batch, generator=torch.Generator().manual_seed(
            stream_seed(cfg.seed, f"minibatches@step{step}", epoch)))
        for rows in order.split(size):
            rows = rows.sort().values
            m = mask[rows]
            tensors = _to({k: v[rows] for k, v in batch.tensors.items()}, t.device)
            if train_policy:
                _policy_update(t, tensors, batch.prompt_width, advantages[rows], m,
                               None if old_logprob is None else old_logprob[rows],
                               None if ref_logprob is None else ref_logprob[rows], updates)
            if t.critic is not None:
                _critic_update(t, tensors, batch.prompt_width, old_values[rows], returns[rows], m, updates)


def _policy_update(t: Trainer, tensors, prompt_width, advantages, mask, old_logprob, ref_logprob,
                   updates: "_Updates") -> None:
    cfg, model = t.cfg, t.loaded.model
    mask = mask.to(t.device)
    advantages = advantages.to(t.device)
    # the training forward pass: exact float32 log-probs and entropy of the response tokens
    logits = rollout.response_logits(model, tensors, prompt_width)
    logprob, entropy = losses.logprob_and_entropy(logits, tensors["response_ids"], cfg.temperature)
    if old_logprob is None:
        old_logprob = logprob.detach()

    # 4. shaping: A + min(alpha * H.detach(), |A| / kappa); no gradient reaches the entropy
    shaped = advantages
    if cfg.shaping == "entropy-adv":
        shaped = shape_advantages(advantages, entropy.detach(), cfg.effective_alpha, cfg.kappa, mask)

    # 5. loss: clipped surrogate (Clip-Higher), token-level mean; optional entropy and KL terms
    loss, stats = losses.clipped_surrogate(logprob, old_logprob.to(t.device), shaped, mask, cfg.eps_low, cfg.eps_high)
    if cfg.shaping == "entropy-reg":
        loss = loss - cfg.beta * adv.masked_mean(entropy, mask)  # gradient flows through H
    if ref_logprob is not None:
        kl = losses.kl_penalty(logprob, ref_logprob.to(t.device), mask)
        loss = loss + cfg.kl_coef * kl
        stats["kl"] = kl.item()

    # 6. step, unless the loss or the gradient is NaN / inf
    grad_norm = _backward_and_step(loss, model.parameters(), t.optimizer, cfg.max_grad_norm)
    if grad_norm is None:
        updates.skipped += 1
        return
    t.scheduler.step()
    with torch.no_grad():
        updates.add(loss=loss.item(), grad_norm=grad_norm, train_entropy=float(adv.masked_mean(entropy, mask)), **stats)
        updates.psi_sum += float(((shaped - advantages) * mask).sum())
        updates.shaped_abs_sum += float((shaped.abs() * mask).sum())


def _critic_update(t: Trainer, tensors, prompt_width, old_values, returns, mask, updates: "_Updates") -> None:
    values = t.critic(tensors, prompt_width)
    loss = losses.value_loss(values, old_values.to(values.device), returns.to(values.device), mask.to(values.device),
                             t.cfg.value_clip)
    grad_norm = _backward_and_step(loss, t.critic.parameters(), t.critic_optimizer, t.cfg.max_grad_norm)
    if grad_norm is None:
        updates.skipped += 1
        return
    updates.add(value_loss=loss.item(), critic_grad_norm=grad_norm,
                value_mean=float(adv.masked_mean(values.detach(), mask.to(values.device))))


def _backward_and_step(loss: torch.Tensor, parameters, optimizer, max_norm: float) -> float | None:
    """Backward, clip, step; returns the pre-clip gradient norm, or None (nothing changed) when
    the loss or the gradient is not finite."""
    params = [p for p in parameters if p.requires_grad]
    optimizer.zero_grad(set_to_none=True)
    if not torch.isfinite(loss):
        return None
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm > 0 else math.inf)
    if not torch.isfinite(norm):
        optimizer.zero_grad(set_to_none=True)
        return None
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(norm)


class _Updates:
    """Running means of per-update figures within one step."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.skipped = 0
        self.psi_sum = 0.0
        self.shaped_abs_sum = 0.0

    def add(self, **values: float) -> None:
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + 1

    def summary(self) -> dict[str, float | None]:
        names = ("loss", "clip_fraction", "approx_kl", "grad_norm", "train_entropy", "kl", "value_loss", "value_mean",
                 "critic_grad_norm")
        out: dict[str, float | None] = {k: self.sums[k] / self.counts[k] for k in names if k in self.sums}
        out["policy_updates"] = self.counts.get("loss", 0)
        # share of the entropy term in the shaped advantage: mean psi / mean |A_shaped|
        out["entropy_share"] = self.psi_sum / self.shaped_abs_sum if self.shaped_abs_sum > 0 else None
        return out


def _to(tensors: dict[str, torch.Tensor], device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in tensors.items()}


def _logprobs(model, batch, temperature: float) -> torch.Tensor:
    """Log-probs (B, R) of the response tokens under ``model``, no gradient, on the CPU."""
    device = next(model.parameters()).device
    with torch.no_grad():
        logits = rollout.response_logits(model, _to(batch.tensors, device), batch.prompt_width)
        logprob, _ = losses.logprob_and_entropy(logits, batch.tensors["response_ids"].to(device), temperature)
    return logprob.cpu()


# ------------------------------------------------------------------------------- the run


def train(cfg: TrainConfig, out: str | Path, *, resume: bool = False, reward_fn: RewardFn | None = None,
          verbose: bool = True):
    """Train the policy ``cfg.model`` for ``cfg.steps`` steps into the run folder ``out``.

    ``reward_fn(response, answer) -> float`` replaces the outcome reward (+1 correct, -1
    otherwise). With ``resume`` a run stopped after a checkpoint continues from its latest
    one. Returns the metrics of every step so far (pandas DataFrame, one row per step).
    """
    cfg = dataclasses.replace(cfg.validate(), alpha=cfg.effective_alpha)
    reward_fn = reward_fn or load_reward(cfg.reward)
    run_dir = Path(out)
    last = _prepare_run_dir(run_dir, cfg, resume)
    problems = load_tasks(cfg.tasks, cfg.limit)
    start = 0 if last is None else int(last.name.split("-")[1])
    if start >= cfg.steps:
        return read_metrics(run_dir)
    torch.manual_seed(cfg.seed)

    loaded = load_model(str(last) if last else cfg.model, device=cfg.device, dtype=cfg.dtype,
                        trust_remote_code=cfg.trust_remote_code)
    loaded.model.eval()  # no dropout, ever: the sampler and the training pass see one policy
    optimizer = torch.optim.AdamW(loaded.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup(cfg.warmup_steps))
    t = Trainer(cfg, loaded, optimizer, scheduler, problems, reward_fn)
    if cfg.algorithm == "ppo":
        source = resolve_model_source(cfg.critic_model or cfg.model)
        t.critic = build_critic(source, device=loaded.device, dtype=loaded.dtype, trust_remote_code=cfg.trust_remote_code)
        t.critic_optimizer = torch.optim.AdamW(t.critic.parameters(), lr=cfg.critic_lr, weight_decay=cfg.weight_decay)
    if cfg.kl_coef > 0:
        t.reference = load_model(cfg.model, device=cfg.device, dtype=cfg.dtype,
                                 trust_remote_code=cfg.trust_remote_code).model.requires_grad_(False)
    if last is not None:
        state = ckpt.load_training_state(last, optimizer=optimizer, scheduler=scheduler, critic=t.critic,
                                         critic_optimizer=t.critic_optimizer)
        t.skipped_total = int(state.get("skipped_total", 0))

    log = MetricsLog(run_dir, resume_step=start if resume else None)
    try:
        for step in range(start + 1, cfg.steps + 1):
            row = train_step(t, step)
            log.write(row)
            if verbose:
                print(_progress_line(row, cfg.steps), file=sys.stderr, flush=True)
            if step == cfg.steps or (cfg.save_every and step % cfg.save_every == 0):
                ckpt.save_checkpoint(run_dir, step, model=loaded.model, tokenizer=loaded.tokenizer, optimizer=optimizer,
                                     scheduler=scheduler, state={"skipped_total": t.skipped_total},
                                     critic=t.critic, critic_optimizer=t.critic_optimizer)
    finally:
        log.close()
    return read_metrics(run_dir)


def _warmup(steps: int):
    def factor(update: int) -> float:
        return min(1.0, (update + 1) / steps) if steps > 0 else 1.0
    return factor


def _progress_line(row: dict[str, Any], total: int) -> str:
    def fmt(key: str, spec: str = ".3f") -> str:
        value = row.get(key)
        return "-" if value is None else format(value, spec)
    return (f"step {row['step']}/{total}  reward {fmt('reward_mean')}  acc {fmt('accuracy', '.2f')}  "
            f"entropy {fmt('entropy')}  len {fmt('response_length', '.1f')}  loss {fmt('loss', '.4f')}  "
            f"{fmt('tokens_per_s', '.1f')} tok/s  {fmt('step_s', '.1f')} s")


def _prepare_run_dir(run_dir: Path, cfg: TrainConfig, resume: bool) -> Path | None:
    """Check ``run_dir`` against ``cfg`` and write config.yaml; returns the checkpoint to resume from."""
    saved_path = run_dir / "config.yaml"
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--out {run_dir} is a file", "pass a folder for the run")
    occupied = run_dir.is_dir() and any(run_dir.iterdir())
    if occupied and not resume:
        raise UserError(f"--out {run_dir} already holds files", "pass --resume to continue that run, or a new folder")
    if occupied and not saved_path.is_file():
        raise UserError(f"--out {run_dir} is not a training run (no config.yaml)", "pass the folder of an earlier run, or a new one")
    last = None
    if occupied:
        saved = TrainConfig.from_yaml(saved_path).to_dict()
        ours = cfg.to_dict()
        differ = [k for k in ours if k not in RESUMABLE_CHANGES and saved.get(k) != ours[k]]
        if differ:
            shown = ", ".join(f"{k} ({saved.get(k)!r} there, {ours[k]!r} now)" for k in differ[:3])
            raise UserError(f"--resume with settings that differ from the run in {run_dir}: {shown}",
                            "resume with the run's own settings (--config OUT/config.yaml), or start a new --out")
        ckpt.remove_partial(run_dir)
        last = ckpt.latest_checkpoint(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg.write_yaml(saved_path)
    return last
