"""The bundled RLVR trainer (GRPO / PPO with entropy-based advantage shaping).

Imported as ``entropy_lens_trainer`` so it cannot clash with other packages' ``trainer``.
"""
