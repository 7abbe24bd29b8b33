"""``entropy-lens generate``: batched sampling that records, for every response token, the
exact full-vocabulary entropy of the raw policy and the log-prob of the sampled token."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from entropy_lens.measure.config import GenerateConfig
from entropy_lens.errors import UserError
from entropy_lens.measure.models import LoadedModel, load_model
from entropy_lens.progress import progress_bar
from entropy_lens.measure.prompts import prompt_token_ids
from entropy_lens.measure.records import response_row
from entropy_lens.rollouts.store import RolloutStore, RowSink
from entropy_lens.tasks.load import Problem, load_tasks


@dataclass
class WorkItem:
    problem: Problem
    sample_id: int
    prompt_ids: list[int]


def eos_token_ids(loaded: LoadedModel) -> list[int]:
    ids: set[int] = set()
    configured = loaded.model.generation_config.eos_token_id
    if configured is not None:
        ids.update(configured if isinstance(configured, (list, tuple)) else [configured])
    if loaded.tokenizer.eos_token_id is not None:
        ids.add(loaded.tokenizer.eos_token_id)
    return sorted(int(i) for i in ids)


def sample_batch(loaded: LoadedModel, prompts: list[list[int]], seeds: list[int], cfg: GenerateConfig, *,
                 ignore_eos: bool = False) -> list[dict[str, Any]]:
    """Sample one response per prompt. Returns token_ids / entropy / logprob lists and finish_reason.

    ``ignore_eos`` keeps sampling past EOS to ``max_new_tokens`` (for fixed-work benchmarks).
    """
    import torch
    from transformers import GenerationConfig, LogitsProcessorList

    from entropy_lens.measure.kv_cache import reserved_cache
    from entropy_lens.measure.prefix import (cache_keyword, distinct_prefixes, left_pad, left_padded_positions,
                                             prefix_cache)
    from entropy_lens.measure.sampling import RecordingSampler

    device = loaded.device
    pad_id = loaded.tokenizer.pad_token_id
    width = max(len(p) for p in prompts)
    input_ids, attention = left_pad(prompts, pad_id)  # every prompt ends where generation starts
    eos_ids = [] if ignore_eos else eos_token_ids(loaded)
    sampler = RecordingSampler(seeds, device, temperature=cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k,
                               entropy_temperature=cfg.entropy_temperature)
    # Greedy over the sampler's one-hot scores; every other processor is switched off so
    # the sampler sees the raw logits.
    gen_config = GenerationConfig(
        max_new_tokens=cfg.max_new_tokens, do_sample=False, num_beams=1, use_cache=True,
        eos_token_id=eos_ids or None, pad_token_id=pad_id, temperature=None, top_p=None, top_k=None,
    )
    input_ids, attention = input_ids.to(device), attention.to(device)
    with torch.inference_mode():
        # rows repeating a prompt (--n samples, GRPO groups) share one prefill of it
        shared = distinct_prefixes(input_ids, attention, width - 1)
        cache = None if shared is None else prefix_cache(loaded.model, input_ids, attention,
                                                         left_padded_positions(attention), width - 1, *shared)
        cache = reserved_cache(loaded.model, width + cfg.max_new_tokens, cache)  # no copy of the cache per token
        extra = {} if cache is None else {cache_keyword(loaded.model): cache}
        sequences = loaded.model.generate(
            input_ids=input_ids, attention_mask=attention,
            generation_config=gen_config, logits_processor=LogitsProcessorList([sampler]), **extra,
        )
    new_tokens = sequences[:, width:].cpu()
    tokens, entropy, logprob = sampler.history()
    steps = new_tokens.shape[1]
    if not torch.equal(tokens[:, :steps][new_tokens != pad_id], new_tokens[new_tokens != pad_id]):
        raise RuntimeError("generate() did not follow the recording sampler; another logits processor is active")
    results = []
    eos = torch.tensor(eos_ids, dtype=torch.long)
    for row in range(len(prompts)):
        is_eos = torch.isin(tokens[row, :steps], eos).nonzero()
        length = int(is_eos[0]) + 1 if len(is_eos) else steps
        results.append({
            "token_ids": tokens[row, :length].tolist(),
            "entropy": entropy[row, :length].tolist(),
            "logprob": logprob[row, :length].tolist(),
            "finish_reason": "stop" if len(is_eos) else "length",
        })
    return results


def _work_items(problems: list[Problem], cfg: GenerateConfig, tokenizer, done: set) -> list[WorkItem]:
    items = []
    for problem in problems:
        ids = None
        for sample_id in range(cfg.n):
            if (problem.prompt_id, sample_id) in done:
                continue
            if ids is None:
                ids = prompt_token_ids(tokenizer, problem.prompt, cfg.instruction, chat_template=cfg.chat_template)
            items.append(WorkItem(problem, sample_id, ids))
    return items


def _batches(items: list[WorkItem], size: int) -> Iterator[list[WorkItem]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _hf_sampler(loaded: LoadedModel, cfg: GenerateConfig):
    return lambda prompts, seeds: sample_batch(loaded, prompts, seeds, cfg), lambda: None


def _vllm_sampler(loaded: LoadedModel, cfg: GenerateConfig, items: list[WorkItem]):
    """vLLM samples a round; the teacher-forced pass adds the exact entropy and log-prob."""
    from entropy_lens.measure.vllm_engine import VllmSampler, add_exact_values

    longest = max((len(it.prompt_ids) for it in items), default=1)
    engine = VllmSampler(loaded, cfg, longest_prompt=longest, eos_ids=eos_token_ids(loaded))

    def sample(prompts, seeds):
        return add_exact_values(loaded, prompts, engine.sample(prompts, seeds), cfg.entropy_temperature)
    return sample, engine.close


def run_generate(cfg: GenerateConfig, out: str | Path | None = None, *, loaded: LoadedModel | None = None,
                 show_progress: bool = True):
    """Generate ``cfg.n`` responses per problem; returns the rollout table as a DataFrame.

    With ``out`` the rows are written as resumable shards there (and the whole table in it
    is returned); without, nothing is written. ``cfg.backend`` picks the sampling engine;
    both give the same exact columns (see ``measure/vllm_engine.py``).
    """
    from entropy_lens.measure.sampling import stream_seed
    from entropy_lens.rollouts.schema import arrow_schema
    from entropy_lens import __version__

    cfg.validate()
    problems = load_tasks(cfg.tasks, cfg.limit)
    use_vllm = cfg.backend == "vllm"
    store = None
    if out is not None:
        info = {"entropy_lens_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "columns": "see README: The rollout table"}
        store = RolloutStore(Path(out), cfg.run_settings(), info, schema=arrow_schema(engine_logprob=use_vllm))
        store.check()  # fail on a bad --out before spending time on the model
    close = lambda: None  # noqa: E731
    try:
        # a finished table (a rerun) needs no model: only its rows are read back
        existing = store.existing_keys() if store is not None else set()
        finished = store is not None and all((p.prompt_id, i) in existing for p in problems for i in range(cfg.n))
        if loaded is None and not finished:
            loaded = load_model(cfg.model, device=cfg.device, dtype=cfg.dtype, trust_remote_code=cfg.trust_remote_code)
        if store is not None:
            store.open()  # a failure below removes what this made (store.abandon)
        items = [] if finished else _work_items(problems, cfg, loaded.tokenizer, store.done if store else set())
        sink = RowSink(store)
        if items:  # a finished run starts no engine
            sample, close = (_vllm_sampler(loaded, cfg, items) if use_vllm else _hf_sampler(loaded, cfg))
        total = len(problems) * cfg.n
        with progress_bar(total=total, initial=total - len(items), desc="generate", unit="resp",
                          enabled=show_progress) as bar:
            for batch in _batches(items, cfg.batch_size):
                started = time.perf_counter()
                seeds = [stream_seed(cfg.seed, it.problem.prompt_id, it.sample_id) for it in batch]
                sampled = sample([it.prompt_ids for it in batch], seeds)
                batch_rows = [
                    response_row(loaded.tokenizer, prompt_id=it.problem.prompt_id, sample_id=it.sample_id,
                                 prompt=it.problem.prompt, prompt_token_ids=it.prompt_ids, answer=it.problem.answer,
                                 lenient_truncated=cfg.lenient_truncated, **s)
                    for it, s in zip(batch, sampled)
                ]
                sink.add(batch_rows)
                n_tokens = sum(len(s["token_ids"]) for s in sampled)
                bar.record(len(batch), n_tokens, time.perf_counter() - started)
    except BaseException:
        if store is not None:
            store.abandon()
        raise
    finally:
        close()
    table = sink.table()
    if use_vllm and show_progress:
        from entropy_lens.measure.vllm_engine import gap_line

        print(gap_line(table, cfg.entropy_temperature), file=sys.stderr)
    return table


def generate(model: str | LoadedModel = "smollm2", tasks: str = "arithmetic", *, out: str | Path | None = None,
             show_progress: bool = True, **options: Any):
    """Python API of ``entropy-lens generate``; keyword options as the CLI flags (``n``, ``limit``,
    ``max_new_tokens``, ``temperature``, ``top_p``, ``top_k``, ``batch_size``, ``seed``, ...).

    ``model`` may be a name/path or an already loaded :class:`LoadedModel`. Returns the
    rollout table (pandas DataFrame).
    """
    loaded = model if isinstance(model, LoadedModel) else None
    name = model.name if loaded else model
    try:
        cfg = GenerateConfig(model=name, tasks=tasks, **options)
    except TypeError as exc:
        raise UserError(f"generate() got an unknown option ({exc})", "see `entropy-lens generate --help` for the options") from None
    return run_generate(cfg, out, loaded=loaded, show_progress=show_progress)
