"""The rollout table: one row per response, the contract between measure/ (which writes it)
and analyses/ (which read it)."""

from entropy_lens.rollouts.store import read_rollouts

__all__ = ["read_rollouts"]
