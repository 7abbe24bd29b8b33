"""Independent float64 references for entropies and log-probs (full softmax, no chunking)."""

from __future__ import annotations


def full_forward_reference(model, prompt_ids, response_ids, temperature: float = 1.0):
    """Entropy and log-prob of each response token from one plain float64 forward pass."""
    import copy

    import torch

    reference = copy.deepcopy(model).double()
    ids = torch.tensor([list(prompt_ids) + list(response_ids)])
    with torch.no_grad():
        logits = reference(input_ids=ids).logits[0].double() / temperature
    start = len(prompt_ids) - 1
    picked = logits[start : start + len(response_ids)]
    logp = torch.log_softmax(picked, dim=-1)
    entropy = -(logp.exp() * logp).sum(-1)
    logprob = logp.gather(-1, torch.tensor(list(response_ids))[:, None]).squeeze(-1)
    return entropy, logprob
