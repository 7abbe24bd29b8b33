"""entropy_lens.integrations.trl: entropy-shaped advantages inside a real TRL GRPOTrainer, and
the callback's metrics and rollout table (docs/method.md §5). Tiny Llama built in code, CPU."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

trl = pytest.importorskip("trl", reason="TRL is not installed: pip install -e '.[trl]' runs these tests")

from conftest import build_tiny_model, build_tiny_tokenizer  # noqa: E402

from entropy_lens.errors import UserError  # noqa: E402
from entropy_lens.integrations.trl import EntropyGRPOConfig, EntropyGRPOTrainer, EntropyLensCallback  # noqa: E402
from entropy_lens.integrations.trl_records import exploration_metrics  # noqa: E402

G = 2  # completions per prompt
PROMPTS = [f"What is {i} + {i + 1}?" for i in range(1, 5)]  # the same token count: no left padding


_THREADS = []


def setup_module():
    """One thread for this module: with tiny matrices, threads only contend (tens of ms per
    32x64 product on a busy 2-core machine, instead of microseconds)."""
    _THREADS.append(torch.get_num_threads())
    torch.set_num_threads(1)


def teardown_module():
    torch.set_num_threads(_THREADS.pop())


def reward(completions, completion_ids, **kwargs):
    """Deterministic and varied within a group, so that most advantages are non-zero."""
    return [float(sum(ids) % 5) for ids in completion_ids]


def dataset():
    from datasets import Dataset

    return Dataset.from_list([{"prompt": p, "answer": str(2 * i + 3), "prompt_id": f"q{i}"} for i, p in enumerate(PROMPTS)])


def tiny(seed: int = 0):
    tok = build_tiny_tokenizer()
    model = build_tiny_model(len(tok), seed=seed)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    return model, tok


def settings(tmp_path, **overrides):
    base = dict(output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, report_to=[], max_steps=3,
                per_device_train_batch_size=4, num_generations=G, max_completion_length=10, logging_steps=1,
                gradient_checkpointing=False, save_strategy="no", disable_tqdm=True, learning_rate=1e-2,
                temperature=0.7, epsilon_high=0.28, seed=0)
    return {**base, **overrides}


def make(cls, config_cls, tmp_path, callbacks=None, **overrides):
    model, tok = tiny()
    return cls(model=model, reward_funcs=reward, args=config_cls(**settings(tmp_path, **overrides)),
               train_dataset=dataset(), processing_class=tok, callbacks=callbacks)


def batch_of(trainer):
    """One generation batch as TRL builds it, with old log-probs moved off the current ones so that clipping acts."""
    torch.manual_seed(0)
    trainer.model.train()
    inputs = trainer._generate_and_score_completions([{"prompt": p} for p in PROMPTS[:2] for _ in range(G)])
    with torch.no_grad():
        logps, _ = hand_logps_entropy(trainer.model, inputs, trainer.args.temperature)
    noise = torch.randn(logps.shape, generator=torch.Generator().manual_seed(1)) * 0.3
    inputs["old_per_token_logps"] = (logps.detach() + noise) * inputs["completion_mask"]
    assert (inputs["advantages"] != 0).any()
    return inputs


def hand_logps_entropy(model, inputs, temperature):
    """Log-probs and exact entropies from the model's own full logits (not TRL's fused head)."""
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
    attention = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
    width = inputs["completion_ids"].size(1)
    logits = model(input_ids=ids, attention_mask=attention).logits[:, -width - 1:-1].float() / temperature
    logp_all = torch.log_softmax(logits, dim=-1)
    logps = logp_all.gather(-1, inputs["completion_ids"].unsqueeze(-1)).squeeze(-1)
    return logps, -(logp_all.exp() * logp_all).sum(-1)


def hand_loss(trainer, inputs):
    """TRL 1.16's clipped surrogate and aggregation for ``loss_type``, with A + min(alpha*H, |A|/kappa)."""
    args = trainer.args
    logps, entropy = hand_logps_entropy(trainer.model, inputs, args.temperature)
    mask = inputs["completion_mask"].float()
    a = inputs["advantages"].unsqueeze(1)
    psi = torch.minimum(args.alpha * entropy.detach(), a.abs() / args.kappa) * mask
    shaped = a + psi
    ratio = torch.exp(logps - inputs["old_per_token_logps"])
    if args.loss_type == "cispo":  # clipped, detached ratio times A times log-prob
        per_token = -torch.clamp(ratio, max=args.epsilon_high).detach() * shaped * logps
    else:
        per_token = -torch.min(ratio * shaped, torch.clamp(ratio, 1 - args.epsilon, 1 + args.epsilon_high) * shaped)
    if args.loss_type in ("dapo", "cispo"):
        loss = (per_token * mask).sum() / inputs["num_items_in_batch"]
    elif args.loss_type == "grpo":
        loss = ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)).mean()
    elif args.loss_type == "bnpo":
        loss = (per_token * mask).sum() / mask.sum()
    else:  # dr_grpo
        loss = (per_token * mask).sum() / (mask.size(0) * args.max_completion_length)
    capped = (args.alpha * entropy > a.abs() / args.kappa) & mask.bool() & (a != 0)
    return loss, capped


