"""The trainer on a tiny model built in code: losses by hand, learning, exact resume, NaN
safety, checkpoints, the run folder and bad settings."""

import argparse
import json
import subprocess
import sys

import pytest
import torch

from entropy_lens.errors import UserError
from entropy_lens_trainer import TrainConfig, train
from entropy_lens_trainer import checkpoint as ckpt
from entropy_lens_trainer import losses
from entropy_lens_trainer.losses import clipped_surrogate, logprob_and_entropy
from entropy_lens_trainer.metrics import pivotal_entropies, read_metrics, reflection_count, repetition_rate

TIMING = {"tokens_per_s", "rollout_s", "step_s"}


pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(model_dir, **overrides) -> TrainConfig:
    base = dict(model=str(model_dir), device="cpu", tasks="arithmetic", limit=8, instruction="", prompts_per_step=4,
                group_size=4, max_new_tokens=12, lr=1e-3, critic_lr=1e-3, critic_warmup=1, save_every=0, steps=4,
                batch_size=16)
    base.update(overrides)
    return TrainConfig(**base)


def _says(word):
    """A trivially learnable reward: +1 if the response contains ``word``, else -1."""
    return lambda response, answer: 1.0 if word in response else -1.0


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


# ------------------------------------------------------------------------------ losses


def test_clipped_surrogate_with_clip_higher_by_hand():
    ratio = torch.tensor([[1.5, 0.5, 1.1, 0.7, 1.25, 0.75, 1.5, 0.5]])
    adv = torch.tensor([[1.0, -1.0, 1.0, -1.0, 1.0, -1.0, -1.0, 1.0]])
    old = torch.zeros_like(ratio)
    logprob = ratio.log().requires_grad_()
    loss, stats = clipped_surrogate(logprob, old, adv, torch.ones_like(ratio), eps_low=0.2, eps_high=0.28)
    per_token = [
        -1.28,  # A > 0, ratio above 1 + eps_high: clipped to 1.28
        0.8,    # A < 0, ratio below 1 - eps_low: clipped to 0.8
        -1.1,   # inside the range
        0.8,    # A < 0, 0.7 < 0.8: clipped
        -1.25,  # A > 0, 1.25 < 1.28: NOT clipped (a symmetric 0.2 would clip it)
        0.8,    # A < 0, 0.75 < 0.8: clipped
        1.5,    # A < 0, ratio above the range: the unclipped term is larger, no clip
        -0.5,   # A > 0, ratio below the range: the unclipped term is larger, no clip
    ]
    assert torch.allclose(loss, torch.tensor(sum(per_token) / 8), atol=1e-6)
    assert stats["clip_fraction"] == pytest.approx(4 / 8)
    (grad,) = torch.autograd.grad(loss, logprob)
    clipped = torch.tensor([1, 1, 0, 1, 0, 1, 0, 0], dtype=torch.bool)
    assert torch.count_nonzero(grad[0, clipped]) == 0  # clipped tokens push no further
    assert (grad[0, ~clipped] != 0).all()


