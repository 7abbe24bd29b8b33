"""The training loop, top to bottom: rollout -> reward -> advantage -> shaping -> loss -> step.

This module is long because the whole step stays readable in one place, in the order it
runs; each stage's details live in their own modules (rollout, rewards, advantages, losses).

``train(cfg, out)`` runs ``cfg.steps`` steps and writes the run folder::

    OUT/config.yaml              the settings (alpha resolved), reusable with --config
    OUT/metrics.jsonl            one JSON object per step (keys: see metrics.py)
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
from entropy_lens.measure.models import load_model, resolve_model_source
from entropy_lens.measure.sampling import stream_seed
from entropy_lens.shaping import shape_advantages
from entropy_lens.tasks.load import load_tasks

from . import advantages as adv
from . import checkpoint as ckpt
from . import allocator, distributed, head, lean_layers, losses, rollout
from .config import TrainConfig
from .critic import build_critic
from .metrics import MetricsLog, batch_summary, merged_summaries, read_metrics, rollout_metrics
from .rewards import RewardFn, load_reward, score_responses
from .rundir import plan_run


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
    group: distributed.Group = dataclasses.field(default_factory=distributed.Group)  # torchrun's processes

    @property
    def device(self):
        return self.loaded.device


# ------------------------------------------------------------------------------- one step


def train_step(t: Trainer, step: int) -> dict[str, Any]:
    """One training step (1-based ``step``); returns its metrics row."""
    cfg, group, started = t.cfg, t.group, time.perf_counter()

    # 1. rollout: G responses to each of this step's problems (this process's share of them), from the current policy
    problems = group.share(rollout.step_problems(t.problems, step - 1, cfg.prompts_per_step, cfg.seed))
    batch = rollout.sample_rollouts(t.loaded, problems, step=step, group_size=cfg.group_size, seed=cfg.seed,
                                    max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p,
                                    instruction=cfg.instruction, chat_template=cfg.chat_template,
                                    batch_size=cfg.sample_batch_size or cfg.batch_size)
    rollout_s = time.perf_counter() - started
    mask = batch.tensors["response_mask"].float()
    everyone = group.gather(batch_summary(batch))  # the whole step's rollouts, for its metrics and thresholds
    pool = [h for summary in everyone for row in summary["entropy"] for h in row]
    keep = adv.top_entropy_mask(_padded(batch.entropy, mask), mask, cfg.top_entropy_quantile,
                                pool=torch.tensor(pool, dtype=torch.float32))  # the 80/20 baseline

    # 2. reward: one number per response
    rewards = torch.tensor(score_responses(t.reward_fn, batch.texts, [p.answer for p in batch.problems],
                                           batch.finish_reason, lenient_truncated=t.cfg.lenient_truncated))

    # 3. advantage, per response token
    old_values = returns = None
    if cfg.algorithm == "grpo":
        advantages = adv.broadcast(adv.group_advantages(rewards, cfg.group_size), mask)
    else:
        old_values = _per_token(batch, cfg.batch_size, lambda part: t.critic(_to(part.tensors, t.device), part.prompt_width))
        advantages, returns = adv.gae(adv.outcome_token_rewards(rewards, mask), old_values, mask, cfg.gamma, cfg.lam)
        advantages = adv.whiten(advantages, mask, total=group.total)

    all_rewards = torch.tensor([r for reward in group.gather(rewards.tolist()) for r in reward])
    whole = merged_summaries(everyone)
    row: dict[str, Any] = {"step": step, "reward_mean": float(all_rewards.mean()),
                           "accuracy": float((all_rewards > 0).float().mean()), **rollout_metrics(whole),
                           "gradient_token_share": group.total(float(keep.sum())) / max(1.0, group.total(float(mask.sum())))}
    updates = _Updates()
    if group.any(not (torch.isfinite(rewards).all() and torch.isfinite(advantages).all())):
        updates.skipped += 1  # a NaN / inf reward or advantage: no update at all this step
    else:
        # 4-6. shaping, loss and optimiser steps: ppo_epochs passes over minibatches
        _optimise(t, step, batch, advantages, mask, keep, old_values, returns, updates)
    t.skipped_total += updates.skipped

    seconds = time.perf_counter() - started
    tokens = sum(len(ids) for ids in whole.token_ids)
    row.update(updates.summary())
    row.update({"skipped_updates": updates.skipped, "skipped_updates_total": t.skipped_total,
                "lr": t.scheduler.get_last_lr()[0], "tokens": tokens, "tokens_per_s": tokens / seconds,
                "rollout_s": rollout_s, "step_s": seconds})
    return row



def _optimise(t: Trainer, step: int, batch, advantages, mask, keep, old_values, returns, updates: "_Updates") -> None:
    cfg = t.cfg
    train_policy = cfg.algorithm == "grpo" or step > cfg.critic_warmup  # ppo: critic pre-training first
    # Log-probs of the policy that sampled. With one update per batch they equal the
    # training pass's own (detached), as TRL does; otherwise one extra no-grad pass.
    old_logprob = ref_logprob = None
    if train_policy and (cfg.ppo_epochs > 1 or cfg.minibatches > 1):
        old_logprob = _per_token(batch, cfg.batch_size, lambda part: _logprob(t.loaded.model, part, cfg.temperature))
    if train_policy and t.reference is not None:
        ref_logprob = _per_token(batch, cfg.batch_size, lambda part: _logprob(t.reference, part, cfg.temperature))

    rows_here = len(batch.token_ids)  # this process's rows: rollout_batch / processes
    size = rows_here // cfg.minibatches
    for epoch in range(cfg.ppo_epochs):
        order = torch.randperm(rows_here, generator=torch.Generator().manual_seed(
            stream_seed(cfg.seed, f"minibatches@step{step}", epoch)))
        for rows in order.split(size):
            # one optimiser update per minibatch, accumulated over micro-batches of batch_size sequences
            parts = rollout.micro_batches(batch.tensors, batch.prompt_width, rows.sort().values, cfg.batch_size)
            if train_policy:
                _policy_update(t, parts, advantages, mask, keep, old_logprob, ref_logprob, updates)
            if t.critic is not None:
                _critic_update(t, parts, old_values, returns, mask, updates)


def _policy_update(t: Trainer, parts, advantages, mask, keep, old_logprob, ref_logprob, updates: "_Updates") -> None:
    cfg, model, device, group = t.cfg, t.loaded.model, t.device, t.group
    # the minibatch's tokens in every process: each gradient is its tokens' share of their mean
    n_tokens = max(1.0, group.total(sum(float(mask[p.rows, :p.length].sum()) for p in parts)))
    sums: dict[str, float] = {}
    psi_sum = shaped_abs_sum = 0.0
    finite = True
    t.optimizer.zero_grad(set_to_none=True)
    for part in parts:
        cut = (part.rows, slice(None, part.length))
        m, a = mask[cut].to(device), advantages[cut].to(device)
        old = None if old_logprob is None else old_logprob[cut].to(device)
        kept = None if cfg.top_entropy_quantile >= 1.0 else keep[cut].to(device)
        ref = None if ref_logprob is None else ref_logprob[cut].to(device)
        # 4-5. the training forward pass (exact float32 log-probs and entropy, from hidden states
        # a chunk of positions at a time: the B x R x V logits never exist) fused with the loss
        token_loss = _token_loss(cfg, m, a, old, kept, ref)
        loss, logprob, entropy = head.policy_loss(model, _to(part.tensors, device), part.prompt_width, cfg.temperature,
                                                  token_loss)
        shaped = a if cfg.shaping != "entropy-adv" else shape_advantages(a, entropy, cfg.effective_alpha, cfg.kappa, m)
        stats = losses.surrogate_stats(logprob, logprob if old is None else old, shaped, m, cfg.eps_low, cfg.eps_high)
        if ref is not None:
            stats["kl"] = losses.kl_penalty(logprob, ref, m).item()
        if not torch.isfinite(loss):
            finite = False
            break
        # weight by the part's share of the minibatch's tokens: the sum is the minibatch's token mean
        weight = float(m.sum()) / n_tokens
        (loss * weight).backward()
        stats.update(loss=loss.item(), train_entropy=adv.masked_mean(entropy, m).item())
        for key, value in stats.items():
            sums[key] = sums.get(key, 0.0) + weight * value
        psi_sum += float(((shaped - a) * m).sum())
        shaped_abs_sum += float((shaped.abs() * m).sum())
    if group.any(not finite):  # a NaN / inf loss in any process: no update in any
        t.optimizer.zero_grad(set_to_none=True)
        updates.skipped += 1
        return

    # 6. step, unless the gradient is NaN / inf
    group.sum_gradients(model.parameters())
    grad_norm = _clip_and_step(model.parameters(), t.optimizer, cfg.max_grad_norm)
    if grad_norm is None:
        updates.skipped += 1
        return
    t.scheduler.step()
    updates.add(grad_norm=grad_norm, **{key: group.total(value) for key, value in sums.items()})
    updates.psi_sum += group.total(psi_sum)
    updates.shaped_abs_sum += group.total(shaped_abs_sum)


def _token_loss(cfg: TrainConfig, mask, advantages, old_logprob, keep, ref_logprob):
    """The micro-batch's policy loss as a sum over chunks of flat token positions (see
    ``head.policy_loss``): the token mean of the clipped surrogate on the (shaped) advantage,
    minus ``beta * H`` for entropy-reg, plus ``kl_coef`` times the k3 KL."""
    flat = [None if x is None else x.reshape(-1) for x in (mask, advantages, old_logprob, keep, ref_logprob)]
    m, a, old, kept, ref = flat
    denominator = m.sum().clamp(min=1)

    def token_loss(logprob, entropy, rows):
        m_r, a_r = m[rows], a[rows]
        # 4. shaping: A + min(alpha * H.detach(), |A| / kappa); no gradient reaches the entropy
        if cfg.shaping == "entropy-adv":
            a_r = shape_advantages(a_r, entropy.detach(), cfg.effective_alpha, cfg.kappa, m_r)
        # 5. loss: clipped surrogate (Clip-Higher), optional entropy and KL terms; token means
        terms = losses.surrogate_terms(logprob, logprob.detach() if old is None else old[rows], a_r,
                                       cfg.eps_low, cfg.eps_high)
        if kept is not None:
            terms = terms * kept[rows]  # the 80/20 baseline: only the top-entropy tokens carry gradient
        if cfg.shaping == "entropy-reg":
            terms = terms - cfg.beta * entropy  # gradient flows through H
        if ref is not None:
            terms = terms + cfg.kl_coef * losses.kl_terms(logprob, ref[rows])
        return (terms * m_r).sum() / denominator
    return token_loss


def _critic_update(t: Trainer, parts, old_values, returns, mask, updates: "_Updates") -> None:
    device, group = t.device, t.group
    n_tokens = max(1.0, group.total(sum(float(mask[p.rows, :p.length].sum()) for p in parts)))
    sums = {"value_loss": 0.0, "value_mean": 0.0}
    finite = True
    t.critic_optimizer.zero_grad(set_to_none=True)
    for part in parts:
        cut = (part.rows, slice(None, part.length))
        m = mask[cut].to(device)
        values = t.critic(_to(part.tensors, device), part.prompt_width)
        loss = losses.value_loss(values, old_values[cut].to(device), returns[cut].to(device), m, t.cfg.value_clip)
        if not torch.isfinite(loss):
            finite = False
            break
        weight = float(m.sum()) / n_tokens
        (loss * weight).backward()
        sums["value_loss"] += weight * loss.item()
        sums["value_mean"] += weight * adv.masked_mean(values.detach(), m).item()
    if group.any(not finite):
        t.critic_optimizer.zero_grad(set_to_none=True)
        updates.skipped += 1
        return
    group.sum_gradients(t.critic.parameters())
    grad_norm = _clip_and_step(t.critic.parameters(), t.critic_optimizer, t.cfg.max_grad_norm)
    if grad_norm is None:
        updates.skipped += 1
        return
    updates.add(critic_grad_norm=grad_norm, **{key: group.total(value) for key, value in sums.items()})


def _clip_and_step(parameters, optimizer, max_norm: float) -> float | None:
    """Clip the accumulated gradient and step; returns the pre-clip norm, or None (and
    nothing changed: weights and optimiser state untouched) when the gradient is NaN / inf."""
    params = [p for p in parameters if p.requires_grad]
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


def _logprob(model, part, temperature: float) -> torch.Tensor:
    """Log-probs of a micro-batch's response tokens under ``model``."""
    device = next(model.parameters()).device
    return head.logprob_and_entropy(model, _to(part.tensors, device), part.prompt_width, temperature)[0]