def loss_and_grads(trainer, inputs):
    trainer.current_gradient_accumulation_steps = 1  # what Trainer.train sets; no accumulation here
    trainer.model.zero_grad()
    loss = trainer.compute_loss(trainer.model, inputs)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in trainer.model.named_parameters()}


def test_importing_entropy_lens_does_not_import_trl():
    code = "import sys, entropy_lens, entropy_lens.integrations; assert 'trl' not in sys.modules, 'trl imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_config_refuses_a_kappa_that_could_flip_the_sign(tmp_path):
    with pytest.raises(ValueError, match="kappa must be > 1"):
        EntropyGRPOConfig(**settings(tmp_path, kappa=1.0))
    with pytest.raises(ValueError, match="alpha"):
        EntropyGRPOConfig(**settings(tmp_path, alpha=-0.1))
    with pytest.raises(TypeError, match="EntropyGRPOConfig"):
        make(EntropyGRPOTrainer, trl.GRPOConfig, tmp_path)


def test_the_callback_needs_the_entropy_trainer(tmp_path):
    plain = make(trl.GRPOTrainer, trl.GRPOConfig, tmp_path, callbacks=[EntropyLensCallback()])
    with pytest.raises(RuntimeError, match="never bound"):
        plain.train()
    with pytest.raises(ValueError, match="only one"):
        make(EntropyGRPOTrainer, EntropyGRPOConfig, tmp_path, callbacks=[EntropyLensCallback(), EntropyLensCallback()])


PLAIN_CASES = [{"loss_type": t} for t in ("dapo", "grpo", "bnpo", "dr_grpo", "cispo", "sapo", "vespo")] + [
    {"top_entropy_quantile": 0.5}, {"loss_type": "grpo", "importance_sampling_level": "sequence"},
    {"entropy_coef": 0.01}]