def test_clipped_surrogate_is_the_policy_gradient_on_policy():
    logprob = torch.tensor([[-1.0, -2.0, -0.5]], requires_grad=True)
    adv = torch.tensor([[2.0, -1.0, 0.5]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    loss, stats = clipped_surrogate(logprob, logprob.detach(), adv, mask, 0.2, 0.28)
    (grad,) = torch.autograd.grad(loss, logprob)
    assert torch.allclose(grad, torch.tensor([[-1.0, 0.5, 0.0]]))  # -A / n_tokens, padding 0
    assert stats == {"clip_fraction": 0.0, "approx_kl": 0.0}


def test_kl_penalty_is_zero_at_the_reference_and_positive_elsewhere():
    lp = torch.tensor([[-1.0, -2.0]])
    assert float(losses.kl_penalty(lp, lp, torch.ones(1, 2))) == 0.0
    assert float(losses.kl_penalty(lp, lp + 0.3, torch.ones(1, 2))) > 0


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_differentiable_logprob_and_entropy_match_autograd(temperature):
    g = torch.Generator().manual_seed(0)
    raw = torch.randn(3, 5, 70, generator=g) * 3
    raw[0, 0, 3] = float("-inf")  # a masked vocabulary entry
    ids = torch.randint(4, 70, (3, 5), generator=g)
    w1, w2 = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    logits = raw.clone().requires_grad_()
    lp, h = logprob_and_entropy(logits, ids, temperature)
    (grad,) = torch.autograd.grad((lp * w1).sum() + (h * w2).sum(), logits)
    # reference: plain autograd; -1e4 instead of -inf (same probabilities, 0) avoids its 0 * inf
    ref = raw.clamp(min=-1e4).requires_grad_()
    log_p = torch.log_softmax(ref / temperature, dim=-1)
    lp_ref = log_p.gather(-1, ids[..., None]).squeeze(-1)
    h_ref = -(log_p.exp() * log_p).sum(-1)
    (grad_ref,) = torch.autograd.grad((lp_ref * w1).sum() + (h_ref * w2).sum(), ref)
    assert torch.allclose(lp, lp_ref, atol=1e-5)
    assert torch.allclose(h, h_ref, atol=1e-5)
    assert torch.allclose(grad, grad_ref, atol=1e-5)
    assert grad[0, 0, 3] == 0


def test_training_pass_sees_what_the_sampler_saw(tiny):
    """Left-padded prompts of different lengths: the training forward pass gives the
    log-probs and entropies the sampler recorded while generating."""
    from entropy_lens.tasks.load import Problem
    from entropy_lens_trainer.rollout import response_logits, sample_rollouts

    problems = [Problem("a", "What is 3 + 4?", "7"), Problem("b", "Step 1: compute 2 * 6 = 12. Then what?", "12")]
    batch = sample_rollouts(tiny, problems, step=1, group_size=2, seed=0, max_new_tokens=10, temperature=0.9,
                            top_p=1.0, instruction="", chat_template=True)
    with torch.no_grad():
        logits = response_logits(tiny.model, batch.tensors, batch.prompt_width)
        lp, h = logprob_and_entropy(logits, batch.tensors["response_ids"], 0.9)
    for row in range(4):
        n = len(batch.token_ids[row])
        assert torch.allclose(lp[row, :n], torch.tensor(batch.logprob[row]), atol=1e-4)
        assert torch.allclose(h[row, :n], torch.tensor(batch.entropy[row]), atol=1e-4)
    assert batch.tensors["response_mask"].sum() == batch.n_tokens


def test_shared_prompt_prefix_gives_the_full_pass_logits_and_gradients(tiny):
    """GRPO groups run their prompt once: the logits and the weight gradients equal those of
    running every row in full (prompts of different lengths, left-padded)."""
    from entropy_lens.measure.prefix import distinct_prefixes
    from entropy_lens.tasks.load import Problem
    from entropy_lens_trainer import rollout

    problems = [Problem("a", "What is 3 + 4?", "7"), Problem("b", "Step 1: compute 2 * 6 = 12. Then what?", "12")]
    batch = rollout.sample_rollouts(tiny, problems, step=1, group_size=3, seed=0, max_new_tokens=10, temperature=1.0,
                                    top_p=1.0, instruction="", chat_template=True)
    tensors, width = batch.tensors, batch.prompt_width
    first, inverse = distinct_prefixes(tensors["input_ids"], tensors["attention_mask"], width - 1)
    assert first.tolist() == [0, 3] and inverse.tolist() == [0, 0, 0, 1, 1, 1]

    def logits_and_grads(shared: bool):
        tiny.model.zero_grad(set_to_none=True)
        if shared:
            logits = rollout.response_logits(tiny.model, tensors, width)
        else:  # the plain pass over every row: what response_logits does without shared prompts
            keep = torch.arange(width - 1, tensors["input_ids"].shape[1] - 1)
            logits = tiny.model(input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"],
                                position_ids=tensors["position_ids"], use_cache=False, logits_to_keep=keep).logits
        lp, h = logprob_and_entropy(logits, tensors["response_ids"], 1.0)
        mask = tensors["response_mask"].float()
        ((lp + h) * mask).sum().backward()
        return logits.detach(), {n: p.grad.clone() for n, p in tiny.model.named_parameters() if p.grad is not None}

    shared_logits, shared_grads = logits_and_grads(True)
    full_logits, full_grads = logits_and_grads(False)
    tiny.model.zero_grad(set_to_none=True)
    real = tensors["response_mask"].bool()
    assert torch.allclose(shared_logits[real], full_logits[real], atol=1e-5)
    assert shared_grads.keys() == full_grads.keys() and len(full_grads) > 5
    for name, grad in full_grads.items():
        assert torch.allclose(shared_grads[name], grad, atol=1e-5, rtol=1e-4), name


def test_no_shared_prefix_without_repeated_prompts():
    from entropy_lens.measure.prefix import distinct_prefixes

    ids = torch.tensor([[0, 5, 6], [7, 8, 9]])
    assert distinct_prefixes(ids, torch.ones_like(ids), 2) is None
    assert distinct_prefixes(ids, torch.ones_like(ids), 0) is None
    # the same tokens under a different padding mask are different prompts
    same = torch.tensor([[0, 5, 6], [0, 5, 6]])
    assert distinct_prefixes(same, torch.tensor([[0, 1, 1], [1, 1, 1]]), 2) is None


# ------------------------------------------------------------------------------ metrics


def test_text_metrics_by_hand():
    assert repetition_rate([1, 2, 3, 4, 1, 2, 3, 4]) == pytest.approx(1 - 4 / 5)
    assert repetition_rate([1, 2, 3]) is None
    text = "So we add. However, wait: check it. Because 3 + 4 = 7."
    assert reflection_count(text) == 1  # "However, wait: check it." is one reflective sentence
    # one token per character span: "So" (pivotal), ..., "However", "Because"
    offsets = [[0, 2], [2, 10], [10, 19], [19, 36], [36, 43], [43, len(text)]]
    entropy = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert pivotal_entropies(text, offsets, entropy) == [0.1, 0.3, 0.5]


def test_pivotal_entropy_takes_the_token_the_pivotal_analysis_takes():
    # the word's first character is written by two tokens (an empty span, then the rest, as for
    # a multi-byte character): `entropy-lens pivotal` takes the first of them, and so does the trainer
    assert pivotal_entropies("Thus, x", [[0, 0], [0, 4], [4, 7]], [0.9, 0.1, 0.2]) == [0.9]
    assert pivotal_entropies("", [], []) == []


def test_a_log_from_before_the_rename_reads_with_rollout_entropy(tmp_path):
    from entropy_lens_trainer.metrics import MetricsLog

    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps({"step": i, "entropy": h}) + "\n"
                                                    for i, h in ((1, 1.5), (2, 1.25))))
    assert read_metrics(tmp_path)["rollout_entropy"].tolist() == [1.5, 1.25]
    log = MetricsLog(tmp_path, resume_step=1)  # resuming such a run renames the lines it keeps
    log.write({"step": 2, "rollout_entropy": 1.0})
    log.close()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows == [{"step": 1, "rollout_entropy": 1.5}, {"step": 2, "rollout_entropy": 1.0}]


