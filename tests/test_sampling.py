import pytest
import torch

from entropy_lens.measure.sampling import RecordingSampler, draw_tokens, stream_seed, warped_probs


def _hf_probs(logits, temperature, top_p, top_k):
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    warpers = LogitsProcessorList([TemperatureLogitsWarper(temperature)])
    if top_k:
        warpers.append(TopKLogitsWarper(top_k))
    if top_p < 1:
        warpers.append(TopPLogitsWarper(top_p))
    return torch.softmax(warpers(None, logits.clone()), dim=-1)


def test_warped_probs_match_hf_warpers():
    torch.manual_seed(0)
    logits = torch.randn(6, 300) * 3
    for temperature, top_p, top_k in [(0.6, 0.95, 0), (1.0, 0.5, 0), (0.8, 1.0, 20), (1.3, 0.9, 50)]:
        ours = warped_probs(logits, temperature, top_p, top_k)
        theirs = _hf_probs(logits, temperature, top_p, top_k)
        assert torch.allclose(ours, theirs, atol=1e-6), (temperature, top_p, top_k)


def test_tiny_top_p_keeps_only_the_most_likely_token():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.9]])
    probs = warped_probs(logits, 1.0, top_p=1e-6)
    assert probs[0].tolist() == [0.0, 1.0, 0.0, 0.0]


def test_sampled_frequencies_follow_the_distribution():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    sampler = RecordingSampler([123], torch.device("cpu"), temperature=1.0, top_p=1.0, top_k=0)
    counts = torch.zeros(4)
    for _ in range(20000):
        counts[sampler.choose(logits)] += 1
    freq = counts / counts.sum()
    # 4 standard errors of a binomial proportion at n=20000 is < 0.015
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.15, 0.05]), atol=0.015), freq


def test_sampler_records_raw_entropy_and_returns_one_hot_scores():
    torch.manual_seed(1)
    logits = torch.randn(3, 50)
    sampler = RecordingSampler([1, 2, 3], torch.device("cpu"), temperature=0.6, top_p=0.9, top_k=0)
    scores = sampler(None, logits)
    tokens = scores.argmax(-1)
    assert torch.isinf(scores).sum() == 3 * 49
    logp = torch.log_softmax(logits.double(), -1)
    assert torch.allclose(sampler.entropy[0].double(), -(logp.exp() * logp).sum(-1), atol=1e-5)
    assert torch.allclose(sampler.logprob[0].double(), logp.gather(-1, tokens[:, None]).squeeze(-1), atol=1e-5)


def test_stream_seeds_are_stable_and_distinct():
    assert stream_seed(0, "p1", 0) == stream_seed(0, "p1", 0)
    seeds = {stream_seed(s, p, i) for s in (0, 1) for p in ("p1", "p2") for i in range(3)}
    assert len(seeds) == 12


@pytest.mark.parametrize("rows", [1, 5, 40])  # 40: more rows than one block of uniforms
def test_draws_are_torchs_multinomial_draws_with_the_same_generator_states_after(rows):
    own = [torch.Generator().manual_seed(1000 + i) for i in range(rows)]
    theirs = [torch.Generator().manual_seed(1000 + i) for i in range(rows)]
    logits = torch.randn(rows, 3000, generator=torch.Generator().manual_seed(rows)) * 4
    for temperature, top_p in [(1.0, 1.0), (0.6, 0.9), (1.0, 1e-6), (2.0, 0.95)]:
        probs = warped_probs(logits, temperature, top_p)  # with top-p, exact zeros too
        expected = torch.cat([torch.multinomial(probs[i], 1, generator=g) for i, g in enumerate(theirs)])
        assert torch.equal(draw_tokens(probs, own), expected), (temperature, top_p)
    assert all(torch.equal(a.get_state(), b.get_state()) for a, b in zip(own, theirs))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.5])
def test_a_row_that_is_not_a_distribution_is_refused(bad):
    probs = torch.tensor([[0.5, 0.5], [bad, 1.5]])
    with pytest.raises(ValueError, match="not finite"):
        draw_tokens(probs, [torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)])