def _padded(values: list[list[float]], mask: torch.Tensor) -> torch.Tensor:
    """Per-response lists (the sampling pass's entropies) as a (B, R) tensor aligned with ``mask``."""
    out = torch.zeros(mask.shape, dtype=torch.float32)
    for row, v in enumerate(values):
        out[row, :len(v)] = torch.tensor(v, dtype=torch.float32)
    return out


def _per_token(batch, size: int, fn) -> torch.Tensor:
    """``fn(micro_batch) -> (b, length)`` over the whole rollout batch, no gradient, as (B, R) on the CPU."""
    out = torch.zeros(batch.tensors["response_mask"].shape, dtype=torch.float32)
    rows = torch.arange(out.shape[0])
    with torch.no_grad():
        for part in rollout.micro_batches(batch.tensors, batch.prompt_width, rows, size):
            out[part.rows, :part.length] = fn(part).float().cpu()
    return out * batch.tensors["response_mask"]


# ------------------------------------------------------------------------------- the run


def train(cfg: TrainConfig, out: str | Path, *, resume: bool | str = False, reward_fn: RewardFn | None = None,
          verbose: bool = True):
    """Train the policy ``cfg.model`` for ``cfg.steps`` steps into the run folder ``out``.

    ``reward_fn(response, answer) -> float`` replaces the outcome reward (+1 correct, -1
    otherwise). ``resume``: False starts a new run, True continues the run in ``out`` from
    its latest checkpoint (there must be one), ``"or-start"`` does whichever applies; a run
    stopped before its first checkpoint is started again (see ``rundir``). Returns the
    metrics of every step so far (pandas DataFrame, one row per step).
    """
    cfg = dataclasses.replace(cfg.validate(), alpha=cfg.effective_alpha)
    reward_fn = reward_fn or load_reward(cfg.reward)
    group = distributed.setup(cfg.device)
    try:
        return _train(cfg, Path(out), resume, reward_fn, verbose and group.main, group)
    finally:
        distributed.teardown(group)


