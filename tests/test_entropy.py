"""entropy_lens.measure.entropy against an independent float64 full-softmax reference."""

from __future__ import annotations

import math

import pytest
import torch

from entropy_lens.measure.entropy import entropy_and_logprob, entropy_and_logprob_from_hidden, token_entropy

ATOL = 1e-5  # float32 result vs float64 truth
RTOL = 1e-6  # log-probs reach -1e3 on peaked rows; float32 keeps ~7 digits of them


def reference(logits: torch.Tensor, temperature: float = 1.0, token_ids: torch.Tensor | None = None):
    """Entropy (and token log-probs) in float64 from a full log_softmax: the ground truth."""
    logp = torch.log_softmax(logits.double() / temperature, dim=-1)
    # where(): a -inf logit has p = 0, and its term p * log p is 0 (not 0 * -inf = NaN).
    terms = torch.where(logp.isfinite(), logp.exp() * logp, torch.zeros_like(logp))
    entropy = -terms.sum(-1)
    if token_ids is None:
        return entropy
    return entropy, logp.gather(-1, token_ids.unsqueeze(-1)).squeeze(-1)


def close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert actual.dtype == torch.float32
    torch.testing.assert_close(actual.double(), expected, atol=ATOL, rtol=RTOL)


def mixed_logits(*shape: int, seed: int = 0) -> torch.Tensor:
    """Logits whose rows range from flat (scale 0.1) to very peaked (scale 50)."""
    gen = torch.Generator().manual_seed(seed)
    scales = torch.tensor([0.1, 1.0, 3.0, 10.0, 50.0])
    row_scale = scales[torch.randint(len(scales), shape[:-1], generator=gen)]
    shift = torch.randn(shape[:-1], generator=gen).unsqueeze(-1) * 20  # softmax ignores it
    return torch.randn(shape, generator=gen) * row_scale.unsqueeze(-1) + shift


