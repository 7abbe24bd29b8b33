"""PPO's critic: a separate transformer body with a scalar value head.

The body starts from the policy's weights (or ``--critic-model``), the head from zeros
(every value starts at 0). Kept apart from the policy, as in veRL, so that critic
pre-training never moves the policy.
"""

from __future__ import annotations

import torch


class Critic(torch.nn.Module):
    def __init__(self, body: torch.nn.Module, hidden_size: int):
        super().__init__()
        self.body = body
        self.head = torch.nn.Linear(hidden_size, 1)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    def forward(self, tensors: dict[str, torch.Tensor], prompt_width: int) -> torch.Tensor:
        """Values ``(B, R)``, float32: V at the state before each response token."""
        input_ids = tensors["input_ids"]
        hidden = self.body(input_ids=input_ids, attention_mask=tensors["attention_mask"],
                           position_ids=tensors["position_ids"], use_cache=False).last_hidden_state
        states = hidden[:, prompt_width - 1:input_ids.shape[1] - 1]
        return self.head(states.to(self.head.weight.dtype)).squeeze(-1).float()


def build_critic(source: str, *, device, dtype, trust_remote_code: bool = False) -> Critic:
    """A critic whose body is loaded from the model folder or hub id ``source``."""
    from transformers import AutoModelForCausalLM

    # Load the causal LM and keep its body: the same weights the policy starts from, with
    # no "unexpected lm_head" report; the LM head is dropped.
    body = AutoModelForCausalLM.from_pretrained(str(source), dtype=dtype, trust_remote_code=trust_remote_code).base_model
    critic = Critic(body, body.config.hidden_size).to(device=device, dtype=dtype)
    critic.head.float()  # the head and the values stay float32
    return critic.eval()