@pytest.mark.parametrize("options", PLAIN_CASES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_alpha_zero_is_plain_grpo_on_the_same_batch(tmp_path, options):
    plain = make(trl.GRPOTrainer, trl.GRPOConfig, tmp_path, **options)
    ours = make(EntropyGRPOTrainer, EntropyGRPOConfig, tmp_path, **options, alpha=0.0)
    inputs = batch_of(plain)
    ours.model.train()
    loss_plain, grads_plain = loss_and_grads(plain, inputs)
    loss_ours, grads_ours = loss_and_grads(ours, inputs)
    torch.testing.assert_close(loss_ours, loss_plain, rtol=0, atol=1e-6)
    for name, grad in grads_plain.items():
        torch.testing.assert_close(grads_ours[name], grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss_type", ["dapo", "grpo", "bnpo", "dr_grpo", "cispo"])
def test_shaped_loss_equals_the_hand_computation(tmp_path, loss_type):
    ours = make(EntropyGRPOTrainer, EntropyGRPOConfig, tmp_path, loss_type=loss_type, alpha=0.4)
    inputs = batch_of(ours)
    advantages = inputs["advantages"].clone()
    loss, grads = loss_and_grads(ours, inputs)
    assert torch.equal(inputs["advantages"], advantages)  # the batch TRL buffers keeps its own advantages

    ours.model.zero_grad()
    expected, capped = hand_loss(ours, inputs)
    expected.backward()  # no gradient through H: the entropy is detached in both
    assert capped.any() and (~capped & inputs["completion_mask"].bool()).any()  # both sides of the min occur
    torch.testing.assert_close(loss, expected.detach(), rtol=1e-5, atol=1e-6)
    for name, p in ours.model.named_parameters():
        torch.testing.assert_close(grads[name], p.grad, rtol=1e-4, atol=1e-6)
    unshaped = make(EntropyGRPOTrainer, EntropyGRPOConfig, tmp_path, loss_type=loss_type, alpha=0.0)
    unshaped.model.train()
    assert abs(float(loss_and_grads(unshaped, inputs)[0]) - float(loss)) > 1e-4  # the bonus changes the loss


def test_a_newer_trl_that_reads_advantages_first_is_refused(tmp_path, monkeypatch):
    ours = make(EntropyGRPOTrainer, EntropyGRPOConfig, tmp_path)
    inputs = batch_of(ours)
    original = trl.GRPOTrainer._compute_loss

    def reads_first(self, model, batch):
        batch["advantages"]
        return original(self, model, batch)

    monkeypatch.setattr(trl.GRPOTrainer, "_compute_loss", reads_first)
    ours.current_gradient_accumulation_steps = 1
    with pytest.raises(RuntimeError, match="could not be shaped"):
        ours.compute_loss(ours.model, inputs)


def step_rows(frame, step):
    return frame[frame["prompt_id"].str.endswith(f"@step{step}")]


def test_a_tiny_model_trains_and_the_callback_logs_and_writes_the_table(tmp_path):
    from entropy_lens.rollouts.load import read_rollouts
    from entropy_lens.rollouts.validate import check_rollouts

    table = tmp_path / "rollouts"
    callback = EntropyLensCallback(rollout_dir=table)
    trainer = make(EntropyGRPOTrainer, EntropyGRPOConfig, tmp_path, callbacks=[callback], alpha=0.4)
    start, _ = tiny()  # the same initial weights, for the hand check of step 1
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()

    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 3 and all(math.isfinite(h["loss"]) for h in logs)
    assert any(not torch.equal(before[n], p) for n, p in trainer.model.named_parameters())
    names = ["entropy_share", "pivotal_entropy", "pivotal_count", "forking_share", "reflection_frequency", "repetition_rate"]
    assert all(f"entropy_lens/{name}" in h for h in logs for name in names)

    frame = read_rollouts(table)
    checked = check_rollouts(frame)
    assert len(checked.frame) == 12 and not checked.skipped and callback.rows_written == 12
    settings_file = json.loads((table / "_run.json").read_text())["settings"]
    assert settings_file["entropy_temperature"] == settings_file["temperature"] == 0.7
    assert settings_file["alpha"] == 0.4 and settings_file["max_new_tokens"] == 10
    for step, log in enumerate(logs, start=1):
        rows = step_rows(frame, step)
        assert len(rows) == 4 and sorted(rows["sample_id"]) == [0, 0, 1, 1]
        assert {p.split("@")[0] for p in rows["prompt_id"]} <= {"q0", "q1", "q2", "q3"}
        again = exploration_metrics(rows.to_dict("records"), 0.0, 1.0)  # the text metrics, from the table
        for name in names[1:]:  # TRL logs an undefined (NaN) value as None
            logged = log[f"entropy_lens/{name}"]
            assert (logged is None) if math.isnan(again[name]) else logged == pytest.approx(again[name]), name

    # step 1 was trained on the initial weights: its entropies, log-probs and entropy share by hand
    rows = step_rows(frame, 1).sort_values(["prompt_id", "sample_id"])
    assert len({len(p) for p in rows["prompt_token_ids"]}) == 1  # no left padding in that batch
    psi_sum = abs_sum = 0.0
    for prompt_id, group in rows.groupby("prompt_id"):
        r = torch.tensor([float(sum(ids) % 5) for ids in group["token_ids"]])
        advantages = (r - r.mean()) / (r.std() + 1e-4)  # TRL: group mean, Bessel std, + 1e-4
        for a, row in zip(advantages, group.itertuples()):
            ids = torch.tensor([list(row.prompt_token_ids) + list(row.token_ids)])
            with torch.no_grad():
                logits = start(input_ids=ids).logits[0, len(row.prompt_token_ids) - 1:-1] / 0.7
            logp = torch.log_softmax(logits.float(), -1)
            entropy = -(logp.exp() * logp).sum(-1)
            np.testing.assert_allclose(row.entropy, entropy.numpy(), rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(row.logprob, logp[torch.arange(len(row.token_ids)), list(row.token_ids)].numpy(),
                                       rtol=1e-4, atol=1e-5)
            psi = torch.minimum(0.4 * entropy, a.abs() / 2.0)
            psi_sum, abs_sum = psi_sum + float(psi.sum()), abs_sum + float((a + psi).abs().sum())
    assert logs[0]["entropy_lens/entropy_share"] == pytest.approx(psi_sum / abs_sum, rel=1e-4)


def test_iterations_and_accumulation_record_each_completion_once(tmp_path):
    """Two micro-batches per step, two updates per generation: steps 1 and 3 sample, 2 and 4 revisit."""
    from entropy_lens.rollouts.load import read_rollouts

    callback = EntropyLensCallback(tmp_path / "rollouts")
    trainer = make(EntropyGRPOTrainer, EntropyGRPOConfig, tmp_path, callbacks=[callback], per_device_train_batch_size=2,
                   gradient_accumulation_steps=2, num_iterations=2, max_steps=4)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert [sorted(k for k in h if k.startswith("entropy_lens/")) == ["entropy_lens/entropy_share"]
            for h in logs] == [False, True, False, True]
    assert all(0 < h["entropy_lens/entropy_share"] < 1 for h in logs)  # every step's updates add to the share
    frame = read_rollouts(tmp_path / "rollouts")
    assert sorted({p.split("@")[1] for p in frame["prompt_id"]}) == ["step1", "step3"] and len(frame) == 8


def test_the_rollout_folder_is_never_overwritten(tmp_path):
    taken = tmp_path / "notes"
    taken.mkdir()
    (taken / "mine.txt").write_text("keep me")
    with pytest.raises(UserError, match="already holds other files"):
        make(EntropyGRPOTrainer, EntropyGRPOConfig, tmp_path, callbacks=[EntropyLensCallback(taken)])
    assert (taken / "mine.txt").read_text() == "keep me"

    table = tmp_path / "table"
    trainer = make(EntropyGRPOTrainer, EntropyGRPOConfig, tmp_path, callbacks=[EntropyLensCallback(table)], max_steps=1)
    trainer.train()
    with pytest.raises(UserError, match="other settings"):  # another alpha: another run
        make(EntropyGRPOTrainer, EntropyGRPOConfig, tmp_path, callbacks=[EntropyLensCallback(table)], alpha=0.1)
    again = EntropyLensCallback(table)  # the same run resumed: the stored steps are not written twice
    make(EntropyGRPOTrainer, EntropyGRPOConfig, tmp_path, callbacks=[again], max_steps=1).train()
    assert again.rows_written == 0


def test_exploration_metrics_by_hand():
    from entropy_lens.measure.records import response_row

    tok = build_tiny_tokenizer()
    text = "However, wait: we check because 5 is 5. Then we verify."
    ids = tok(text)["input_ids"]
    entropy = [0.1 * i for i in range(len(ids))]
    row = response_row(tok, prompt_id="p", sample_id=0, prompt="q", prompt_token_ids=[1], token_ids=ids,
                       entropy=entropy, logprob=[0.0] * len(ids), answer=None, finish_reason="stop")
    first_token = {w: next(i for i, (a, b) in enumerate(row["offsets"]) if a <= text.index(w) < b)
                   for w in ("However", "because", "Then")}  # the lexicon's words in the text
    pivotal = [entropy[first_token[w]] for w in ("However", "because", "Then")]
    grams = [tuple(ids[i:i + 4]) for i in range(len(ids) - 3)]
    got = exploration_metrics([row], psi_sum=1.0, shaped_abs_sum=4.0)
    assert got["entropy_share"] == 0.25
    assert got["pivotal_count"] == 3 and got["pivotal_entropy"] == pytest.approx(np.mean(pivotal))
    assert got["forking_share"] == pytest.approx(np.mean(np.array(pivotal) > np.quantile(entropy, 0.8)))
    assert got["reflection_frequency"] == 2  # "However, wait: we check ..." and "Then we verify."
    assert got["repetition_rate"] == pytest.approx(1 - len(set(grams)) / len(grams))
    assert exploration_metrics([], 0.0, 0.0) == {"entropy_share": pytest.approx(math.nan, nan_ok=True)}