def _train(cfg: TrainConfig, run_dir: Path, resume, reward_fn: RewardFn, verbose: bool, group: distributed.Group):
    if cfg.prompts_per_step % group.world:
        raise UserError(f"--prompts-per-step {cfg.prompts_per_step} does not split over {group.world} processes",
                        f"pass a multiple of {group.world} (each process samples the same number of prompts)")
    plan = plan_run(run_dir, cfg, resume)
    group.gather(None)  # every process has read the run folder before the first one writes to it
    last, start = plan.checkpoint, plan.start_step
    if start >= cfg.steps:  # nothing left to do: a finished run resumed again
        return read_metrics(run_dir)
    if last is not None:
        ckpt.remove_partial(run_dir)
    problems = load_tasks(cfg.tasks, cfg.limit)
    torch.manual_seed(cfg.seed)
    allocator.keep_freed_memory()  # no page is handed back and faulted in again between phases

    device = distributed.device_for(group, cfg.device)
    loaded = load_model(str(last) if last else cfg.model, device=device, dtype=cfg.dtype,
                        trust_remote_code=cfg.trust_remote_code)
    loaded.model.eval()  # no dropout, ever: the sampler and the training pass see one policy
    lean_layers.use_lean_layers(loaded.model)  # the same values, fewer activations kept for the backward pass
    optimizer = _adamw(loaded.model.parameters(), cfg.lr, cfg.weight_decay, loaded.device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup(cfg.warmup_steps))
    t = Trainer(cfg, loaded, optimizer, scheduler, problems, reward_fn, group=group)
    if cfg.algorithm == "ppo":
        source = resolve_model_source(cfg.critic_model or cfg.model)
        t.critic = build_critic(source, device=loaded.device, dtype=loaded.dtype, trust_remote_code=cfg.trust_remote_code)
        lean_layers.use_lean_layers(t.critic)
        t.critic_optimizer = _adamw(t.critic.parameters(), cfg.critic_lr, cfg.weight_decay, loaded.device)
    if cfg.kl_coef > 0:
        t.reference = load_model(cfg.model, device=device, dtype=cfg.dtype,
                                 trust_remote_code=cfg.trust_remote_code).model.requires_grad_(False)
    if last is not None:
        state = ckpt.load_training_state(last, optimizer=optimizer, scheduler=scheduler, critic=t.critic,
                                         critic_optimizer=t.critic_optimizer)
        t.skipped_total = int(state.get("skipped_total", 0))

    # the run folder appears (or a stopped run's files go) only once everything loaded: a bad
    # setting leaves nothing behind. Only the first process writes it.
    if not group.main:
        for step in range(start + 1, cfg.steps + 1):
            train_step(t, step)
        return None
    plan.clear_stopped_run()
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg.write_yaml(run_dir / "config.yaml")
    log = MetricsLog(run_dir, resume_step=start if last is not None else None)
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