# ------------------------------------------------------------------------------ training


def test_grpo_raises_a_learnable_reward(tiny_model_dir, tmp_path):
    frame = train(_cfg(tiny_model_dir, steps=4), tmp_path / "run", reward_fn=_says("answer"), verbose=False)
    rewards = frame["reward_mean"].tolist()
    assert rewards[-1] > rewards[0] + 0.5
    assert sum(rewards[-2:]) / 2 > sum(rewards[:2]) / 2 + 0.5
    assert (frame["skipped_updates"] == 0).all()


def test_ppo_raises_a_learnable_reward(tiny_model_dir, tmp_path):
    frame = train(_cfg(tiny_model_dir, algorithm="ppo", steps=4, shaping="entropy-adv"), tmp_path / "run",
                  reward_fn=_says("answer"), verbose=False)
    rewards = frame["reward_mean"].tolist()
    assert frame["policy_updates"].tolist()[0] == 0  # step 1: critic pre-training only
    assert rewards[-1] > rewards[0] + 0.5
    assert frame["value_loss"].notna().all()
    share = frame["entropy_share"].dropna()  # psi / |A_shaped|: in [0, 1] since psi <= |A| / kappa
    assert len(share) and share.between(0, 1).all()


@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
def test_resume_reproduces_the_uninterrupted_run(tiny_model_dir, tmp_path, algorithm):
    """Run 4 steps straight; run 2, stop, resume, run 2 more: steps 3-4 have bit-identical
    metrics and the final weights are equal (ppo: the critic is restored too)."""
    steps = 4
    settings = dict(algorithm=algorithm, shaping="entropy-adv", minibatches=2, ppo_epochs=2, warmup_steps=3,
                    max_new_tokens=8, save_every=2)
    reward = _says("answer")
    straight = train(_cfg(tiny_model_dir, **settings, steps=steps), tmp_path / "straight", reward_fn=reward, verbose=False)
    train(_cfg(tiny_model_dir, **settings, steps=2), tmp_path / "resumed", reward_fn=reward, verbose=False)
    resumed = train(_cfg(tiny_model_dir, **settings, steps=steps), tmp_path / "resumed", resume=True, reward_fn=reward,
                    verbose=False)
    assert resumed["step"].tolist() == list(range(1, steps + 1))
    columns = [c for c in straight.columns if c not in TIMING]
    assert {"reward_mean", "loss", "rollout_entropy", "entropy_share", "grad_norm"} <= set(columns)
    a = straight[columns].iloc[2:].reset_index(drop=True)
    b = resumed[columns].iloc[2:].reset_index(drop=True)
    assert a.equals(b), (a.T, b.T)
    assert straight["policy_updates"].iloc[-1] == 4  # two epochs of two minibatches
    last = f"checkpoints/step-{steps:06d}"
    w1, w2 = _weights(tmp_path / "straight" / last), _weights(tmp_path / "resumed" / last)
    assert w1.keys() == w2.keys() and all(torch.equal(w1[k], w2[k]) for k in w1)


