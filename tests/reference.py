"""Independent float64 references for entropies and log-probs: one plain forward pass over
the whole sequence (no cache, no batching, no chunking), then a float64 full softmax."""

from __future__ import annotations


def full_forward_reference(model, prompt_ids, response_ids, temperature: float = 1.0):
    """Entropy and log-prob (float64) of each response token."""
    import torch

    ids = torch.tensor([list(prompt_ids) + list(response_ids)])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].double() / temperature
    start = len(prompt_ids) - 1
    picked = logits[start : start + len(response_ids)]
    logp = torch.log_softmax(picked, dim=-1)
    entropy = -(logp.exp() * logp).sum(-1)
    logprob = logp.gather(-1, torch.tensor(list(response_ids))[:, None]).squeeze(-1)
    return entropy, logprob