def _adamw(parameters, lr: float, weight_decay: float, device) -> torch.optim.AdamW:
    # the fused kernel (one pass over each tensor instead of a dozen) where torch has one
    fused = torch.device(device).type in ("cpu", "cuda")
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay, fused=fused or None)
    if fused:
        allocate_adam_state(optimizer)
    return optimizer


def allocate_adam_state(optimizer: torch.optim.AdamW) -> None:
    """The state the fused AdamW creates at its first update (a zero step count and zero
    moments per parameter), created now: a machine without the memory for it fails at the
    start, not after a step, and the first steps' working memory is laid out around it, not
    around the holes it would later fill (on a CPU, pages faulted in again at step 2)."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.requires_grad and not optimizer.state[p]:
                optimizer.state[p].update(step=torch.zeros((), dtype=torch.float32, device=p.device),
                                          exp_avg=torch.zeros_like(p, memory_format=torch.preserve_format),
                                          exp_avg_sq=torch.zeros_like(p, memory_format=torch.preserve_format))


def _warmup(steps: int):
    def factor(update: int) -> float:
        return min(1.0, (update + 1) / steps) if steps > 0 else 1.0
    return factor


def _progress_line(row: dict[str, Any], total: int) -> str:
    def fmt(key: str, spec: str = ".3f") -> str:
        value = row.get(key)
        return "-" if value is None else format(value, spec)
    return (f"step {row['step']}/{total}  reward {fmt('reward_mean')}  acc {fmt('accuracy', '.2f')}  "
            f"rollout entropy {fmt('rollout_entropy')}  len {fmt('response_length', '.1f')}  loss {fmt('loss', '.4f')}  "
            f"{fmt('tokens_per_s', '.1f')} tok/s  {fmt('step_s', '.1f')} s")