def test_micro_batches_change_nothing_but_rounding(tiny_model_dir, tmp_path):
    """Gradient accumulation over uneven micro-batches (batch_size 3 of a minibatch of 8)
    weighs tokens as one pass over the whole minibatch does."""
    settings = dict(steps=2, minibatches=2, shaping="entropy-adv", max_new_tokens=8, kl_coef=0.05)
    whole = train(_cfg(tiny_model_dir, batch_size=16, **settings), tmp_path / "whole", reward_fn=_says("answer"),
                  verbose=False)
    parts = train(_cfg(tiny_model_dir, batch_size=3, **settings), tmp_path / "parts", reward_fn=_says("answer"),
                  verbose=False)
    for key in ("reward_mean", "rollout_entropy", "loss", "grad_norm", "entropy_share", "clip_fraction", "approx_kl", "kl"):
        # approx_kl and kl are differences of nearly equal log-probs: rounding shows at 1e-5
        assert parts[key].tolist() == pytest.approx(whole[key].tolist(), rel=1e-4, abs=1e-5), key


def test_sample_batch_size_samples_the_rollout_batch_at_once_and_changes_nothing_else(tiny_model_dir, tmp_path,
                                                                                      monkeypatch):
    """--sample-batch-size 16 with --batch-size 3: the 16 responses are sampled in one batch,
    the updates still run in micro-batches of 3, and the run matches --batch-size 3 alone."""
    from entropy_lens_trainer import rollout

    settings = dict(steps=2, minibatches=2, shaping="entropy-adv", max_new_tokens=8)
    small = train(_cfg(tiny_model_dir, batch_size=3, **settings), tmp_path / "small", reward_fn=_says("answer"),
                  verbose=False)
    sampled_at, real_sample = [], rollout.sample_rollouts
    micro_sizes, real_micro = [], rollout.micro_batches

    def recording_sample(*args, **kwargs):
        sampled_at.append(kwargs["batch_size"])
        return real_sample(*args, **kwargs)

    def recording_micro(tensors, prompt_width, rows, size):
        micro_sizes.append(size)
        return real_micro(tensors, prompt_width, rows, size)

    monkeypatch.setattr(rollout, "sample_rollouts", recording_sample)
    monkeypatch.setattr(rollout, "micro_batches", recording_micro)
    split = train(_cfg(tiny_model_dir, batch_size=3, sample_batch_size=16, **settings), tmp_path / "split",
                  reward_fn=_says("answer"), verbose=False)
    assert sampled_at == [16, 16] and set(micro_sizes) == {3}
    for key in ("reward_mean", "rollout_entropy", "response_length", "loss", "grad_norm", "entropy_share"):
        assert split[key].tolist() == pytest.approx(small[key].tolist(), rel=1e-4, abs=1e-5), key


def test_nan_reward_skips_the_step_without_touching_the_weights(tiny_model_dir, tmp_path):
    calls = {"n": 0}

    def nan_at_step_two(response, answer):
        calls["n"] += 1
        return float("nan") if 16 < calls["n"] <= 32 else (1.0 if "answer" in response else -1.0)

    frame = train(_cfg(tiny_model_dir, steps=2, save_every=1), tmp_path / "run", reward_fn=nan_at_step_two, verbose=False)
    assert frame["skipped_updates"].tolist() == [0, 1]
    assert frame["skipped_updates_total"].tolist() == [0, 1]
    assert frame["policy_updates"].tolist() == [1, 0]
    w1, w2 = _weights(tmp_path / "run/checkpoints/step-000001"), _weights(tmp_path / "run/checkpoints/step-000002")
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    opt1 = (tmp_path / "run/checkpoints/step-000001/trainer_state/optimizer.safetensors").read_bytes()
    assert opt1 == (tmp_path / "run/checkpoints/step-000002/trainer_state/optimizer.safetensors").read_bytes()


def test_nan_loss_skips_the_update(tiny_model_dir, tmp_path, monkeypatch):
    real = losses.surrogate_terms

    def poisoned(*args, **kwargs):
        return real(*args, **kwargs) * float("nan")

    monkeypatch.setattr(losses, "surrogate_terms", poisoned)
    frame = train(_cfg(tiny_model_dir, steps=1, minibatches=2), tmp_path / "run", reward_fn=_says("answer"), verbose=False)
    assert frame["skipped_updates"].tolist() == [2]
    assert frame["policy_updates"].tolist() == [0]
    initial = _weights(tiny_model_dir)
    final = _weights(tmp_path / "run/checkpoints/step-000001")
    assert all(torch.equal(initial[k], final[k]) for k in initial)


