"""``entropy-lens score``: teacher-forced entropies and log-probs for existing responses.

One forward pass per batch gives the final hidden states; the LM head is then applied a
chunk of positions at a time (``entropy_and_logprob_from_hidden``), so the full
``T x V`` logits of a long response never exist.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from entropy_lens.measure.config import ScoreConfig
from entropy_lens.errors import UserError
from entropy_lens.measure.models import LoadedModel, load_model
from entropy_lens.progress import progress_bar
from entropy_lens.measure.prompts import prompt_token_ids
from entropy_lens.measure.records import response_row
from entropy_lens.rollouts.store import RolloutStore, RowSink
from entropy_lens.measure.score_inputs import ScoreItem, input_digest, read_score_items


# Config attributes by which a model's forward transforms the LM head's output
LOGIT_TRANSFORMS = ("logit_scale", "logits_scaling", "final_logit_softcapping")


def logits_head(model) -> Callable:
    """hidden -> logits exactly as the model's forward computes them (softcapping and
    logit scaling of Gemma 2 / Cohere / Granite included)."""
    import torch

    head = model.get_output_embeddings()
    scale, divide, softcap = (getattr(model.config, name, None) for name in LOGIT_TRANSFORMS)

    def to_logits(hidden):
        logits = head(hidden)
        if scale is not None:
            logits = logits * scale
        if divide is not None:
            logits = logits / divide
        if softcap is not None:
            logits = torch.tanh(logits / softcap) * softcap
        return logits

    return to_logits


def plain_head_weight(model):
    """The LM head's weight when ``logits_head`` is exactly ``hidden @ weight.T`` (a bias-free
    ``Linear``, no scaling or softcapping), else None."""
    import torch

    head = model.get_output_embeddings()
    plain = (isinstance(head, torch.nn.Linear) and head.bias is None
             and all(getattr(model.config, name, None) is None for name in LOGIT_TRANSFORMS))
    return head.weight if plain else None


def _tokenize_response(tokenizer, text: str) -> tuple[list[int], list[list[int]]]:
    """Response tokens and their character spans, from the tokenizer's offset mapping.

    Byte-level tokens that split one character report overlapping spans; each token keeps
    only what its predecessors did not cover, so spans stay disjoint and in order.
    """
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets, covered = [], 0
    for start, end in enc["offset_mapping"]:
        start = max(start, covered)
        end = max(end, start)
        offsets.append([start, end])
        covered = end
    return list(enc["input_ids"]), offsets


def score_batch(loaded: LoadedModel, prompts: list[list[int]], responses: list[list[int]], temperature: float):
    """Teacher-forced (entropy, logprob) lists for each response given its prompt."""
    import torch

    from entropy_lens.measure.entropy import entropy_and_logprob_from_hidden

    device = loaded.device
    pad_id = loaded.tokenizer.pad_token_id
    lengths = [len(p) + len(r) for p, r in zip(prompts, responses)]
    width = max(lengths)
    input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    rows, cols, targets = [], [], []
    for b, (p, r) in enumerate(zip(prompts, responses)):  # right padding: positions start at 0
        input_ids[b, : len(p) + len(r)] = torch.tensor(p + r, dtype=torch.long)
        attention[b, : len(p) + len(r)] = 1
        # logits at position i predict token i + 1
        rows += [b] * len(r)
        cols += range(len(p) - 1, len(p) + len(r) - 1)
        targets += r
    with torch.inference_mode():
        decoder = loaded.model.get_decoder()
        hidden = decoder(input_ids=input_ids.to(device), attention_mask=attention.to(device)).last_hidden_state
        picked = hidden[torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)]
        entropy, logprob = entropy_and_logprob_from_hidden(
            picked, logits_head(loaded.model), torch.tensor(targets, dtype=torch.long, device=device), temperature)
    entropy, logprob = entropy.cpu().tolist(), logprob.cpu().tolist()
    out, start = [], 0
    for r in responses:
        out.append((entropy[start : start + len(r)], logprob[start : start + len(r)]))
        start += len(r)
    return out


def _prepare(item: ScoreItem, loaded: LoadedModel, cfg: ScoreConfig) -> dict[str, Any]:
    tok = loaded.tokenizer
    prompt_ids = item.prompt_token_ids or prompt_token_ids(tok, item.prompt, cfg.instruction, chat_template=cfg.chat_template)
    if not prompt_ids:
        raise UserError(f"prompt of {item.prompt_id} tokenizes to nothing", "give each row a non-empty prompt")
    if item.token_ids is not None:
        decoded = tok.decode(item.token_ids, skip_special_tokens=True)
        if decoded != item.response:
            raise UserError(f"token_ids of ({item.prompt_id}, {item.sample_id}) do not decode to its response with this model's tokenizer",
                            "drop the token_ids column to tokenize the response text instead")
        return {"prompt_ids": prompt_ids, "token_ids": item.token_ids, "response": None, "offsets": None}
    token_ids, offsets = _tokenize_response(tok, item.response)
    return {"prompt_ids": prompt_ids, "token_ids": token_ids, "response": item.response, "offsets": offsets}


def run_score(cfg: ScoreConfig, out: str | Path | None = None, *, loaded: LoadedModel | None = None,
              show_progress: bool = True):
    """Score every prompt/response pair of ``cfg.input``; returns the rollout table."""
    from entropy_lens import __version__

    cfg.validate()
    if not cfg.input:
        raise UserError("no input given", "pass --input FILE (JSONL or Parquet with prompt and response columns)")
    items = read_score_items(cfg.input)
    store = None
    if out is not None:
        info = {"entropy_lens_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "input": str(Path(cfg.input).resolve())}
        store = RolloutStore(Path(out), cfg.run_settings(input_digest(Path(cfg.input))), info)
        store.check()
    try:
        if loaded is None:
            loaded = load_model(cfg.model, device=cfg.device, dtype=cfg.dtype, trust_remote_code=cfg.trust_remote_code)
        if store is not None:
            store.open()
        todo = [it for it in items if store is None or (it.prompt_id, it.sample_id) not in store.done]
        prepared = [_prepare(it, loaded, cfg) for it in todo]
        # Similar lengths share a batch: less padding, same results.
        order = sorted(range(len(todo)), key=lambda i: len(prepared[i]["prompt_ids"]) + len(prepared[i]["token_ids"]))
        sink = RowSink(store)
        with progress_bar(total=len(items), initial=len(items) - len(todo), desc="score", unit="resp",
                          enabled=show_progress) as bar:
            for start in range(0, len(order), cfg.batch_size):
                began = time.perf_counter()
                batch = order[start : start + cfg.batch_size]
                values = score_batch(loaded, [prepared[i]["prompt_ids"] for i in batch],
                                     [prepared[i]["token_ids"] for i in batch], cfg.entropy_temperature)
                batch_rows = []
                for i, (entropy, logprob) in zip(batch, values):
                    it, prep = todo[i], prepared[i]
                    batch_rows.append(response_row(
                        loaded.tokenizer, prompt_id=it.prompt_id, sample_id=it.sample_id, prompt=it.prompt,
                        prompt_token_ids=prep["prompt_ids"], token_ids=prep["token_ids"], entropy=entropy, logprob=logprob,
                        answer=it.answer, finish_reason=it.finish_reason, response=prep["response"], offsets=prep["offsets"],
                        lenient_truncated=cfg.lenient_truncated))
                sink.add(batch_rows)
                bar.record(len(batch), sum(len(prepared[i]["token_ids"]) for i in batch), time.perf_counter() - began)
    except BaseException:
        if store is not None:
            store.abandon()
        raise
    return sink.table()


def score(model: str | LoadedModel = "smollm2", input: str | Path | None = None, *, out: str | Path | None = None,
          show_progress: bool = True, **options: Any):
    """Python API of ``entropy-lens score``. Returns the rollout table (pandas DataFrame)."""
    loaded = model if isinstance(model, LoadedModel) else None
    name = model.name if loaded else model
    try:
        cfg = ScoreConfig(model=name, input=None if input is None else str(input), **options)
    except TypeError as exc:
        raise UserError(f"score() got an unknown option ({exc})", "see `entropy-lens score --help` for the options") from None
    return run_score(cfg, out, loaded=loaded, show_progress=show_progress)
