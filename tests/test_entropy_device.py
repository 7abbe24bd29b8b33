"""Device-aware chunking of entropy_lens.measure.entropy: the rule (any machine), the CUDA path (a GPU)."""

from __future__ import annotations

import math

import pytest
import torch
from test_entropy import check_masked, close, masked_logits, mixed_logits, random_ids, reference

from entropy_lens.measure import entropy as ent
from entropy_lens.measure.entropy import (
    entropy_and_logprob,
    entropy_and_logprob_from_hidden,
    hidden_rows_per_chunk,
    rows_per_chunk,
    token_entropy,
)

MiB = 2**20
cuda = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA GPU on this machine: the CUDA path of token_entropy is tested where one is present",
)


def n_chunks(rows: int, vocab: int, device_type: str) -> int:
    return math.ceil(rows / rows_per_chunk(vocab, device_type, rows))


def work_bytes(rows: int, vocab: int, device_type: str) -> int:
    """The two float32 work buffers of one chunk: all the V-sized extra memory."""
    return 2 * rows_per_chunk(vocab, device_type, rows) * vocab * 4


# --- the rule, on any machine ------------------------------------------------------------


@pytest.mark.parametrize("vocab", [1000, 32000, 49152, 151936, 1 << 21])
def test_cpu_rule_is_unchanged(vocab: int) -> None:
    # 1.5M elements a chunk (32 rows of 49152), at least one row, never more rows than exist.
    assert rows_per_chunk(vocab, "cpu", 1 << 20) == max(1, (3 << 19) // vocab)
    assert rows_per_chunk(vocab, "cpu", 5) == min(5, max(1, (3 << 19) // vocab))
    assert rows_per_chunk(49152, "cpu", 4096) == 32
    assert n_chunks(4096, 49152, "cpu") == 128


def test_cuda_rule_4096_x_49152() -> None:
    # An eighth of the logits a chunk: 8 chunks where the CPU takes 128, and the two work
    # buffers are 192 MiB: a quarter of the 768 MiB of float32 logits.
    assert rows_per_chunk(49152, "cuda", 4096) == 512
    assert n_chunks(4096, 49152, "cuda") == 8
    assert work_bytes(4096, 49152, "cuda") == 192 * MiB


@pytest.mark.parametrize("device_type", ["cuda", "xpu", "mps"])
@pytest.mark.parametrize(
    "rows, vocab",
    [(256, 4096), (1000, 32000), (2730, 49152), (4096, 49152), (8192, 151936), (65536, 151936), (3, 1 << 27)],
)
def test_accelerator_chunks_are_few_and_memory_bounded(device_type: str, rows: int, vocab: int) -> None:
    step = rows_per_chunk(vocab, device_type, rows)
    chunks, cpu_chunks, logits = math.ceil(rows / step), n_chunks(rows, vocab, "cpu"), rows * vocab
    if logits <= 1 << 24:
        assert chunks == 1  # a small tensor is one pass
    elif logits <= 1 << 29:
        assert chunks <= 9  # an eighth each, give or take a row of rounding
    else:
        assert step == (1 << 26) // vocab  # the cap binds: chunks as large as allowed
    assert chunks * 8 <= cpu_chunks or cpu_chunks < 8  # far fewer than on a CPU
    if step > 1:  # one row of a vocabulary over 64M is the one unavoidable excess
        # Bounded extra memory: 1 byte per logit above a 128 MiB floor, 512 MiB at most.
        extra = work_bytes(rows, vocab, device_type)
        assert extra <= max(128 * MiB, logits) and extra <= 512 * MiB


@pytest.mark.parametrize("device_type", ["cpu", "cuda"])
def test_chunk_rows_overrides_the_device(device_type: str) -> None:
    assert rows_per_chunk(49152, device_type, 4096, chunk_rows=7) == 7
    assert rows_per_chunk(49152, device_type, 4096, chunk_rows=0) == 1
    assert rows_per_chunk(49152, device_type, 5, chunk_rows=64) == 5
    assert rows_per_chunk(49152, device_type, 0) == 1


def test_hidden_rule() -> None:
    assert hidden_rows_per_chunk(49152, "cpu") == 256
    assert hidden_rows_per_chunk(49152, "cuda") == (1 << 26) // 49152  # 256 MiB of float32 logits
    assert hidden_rows_per_chunk(151936, "cuda") == 441
    assert hidden_rows_per_chunk(1 << 20, "cuda") == 256  # never fewer than the CPU's


def test_from_hidden_default_takes_256_then_the_device_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the default does on an accelerator, on this machine: the first call's logits show
    # V, then every later call takes hidden_rows_per_chunk(V, device) positions.
    monkeypatch.setattr(ent, "hidden_rows_per_chunk", lambda vocab, device_type: 100 if vocab == 300 else 1)
    torch.manual_seed(12)
    head = torch.nn.Linear(8, 300)
    head.weight.data *= 6
    hidden = torch.randn(600, 8)
    ids = torch.randint(300, (600,))
    calls = []

    def to_logits(h: torch.Tensor) -> torch.Tensor:
        calls.append(h.shape[0])
        return head(h)

    with torch.no_grad():
        h, lp = entropy_and_logprob_from_hidden(hidden, to_logits, ids, 0.6)
        logits = head(hidden)
    assert calls == [256, 100, 100, 100, 44]
    want_h, want_lp = reference(logits, 0.6, ids)
    close(h, want_h)
    close(lp, want_lp)


# --- the CUDA path, where a GPU is present ----------------------------------------------


def on_cuda(x: torch.Tensor) -> torch.Tensor:
    return x.to("cuda")


@cuda
@pytest.mark.parametrize("temperature", [0.6, 1.0, 2.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_cuda_matches_float64_reference(dtype: torch.dtype, temperature: float) -> None:
    logits = on_cuda(mixed_logits(4, 13, 1000).to(dtype))
    ids = on_cuda(random_ids(logits))
    want_h, want_lp = reference(logits, temperature, ids)
    h = token_entropy(logits, temperature)
    assert h.device.type == "cuda" and h.shape == (4, 13)
    close(h, want_h)
    h, lp = entropy_and_logprob(logits, ids, temperature)
    close(h, want_h)
    close(lp, want_lp)


@cuda
@pytest.mark.parametrize("temperature", [0.6, 1.0])
def test_cuda_several_chunks(monkeypatch: pytest.MonkeyPatch, temperature: float) -> None:
    # A smaller floor, so a small tensor spans the accelerator rule's ~8 chunks.
    monkeypatch.setattr(ent, "_ACCEL_MIN_ELEMENTS", 1 << 12)
    logits = on_cuda(mixed_logits(67, 4096, seed=13))  # 67 rows: 8 does not divide it
    assert rows_per_chunk(4096, "cuda", 67) == 8
    ids = on_cuda(random_ids(logits))
    want_h, want_lp = reference(logits, temperature, ids)
    close(token_entropy(logits, temperature), want_h)
    h, lp = entropy_and_logprob(logits, ids, temperature)
    close(h, want_h)
    close(lp, want_lp)


@cuda
def test_cuda_full_size_is_exact_in_bounded_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    # The benchmark's shape: 4096 x 49152 float32 (768 MiB) in 8 chunks of 512 rows.
    asked = []

    def spy(*args):
        asked.append((args, rows_per_chunk(*args)))
        return asked[-1][1]

    monkeypatch.setattr(ent, "rows_per_chunk", spy)
    gen = torch.Generator(device="cuda").manual_seed(14)
    logits = torch.empty(4096, 49152, device="cuda").normal_(generator=gen).mul_(3.0)
    logits[::7] *= 10  # peaked rows too
    want = torch.cat([reference(block) for block in logits.split(256)])
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    h = token_entropy(logits)
    torch.cuda.synchronize()
    extra = torch.cuda.max_memory_allocated() - before
    close(h, want)
    assert asked == [((49152, "cuda", 4096, None), 512)]  # the device's rule, not the CPU's 32 rows
    assert extra <= 192 * MiB + 4 * MiB  # two 96 MiB buffers; small per-row stats
    assert extra <= logits.numel() * logits.element_size() / 4 + 4 * MiB


@cuda
@pytest.mark.parametrize("temperature", [0.6, 1.0, 2.0])
def test_cuda_negative_infinity_logits_are_masked_not_nan(temperature: float) -> None:
    logits, ids = masked_logits()
    check_masked(on_cuda(logits), on_cuda(ids), temperature)


@cuda
def test_cuda_nan_logit_gives_nan_entropy() -> None:
    logits = on_cuda(torch.randn(3, 100))
    logits[1, 5] = float("nan")
    h = token_entropy(logits)
    assert torch.isnan(h[1]) and torch.isfinite(h[[0, 2]]).all()


@cuda
def test_cuda_non_contiguous_input() -> None:
    full = on_cuda(mixed_logits(3, 9, 200, seed=9))
    before = full.clone()
    for logits in (full[:, :-1], full.transpose(0, 1), full[..., ::2]):
        ids = on_cuda(random_ids(logits))
        want_h, want_lp = reference(logits, 2.0, ids)
        h, lp = entropy_and_logprob(logits, ids, 2.0)
        assert h.shape == logits.shape[:-1]
        close(h, want_h)
        close(lp, want_lp)
        close(token_entropy(logits, 2.0, chunk_rows=4), want_h)
    assert torch.equal(full, before)


@cuda
def test_cuda_agrees_with_cpu() -> None:
    logits = mixed_logits(40, 1 << 15, seed=15)
    ids = random_ids(logits)
    cpu_h, cpu_lp = entropy_and_logprob(logits, ids, 0.6)
    gpu_h, gpu_lp = entropy_and_logprob(on_cuda(logits), on_cuda(ids), 0.6)
    torch.testing.assert_close(gpu_h.cpu(), cpu_h, atol=1e-5, rtol=1e-6)
    torch.testing.assert_close(gpu_lp.cpu(), cpu_lp, atol=1e-5, rtol=1e-6)


@cuda
@pytest.mark.parametrize("temperature", [0.6, 1.0])
def test_cuda_from_hidden_matches_full_logits(temperature: float) -> None:
    torch.manual_seed(11)
    head = torch.nn.Linear(16, 500).cuda()
    head.weight.data *= 8
    hidden = torch.randn(1000, 16, device="cuda")  # 256 positions, then the other 744 at once
    ids = torch.randint(500, (1000,), device="cuda")
    with torch.no_grad():
        logits = head(hidden)
        h, lp = entropy_and_logprob_from_hidden(hidden, head, ids, temperature)
    assert h.device.type == "cuda"
    want_h, want_lp = reference(logits, temperature, ids)
    close(h, want_h)
    close(lp, want_lp)