def test_nan_gradient_with_a_finite_loss_is_skipped():
    from entropy_lens_trainer.loop import _clip_and_step

    p = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = torch.optim.AdamW([p], lr=0.1)
    loss = torch.sqrt(p[0] - p[0])  # 0, but d/dp = inf - inf = NaN
    assert torch.isfinite(loss)
    loss.backward()
    assert _clip_and_step([p], opt, 1.0) is None
    assert torch.equal(p.detach(), torch.tensor([1.0, 2.0])) and not opt.state


# ------------------------------------------------------------------------------ run folder, checkpoints


def test_run_folder_holds_config_metrics_events_and_usable_checkpoints(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    train(_cfg(tiny_model_dir, steps=2, shaping="entropy-reg", kl_coef=0.01, save_every=1), out,
          reward_fn=_says("answer"), verbose=False)
    saved = TrainConfig.from_yaml(out / "config.yaml")
    assert saved.shaping == "entropy-reg" and saved.alpha == 0.4  # alpha resolved for the algorithm
    frame = read_metrics(out)
    expected = {"step", "reward_mean", "accuracy", "response_length", "rollout_entropy", "entropy_share", "pivotal_entropy",
                "reflection_frequency", "repetition_rate", "clip_fraction", "approx_kl", "kl", "grad_norm",
                "tokens_per_s", "skipped_updates", "skipped_updates_total", "loss", "lr"}
    assert expected <= set(frame.columns)
    assert frame["step"].tolist() == [1, 2]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000001", "step-000002"]

    from entropy_lens.measure.models import load_model

    loaded = load_model(str(out / "checkpoints/step-000002"), device="cpu")  # usable as --model
    assert loaded.tokenizer.eos_token == "<|im_end|>"

    event_files = list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert len(event_files) == 1
    tb = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = tb.EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("reward_mean")] == [1, 2]
    assert acc.Scalars("rollout_entropy")[0].value == pytest.approx(frame["rollout_entropy"][0], rel=1e-6)


def test_a_crash_during_save_leaves_the_last_good_checkpoint(tiny, tmp_path, monkeypatch):
    model = tiny.model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda n: 1.0)
    kwargs = dict(model=model, tokenizer=tiny.tokenizer, optimizer=opt, scheduler=sched, state={})
    good = ckpt.save_checkpoint(tmp_path, 1, **kwargs)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tiny.tokenizer, "save_pretrained", crash)
    with pytest.raises(OSError):
        ckpt.save_checkpoint(tmp_path, 2, **kwargs)
    assert ckpt.latest_checkpoint(tmp_path) == good
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-000001"]


def test_optimizer_state_round_trips_without_pickle(tmp_path):
    p = torch.nn.Parameter(torch.randn(3, 2))
    opt = torch.optim.AdamW([p], lr=1e-2, betas=(0.8, 0.95))
    p.grad = torch.randn(3, 2)
    opt.step()
    ckpt._save_optimizer(opt, tmp_path, "opt")
    fresh = torch.optim.AdamW([p], lr=1e-2, betas=(0.8, 0.95))
    ckpt._load_optimizer(fresh, tmp_path, "opt")
    a, b = opt.state_dict(), fresh.state_dict()
    assert a["param_groups"] == b["param_groups"]
    assert all(torch.equal(a["state"][0][k], b["state"][0][k]) for k in a["state"][0])
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.pkl"))


# ------------------------------------------------------------------------------ settings


@pytest.mark.parametrize("overrides,message", [
    ({"kappa": 1.0}, "--kappa must be > 1"),
    ({"alpha": -0.1}, "--alpha must be >= 0"),
    ({"group_size": 1}, "grpo needs --group-size >= 2"),
    ({"minibatches": 3}, "does not split into 3 equal minibatches"),
    ({"algorithm": "sac"}, "unknown algorithm"),
    ({"shaping": "bonus"}, "unknown shaping"),
])
def test_bad_settings_raise_user_error(overrides, message):
    with pytest.raises(UserError, match=message):
        TrainConfig(**overrides).validate()


def test_ppo_accepts_a_group_of_one():
    TrainConfig(algorithm="ppo", group_size=1).validate()


def _parse(argv):
    from entropy_lens.cli.train import add_parsers, train_config_from_args

    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    return train_config_from_args(parser.parse_args(["train", *argv]))


