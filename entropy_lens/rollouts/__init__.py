"""The rollout table: one row per response, the contract between measure/ (which writes it)
and analyses/ (which read it)."""

from entropy_lens.rollouts.load import load_rollouts, read_rollouts

__all__ = ["load_rollouts", "read_rollouts"]