def random_ids(logits: torch.Tensor, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(logits.shape[-1], logits.shape[:-1], generator=gen)


@pytest.mark.parametrize("temperature", [0.6, 1.0, 2.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_matches_float64_reference(dtype: torch.dtype, temperature: float) -> None:
    logits = mixed_logits(4, 13, 1000).to(dtype)
    ids = random_ids(logits)
    # The reference sees exactly the values the function sees: the upcast low-precision ones.
    want_h, want_lp = reference(logits, temperature, ids)
    close(token_entropy(logits, temperature), want_h)
    h, lp = entropy_and_logprob(logits, ids, temperature)
    close(h, want_h)
    close(lp, want_lp)


def test_large_vocabulary_stays_exact() -> None:
    # A 2**17 vocabulary: sums over it must not drift by more than float32 allows.
    logits = torch.randn(6, 1 << 17, generator=torch.Generator().manual_seed(3)) * 3
    close(token_entropy(logits), reference(logits))


def test_known_values() -> None:
    vocab = 1000
    uniform = torch.zeros(2, vocab)
    close(token_entropy(uniform), torch.full((2,), math.log(vocab), dtype=torch.float64))
    one_hot = torch.zeros(vocab)
    one_hot[7] = 1e4
    close(token_entropy(one_hot), torch.tensor(0.0, dtype=torch.float64))
    two_way = torch.full((vocab,), -float("inf"))
    two_way[[3, 9]] = 5.0
    close(token_entropy(two_way), torch.tensor(math.log(2), dtype=torch.float64))


def masked_logits() -> tuple[torch.Tensor, torch.Tensor]:
    """Logits with 30% of entries -inf and a row with one finite logit; ids[0] is masked."""
    logits = mixed_logits(5, 800, seed=4)
    gen = torch.Generator().manual_seed(5)
    logits[torch.rand(logits.shape, generator=gen) < 0.3] = -float("inf")
    logits[2, 1:] = -float("inf")  # a single finite logit: entropy 0
    logits[2, 0] = 3.0
    ids = random_ids(logits)
    ids[0] = int(torch.nonzero(logits[0] == -float("inf"))[0])  # a masked token
    return logits, ids


def check_masked(logits: torch.Tensor, ids: torch.Tensor, temperature: float) -> None:
    want_h, want_lp = reference(logits, temperature, ids)
    h, lp = entropy_and_logprob(logits, ids, temperature)
    assert torch.isfinite(h).all()
    close(h, want_h)
    assert lp[0] == -float("inf")
    close(lp[1:], want_lp[1:])
    close(token_entropy(logits.bfloat16(), temperature), reference(logits.bfloat16(), temperature))


@pytest.mark.parametrize("temperature", [0.6, 1.0, 2.0])
def test_negative_infinity_logits_are_masked_not_nan(temperature: float) -> None:
    check_masked(*masked_logits(), temperature)


def test_nan_logit_gives_nan_entropy() -> None:
    logits = torch.randn(3, 100)
    logits[1, 5] = float("nan")
    h = token_entropy(logits)
    assert torch.isnan(h[1]) and torch.isfinite(h[[0, 2]]).all()


@pytest.mark.parametrize("chunk_rows", [1, 3, 4, 10, 64, None])
def test_chunk_boundaries(chunk_rows: int | None) -> None:
    logits = mixed_logits(10, 300, seed=6)  # 10 rows: 3 and 4 do not divide it
    ids = random_ids(logits)
    want_h, want_lp = reference(logits, 0.6, ids)
    close(token_entropy(logits, 0.6, chunk_rows=chunk_rows), want_h)
    h, lp = entropy_and_logprob(logits, ids, 0.6, chunk_rows=chunk_rows)
    close(h, want_h)
    close(lp, want_lp)


def test_default_chunking_spans_many_chunks() -> None:
    # Default chunks hold 1.5M elements: 2**17 columns -> 12 rows a chunk, 40 rows -> 4 chunks.
    logits = mixed_logits(40, 1 << 17, seed=7)
    close(token_entropy(logits), reference(logits))


@pytest.mark.parametrize("shape", [(300,), (7, 300), (2, 5, 300), (2, 3, 4, 300)])
def test_leading_shapes(shape: tuple[int, ...]) -> None:
    logits = mixed_logits(*shape, seed=8)
    ids = random_ids(logits)
    h = token_entropy(logits, chunk_rows=3)
    assert h.shape == shape[:-1]
    close(h, reference(logits))
    h, lp = entropy_and_logprob(logits, ids, chunk_rows=3)
    assert h.shape == lp.shape == shape[:-1]
    want_h, want_lp = reference(logits, 1.0, ids)
    close(h, want_h)
    close(lp, want_lp)


def test_non_contiguous_input() -> None:
    full = mixed_logits(3, 9, 200, seed=9)
    for logits in (full[:, :-1], full.transpose(0, 1), full[..., ::2]):
        ids = random_ids(logits)
        want_h, want_lp = reference(logits, 2.0, ids)
        h, lp = entropy_and_logprob(logits, ids, 2.0, chunk_rows=4)
        close(h, want_h)
        close(lp, want_lp)


def test_input_is_not_modified() -> None:
    logits = mixed_logits(6, 100, seed=10)
    before = logits.clone()
    entropy_and_logprob(logits, random_ids(logits), 0.6)
    assert torch.equal(logits, before)


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan")])
def test_rejects_non_positive_temperature(temperature: float) -> None:
    logits = torch.randn(2, 10)
    ids = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="temperature"):
        token_entropy(logits, temperature)
    with pytest.raises(ValueError, match="temperature"):
        entropy_and_logprob(logits, ids, temperature)
    with pytest.raises(ValueError, match="temperature"):
        entropy_and_logprob_from_hidden(torch.randn(2, 4), torch.nn.Linear(4, 10), ids, temperature)


@pytest.mark.parametrize("temperature", [0.6, 1.0])
def test_from_hidden_matches_full_logits(temperature: float) -> None:
    torch.manual_seed(11)
    head = torch.nn.Linear(16, 500)
    head.weight.data *= 8  # peaked rows too
    hidden = torch.randn(23, 16)
    ids = torch.randint(500, (23,))
    with torch.no_grad():
        logits = head(hidden)
        h, lp = entropy_and_logprob_from_hidden(hidden, head, ids, temperature, chunk_rows=5)
    want_h, want_lp = entropy_and_logprob(logits, ids, temperature)
    # Not bit-equal: a matmul over 5 rows may round differently from one over 23.
    torch.testing.assert_close(h, want_h, atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(lp, want_lp, atol=ATOL, rtol=RTOL)
    ref_h, ref_lp = reference(logits, temperature, ids)
    close(h, ref_h)
    close(lp, ref_lp)