def test_yaml_config_with_flags_overriding(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("algorithm: ppo\nsteps: 3\nlr: 1e-6\nshaping: entropy-adv\nchat_template: false\n")
    cfg = _parse(["--out", str(tmp_path / "run"), "--config", str(path), "--steps", "7", "--kappa", "3"])
    assert (cfg.algorithm, cfg.steps, cfg.kappa, cfg.lr, cfg.chat_template) == ("ppo", 7, 3.0, 1e-6, False)
    assert cfg.effective_alpha == 0.1  # the paper's PPO value
    assert _parse(["--out", str(tmp_path / "run"), "--alpha", "0.2"]).alpha == 0.2


@pytest.mark.parametrize("text,message", [("steps: many\n", "steps must be of type int"), ("bogus: 1\n", "unknown setting"),
                                          ("[1, 2]\n", "mapping")])
def test_bad_yaml_is_a_user_error(tmp_path, text, message):
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        _parse(["--out", str(tmp_path / "run"), "--config", str(path)])


def test_cli_flag_errors_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="--kappa must be > 1"):
        _parse(["--out", str(tmp_path / "run"), "--shaping", "entropy-adv", "--kappa", "0.5"])
    with pytest.raises(UserError, match="group-size"):
        _parse(["--out", str(tmp_path / "run"), "--group-size", "1"])


