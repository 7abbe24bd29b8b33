"""Hooks for other RL frameworks: the paper's entropy-based advantage shaping and this
project's exploration metrics inside their own trainers.

``entropy_lens.integrations.trl``: a TRL ``GRPOTrainer`` subclass, its config and a
``TrainerCallback`` (install with ``pip install -e ".[trl]"``).
``entropy_lens.integrations.verl``: the shaping as a registered veRL 0.9.1 policy loss,
``entropy_adv`` (see its module docstring for the config keys). Nothing here is imported by
``import entropy_lens``: a framework is imported only with its own module.
"""