def test_cli_trains_then_resumes_from_the_run_config(tiny_model_dir, tmp_path, monkeypatch):
    from entropy_lens.cli.train import add_parsers
    from entropy_lens.cli.train import run as run_train

    (tmp_path / "word_reward.py").write_text("def score(response, answer):\n    return 1.0 if 'answer' in response else -1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    out = tmp_path / "run"
    first = ["train", "--out", str(out), "--model", str(tiny_model_dir), "--device", "cpu", "--limit", "4",
             "--prompts-per-step", "2", "--max-new-tokens", "6", "--steps", "1", "--reward", "word_reward:score",
             "--no-chat-template", "--shaping", "entropy-adv"]
    line = run_train(parser.parse_args(first))
    assert line.startswith(f"{out}: 1 steps, reward ") and "step-000001" in line
    # --resume takes every setting from OUT/config.yaml; only --steps is new
    line = run_train(parser.parse_args(["train", "--out", str(out), "--resume", "--steps", "2"]))
    assert line.startswith(f"{out}: 2 steps") and "step-000002" in line
    saved = TrainConfig.from_yaml(out / "config.yaml")
    assert (saved.steps, saved.chat_template, saved.reward, saved.max_new_tokens) == (2, False, "word_reward:score", 6)
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_run_folder_guards(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    train(_cfg(tiny_model_dir, steps=1), out, reward_fn=_says("answer"), verbose=False)
    with pytest.raises(UserError, match="--resume"):
        train(_cfg(tiny_model_dir, steps=2), out, reward_fn=_says("answer"), verbose=False)
    with pytest.raises(UserError, match="differ"):
        train(_cfg(tiny_model_dir, steps=2, lr=0.5), out, resume=True, reward_fn=_says("answer"), verbose=False)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("mine")
    with pytest.raises(UserError, match="not a training run"):
        train(_cfg(tiny_model_dir), tmp_path / "notes", resume=True, verbose=False)
    with pytest.raises(UserError, match="does not exist"):  # fails before anything is written
        train(_cfg(tmp_path / "no-model"), tmp_path / "fresh", verbose=False)
    assert not (tmp_path / "fresh").exists()
    # resuming a finished run again is a no-op that returns its metrics
    assert train(_cfg(tiny_model_dir, steps=1), out, resume=True, verbose=False)["step"].tolist() == [1]


def _run_folder(kind, path, model_dir):
    """A run folder of one kind, made by hand (no training)."""
    if kind == "absent":
        return path
    path.mkdir()
    if kind == "empty":
        return path
    if kind == "not a run":
        (path / "notes.md").write_text("mine")
        return path
    cfg = _cfg(model_dir)
    cfg.alpha = cfg.effective_alpha  # as train() writes it
    cfg.write_yaml(path / "config.yaml")
    (path / "metrics.jsonl").write_text(json.dumps({"step": 1}) + "\n")
    (path / "tensorboard").mkdir()
    (path / "checkpoints" / ".partial-step-000002-x").mkdir(parents=True)  # a save that was killed
    if kind == "checkpointed":
        (path / "checkpoints" / "step-000001" / "trainer_state").mkdir(parents=True)
        (path / "checkpoints" / "step-000001" / "trainer_state" / "state.json").write_text("{}")
    if kind == "stopped, and the user's file":
        (path / "notes.md").write_text("mine")
    return path


START, RESTART, CONTINUE = "start", "restart", "continue"


@pytest.mark.parametrize("kind, new, resume, or_start", [
    ("absent", START, "does not exist, so there is no run", START),
    ("empty", START, "is empty, so there is no run", START),
    ("checkpointed", "pass --resume", CONTINUE, CONTINUE),
    ("stopped", "stopped before its first checkpoint", "holds no checkpoint", RESTART),
    ("stopped, and the user's file", "files other than a run's", "holds no checkpoint", "files other than a run's"),
    ("not a run", "already holds files", "not a training run", "not a training run"),
])
def test_what_each_mode_does_with_each_run_folder(kind, new, resume, or_start, tiny_model_dir, tmp_path):
    """The table of entropy_lens_trainer.rundir: start, restart, continue, or an error naming the folder."""
    from entropy_lens_trainer.rundir import plan_run

    out = _run_folder(kind, tmp_path / "run", tiny_model_dir)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    for mode, expected in ((False, new), (True, resume), ("or-start", or_start)):
        if expected in (START, RESTART, CONTINUE):
            plan = plan_run(out, _cfg(tiny_model_dir), mode)
            got = CONTINUE if plan.checkpoint else RESTART if plan.restart else START
            assert got == expected, mode
            assert plan.start_step == (1 if got == CONTINUE else 0)
        else:
            with pytest.raises(UserError, match=expected) as error:
                plan_run(out, _cfg(tiny_model_dir), mode)
            assert str(out) in str(error.value)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # planning writes nothing


def test_resume_flags_of_the_cli(tmp_path):
    from entropy_lens.cli.train import add_parsers

    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    out = ["train", "--out", str(tmp_path)]
    assert parser.parse_args(out).resume is False
    assert parser.parse_args(out + ["--resume"]).resume is True
    assert parser.parse_args(out + ["--resume-or-start"]).resume == "or-start"
    with pytest.raises(SystemExit):
        parser.parse_args(out + ["--resume", "--resume-or-start"])


def test_a_run_stopped_before_its_first_checkpoint_is_started_again(tiny_model_dir, tmp_path):
    """Stopped in step 2 with no checkpoint: --resume has nothing to continue, --resume-or-start
    takes step 1 again (identically) and finishes; one TensorBoard file remains."""
    out = tmp_path / "run"
    cfg = _cfg(tiny_model_dir, steps=2, max_new_tokens=6)
    calls = {"n": 0}

    def stop_in_step_two(response, answer):
        calls["n"] += 1
        if calls["n"] > cfg.rollout_batch:
            raise KeyboardInterrupt
        return 1.0 if "answer" in response else -1.0

    with pytest.raises(KeyboardInterrupt):
        train(cfg, out, reward_fn=stop_in_step_two, verbose=False)
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "metrics.jsonl", "tensorboard"]
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1
    with pytest.raises(UserError, match="holds no checkpoint"):
        train(cfg, out, resume=True, verbose=False)

    with pytest.raises(UserError, match="pass --resume-or-start"):
        train(cfg, out, verbose=False)  # a plain rerun does not replace the stopped run's files unasked
    again = train(cfg, out, resume="or-start", reward_fn=_says("answer"), verbose=False)
    assert again["step"].tolist() == [1, 2]
    first_before = {k: v for k, v in json.loads(lines[0]).items() if k not in TIMING}
    first_again = {k: v for k, v in json.loads((out / "metrics.jsonl").read_text().splitlines()[0]).items()
                   if k not in TIMING}
    assert first_again == first_before
    assert len(list((out / "tensorboard").glob("events.out.tfevents.*"))) == 1
    assert ckpt.latest_checkpoint(out).name == "step-000002"


def test_bad_settings_and_run_folders_are_refused_before_torch_is_imported(tmp_path):
    """`entropy-lens train` in a fresh process: exit 2, one line each, no torch or transformers
    imported and no --out folder made."""
    out = tmp_path / "X"
    cases = [(["--steps", "0"], "--steps must be >= 1"),
             (["--shaping", "entropy-adv", "--kappa", "1"], "--kappa must be > 1"),
             (["--group-size", "1"], "grpo needs --group-size >= 2"),
             (["--max-new-tokens", "0"], "--max-new-tokens must be >= 1"),
             (["--resume"], f"--resume: {out} does not exist")]
    code = ("import json, sys\n"
            "from entropy_lens.cli.main import main\n"
            "codes = [main(['train', *argv, '--out', sys.argv[1]]) for argv in json.loads(sys.argv[2])]\n"
            "print(json.dumps([codes, [m for m in ('torch', 'transformers') if m in sys.modules]]))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(out), json.dumps([argv for argv, _ in cases])],
                          capture_output=True, text=True, timeout=120)
    codes, heavy = json.loads(proc.stdout)
    assert codes == [2] * len(cases) and heavy == [], proc.stderr
    errors = proc.stderr.splitlines()
    assert len(errors) == len(cases), proc.stderr
    for line, (_, message) in zip(errors, cases):
        assert line.startswith("error: ") and message in line, line
    assert not out.exists()


def test_reward_spec_loading(tmp_path, monkeypatch):
    from entropy_lens_trainer.rewards import load_reward, outcome_reward

    (tmp_path / "my_rewards.py").write_text("def score(response, answer):\n    return 0.5\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_reward("my_rewards:score")("x", "1") == 0.5
    assert load_reward(None) is outcome_reward
    assert outcome_reward("so the answer is 7", "7") == 1.0 and outcome_reward("it is 8", "7") == -1.0
    for spec, message in [("nocolon", "module:function"), ("no_such_module_xyz:f", "could not import"),
                          ("my_rewards:missing", "no function")]:
        with pytest.raises(UserError, match=message):
            load_reward(spec)


def test_reasoned_outcome_needs_working_in_words_and_follows_the_truncation_rule():
    from entropy_lens_trainer.rewards import load_reward, reasoned_outcome, score_responses

    worked = "First add the ones, then carry the ten, so the total is sixty. The answer is 60."
    assert reasoned_outcome(worked, "60") == 1.0
    assert reasoned_outcome(worked, "61") == -1.0
    assert reasoned_outcome("57 + 3 = 60", "60") == -1.0        # right, but no working in words
    assert reasoned_outcome("60", "60") == -1.0
    assert load_reward("entropy_lens_trainer.rewards:reasoned_outcome") is reasoned_outcome
    # cut off at max_new_tokens with no stated answer: wrong, as for the outcome reward
    cut = "First add the ones, then carry the ten, so the total comes to 60"
    assert score_responses(reasoned_outcome, [cut, cut], ["60", "60"], ["stop", "length"]) == [1.0, -1.0]
    assert score_responses(reasoned_outcome, [cut], ["60"], ["length"], lenient_truncated=True) == [1.0]
    # a user's reward with a truncated keyword learns it too; one without is called with two arguments
    told = lambda response, answer, *, truncated=False: -1.0 if truncated else 1.0  # noqa: E731
    assert score_responses(told, ["a", "b"], ["1", "1"], ["stop", "length"]) == [1.0, -1.0]
    assert score_responses(lambda response, answer: 0.5, ["a"], ["1"], ["length"]) == [0.5]


def test_masked_tokens_carry_no_policy_gradient():
    """The 80/20 baseline: a token outside the kept share contributes nothing to the gradient,
    and the loss is still a mean over all response tokens."""
    logprob = torch.tensor([[-1.0, -2.0, -0.5], [-0.3, -1.5, -9.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    keep = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    advantages = torch.tensor([[0.5, 0.5, 0.5], [-1.0, -1.0, -1.0]])
    loss, _ = losses.clipped_surrogate(logprob, logprob.detach(), advantages, mask, 0.2, 0.28, keep)
    loss.backward()
    # on policy the gradient of each kept token is -A / (number of response tokens)
    expected = -(advantages * keep) / mask.sum()
    assert torch.allclose(logprob.grad, expected)
    assert (logprob.grad[keep == 0] == 0).all()


def test_top_entropy_quantile_trains_on_that_share_of_tokens(tiny_model_dir, tmp_path):
    frame = train(_cfg(tiny_model_dir, steps=2, top_entropy_quantile=0.2), tmp_path / "run",
                  reward_fn=_says("answer"), verbose=False)
    share = frame["gradient_token_share"]
    assert ((share > 0.1) & (share <= 0.3)).all(), share.tolist()  # ties at the threshold may add a few
    full = train(_cfg(tiny_model_dir, steps=1), tmp_path / "full", reward_fn=_says("answer"), verbose=False)
    assert full["gradient_token_share"].tolist() == [1.0]


@pytest.mark.parametrize("q", [0.0, -0.1, 1.5])
def test_top_entropy_quantile_out_of_range_is_refused(q):
    with pytest.raises(UserError, match="--top-entropy-quantile must be in"):
        TrainConfig(top_entropy_quantile=q).validate()


def test_adam_state_allocated_up_front_updates_exactly_as_the_lazy_one():
    from entropy_lens_trainer.loop import allocate_adam_state

    torch.manual_seed(0)
    weights = [torch.randn(5, 3), torch.randn(7)]
    runs = []
    for up_front in (False, True):
        params = [torch.nn.Parameter(w.clone()) for w in weights]
        optimizer = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.01, fused=True)
        if up_front:
            allocate_adam_state(optimizer)
            assert all(len(optimizer.state[p]) == 3 for p in params)
        for step in range(3):
            for k, p in enumerate(params):
                p.grad = torch.sin(torch.arange(p.numel(), dtype=torch.float32) * (step + k + 1)).view_as(p)
            optimizer.step()
        runs.append((params, optimizer.state_dict()))
    (lazy, lazy_state), (early, early_state) = runs
    for a, b in zip(lazy, early):
        assert torch.equal(a, b)
    for key in lazy_state["state"]:
        for name, value in lazy_state["state"][key].items():
            assert torch.equal(value, early_state["state"][key][name]) and value.dtype == early_state["state"][key][name].dtype
