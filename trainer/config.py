"""``TrainConfig``: every trainer setting, its default and its help text.

The same dataclass feeds the CLI flags (``entropy-lens train --help``), the YAML file of
``--config`` and the ``config.yaml`` written into each run folder. The settings that mean
what they mean in ``generate`` and ``score`` (the model and how it is loaded, how a problem
becomes a prompt, ``--limit``, ``--max-new-tokens``) are those commands' own option groups
of ``entropy_lens.measure.config``; only the ones whose default or meaning differs are
declared again here, each saying why. No torch import here (nor in what it imports), so
bad settings are reported at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from entropy_lens.errors import UserError
from entropy_lens.measure.config import GenerateConfig, ModelSource, PromptOptions, field_types, option_like
from entropy_lens.measure.config import option as _opt

ALGORITHMS = ("grpo", "ppo")
SHAPINGS = ("none", "entropy-adv", "entropy-reg")
DEFAULT_ALPHA = {"grpo": 0.4, "ppo": 0.1}  # the paper's values

# Settings that may differ between a run and its --resume: they change neither the
# steps already taken nor the ones to come.
RESUMABLE_CHANGES = ("steps", "save_every", "device", "batch_size", "sample_batch_size")


@dataclass
class TrainConfig(PromptOptions, ModelSource):
    """Fields first from ``ModelSource`` (model, device, dtype, trust_remote_code), then
    ``PromptOptions`` (instruction, chat_template), then the trainer's own."""

    # Training keeps float32 master weights unless told otherwise (the optimiser's small
    # updates vanish in bfloat16), where generate/score default to bfloat16 on a GPU; and
    # float16 is refused. So the default and the choices differ: the trainer's own help.
    dtype: str = _opt("float32", "weights and training dtype: float32, bfloat16, or auto (bfloat16 on a GPU); entropy and losses are always float32")
    # what to train on. Not generate's --tasks help: the default reward needs an answer column
    tasks: str = _opt("arithmetic", "training problems: a built-in task set, a known HF dataset id, or a local JSONL/Parquet file with prompt and answer columns")
    limit: int | None = option_like(GenerateConfig, "limit")
    reward: str | None = _opt(None, "reward function 'module:function' called as f(response, answer) -> float "
                                    "(default: +1 if the final answer is correct, -1 otherwise)")
    lenient_truncated: bool = option_like(GenerateConfig, "lenient_truncated")  # for the default reward
    # algorithm and shaping
    algorithm: str = _opt("grpo", "policy-gradient algorithm", choices=list(ALGORITHMS))
    shaping: str = _opt("none", "entropy term: none, entropy-adv (add min(alpha*H, |A|/kappa) to the advantage, "
                                "no gradient through H) or entropy-reg (loss -= beta * mean entropy, gradient through H)",
                        choices=list(SHAPINGS))
    alpha: float | None = _opt(None, "entropy-adv: weight of the entropy bonus (default: 0.4 for grpo, 0.1 for ppo)")
    kappa: float = _opt(2.0, "entropy-adv: the bonus is at most |A|/kappa; must be > 1 so no advantage changes sign")
    beta: float = _opt(0.001, "entropy-reg: entropy regularisation coefficient")
    top_entropy_quantile: float = _opt(1.0, "train only on this share of the response tokens, those of highest entropy "
                                            "('Beyond the 80/20 Rule', Wang et al. 2025: 0.2); the rest get no policy "
                                            "gradient. Ranked by the sampling policy's entropy over the whole rollout "
                                            "batch; 1.0 = every token")
    # rollouts
    steps: int = _opt(100, "training steps (one rollout batch and its updates per step)")
    prompts_per_step: int = _opt(4, "problems per rollout batch")
    group_size: int = _opt(4, "responses sampled per problem (G); grpo needs >= 2")
    # generate's option; a shorter default, since every step samples a whole rollout batch
    max_new_tokens: int = option_like(GenerateConfig, "max_new_tokens", 256)
    # Not generate's sampling options: the trained log-probs and the logged entropy are at this
    # temperature too (generate records them at --entropy-temperature), and sampling must be
    # on-policy, so 1.0 and top-p off by default (generate: 0.6 and 0.95).
    temperature: float = _opt(1.0, "rollout sampling temperature; also the temperature of the trained log-probs and entropy")
    top_p: float = _opt(1.0, "rollout nucleus sampling threshold (1.0 = off; anything else makes rollouts off-policy)")
    # Not generate's --batch-size: here it is also the micro-batch of the gradient accumulation
    batch_size: int = _opt(8, "sequences per forward pass, in sampling and in the updates (gradients are accumulated "
                              "over a minibatch); it changes memory and speed, the results only up to float rounding")
    # Decoding reads every weight once per new token whatever the batch, so sampling more
    # sequences at once is nearly free, while the update's activations grow with each one.
    sample_batch_size: int | None = _opt(None, "sequences sampled at once, if not --batch-size: e.g. the whole rollout "
                                               "batch with a smaller --batch-size for the updates (faster sampling, "
                                               "the update's memory unchanged); the responses do not depend on it")
    # policy optimisation
    ppo_epochs: int = _opt(1, "passes over each rollout batch")
    minibatches: int = _opt(1, "optimiser updates per pass; the rollout batch (prompts_per_step * group_size) must divide evenly")
    eps_low: float = _opt(0.2, "clip range below 1 of the probability ratio")
    eps_high: float = _opt(0.28, "clip range above 1 of the probability ratio (Clip-Higher)")
    lr: float = _opt(1e-6, "policy learning rate (AdamW)")
    weight_decay: float = _opt(0.01, "AdamW weight decay")
    warmup_steps: int = _opt(0, "linear learning-rate warm-up, in optimiser updates")
    max_grad_norm: float = _opt(1.0, "clip the gradient to this global norm (0 = no clipping)")
    kl_coef: float = _opt(0.0, "weight of a KL penalty to the frozen initial policy (k3 estimator); 0 = no reference model")
    # ppo critic
    critic_model: str | None = _opt(None, "ppo: model whose body the critic starts from (default: the policy model)")
    critic_lr: float = _opt(1e-5, "ppo: critic learning rate")
    critic_warmup: int = _opt(3, "ppo: first steps that train only the critic (critic pre-training)")
    gamma: float = _opt(1.0, "ppo: GAE discount")
    lam: float = _opt(1.0, "ppo: GAE lambda")
    value_clip: float = _opt(0.5, "ppo: clip range of the value update")
    # bookkeeping (not generate's --seed help: more than the sampling streams derive from it)
    seed: int = _opt(0, "random seed: prompt order, sampling streams and minibatch order derive from it")
    save_every: int = _opt(50, "write a checkpoint every N steps (and always at the end); 0 = only at the end")

    # ---------------------------------------------------------------- derived values

    @property
    def effective_alpha(self) -> float:
        return DEFAULT_ALPHA.get(self.algorithm, 0.4) if self.alpha is None else float(self.alpha)

    @property
    def rollout_batch(self) -> int:
        return self.prompts_per_step * self.group_size

    # ---------------------------------------------------------------- checks

    def validate(self) -> "TrainConfig":
        """Raise :class:`UserError` on an invalid setting; returns self."""
        if self.algorithm not in ALGORITHMS:
            raise UserError(f"unknown algorithm '{self.algorithm}'", "use --algorithm grpo or ppo")
        if self.shaping not in SHAPINGS:
            raise UserError(f"unknown shaping '{self.shaping}'", "use --shaping none, entropy-adv or entropy-reg")
        checks = [
            (self.kappa > 1, f"--kappa must be > 1, got {self.kappa}", "the bonus min(alpha*H, |A|/kappa) must stay below |A| (paper: 2)"),
            (self.alpha is None or self.alpha >= 0, f"--alpha must be >= 0, got {self.alpha}", "use 0.4 (grpo) or 0.1 (ppo)"),
            (self.beta >= 0, f"--beta must be >= 0, got {self.beta}", "pass a non-negative entropy coefficient"),
            (0 < self.top_entropy_quantile <= 1, f"--top-entropy-quantile must be in (0, 1], got {self.top_entropy_quantile}",
             "pass e.g. 0.2 to train on the top 20% of tokens by entropy, or 1.0 for all"),
            (self.algorithm != "grpo" or self.group_size >= 2, f"grpo needs --group-size >= 2, got {self.group_size}",
             "sample several responses per problem; a group of one has no baseline"),
            (self.group_size >= 1, f"--group-size must be >= 1, got {self.group_size}", "pass a positive group size"),
            (self.prompts_per_step >= 1, f"--prompts-per-step must be >= 1, got {self.prompts_per_step}", "pass a positive number"),
            (self.steps >= 1, f"--steps must be >= 1, got {self.steps}", "pass a positive number of steps"),
            (self.ppo_epochs >= 1, f"--ppo-epochs must be >= 1, got {self.ppo_epochs}", "pass a positive number"),
            (self.minibatches >= 1, f"--minibatches must be >= 1, got {self.minibatches}", "pass a positive number"),
            (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}", "pass a positive batch size"),
            (self.sample_batch_size is None or self.sample_batch_size >= 1,
             f"--sample-batch-size must be >= 1, got {self.sample_batch_size}", "pass a positive batch size"),
            (self.rollout_batch % max(1, self.minibatches) == 0,
             f"a rollout batch of {self.rollout_batch} responses (prompts_per_step * group_size) does not split into "
             f"{self.minibatches} equal minibatches", "pick --minibatches that divides it"),
            (self.max_new_tokens >= 1, f"--max-new-tokens must be >= 1, got {self.max_new_tokens}", "pass a positive token budget"),
            (self.temperature > 0, f"--temperature must be > 0, got {self.temperature}", "training samples; use e.g. 1.0"),
            (0 < self.top_p <= 1, f"--top-p must be in (0, 1], got {self.top_p}", "use 1.0 to turn nucleus sampling off"),
            (0 <= self.eps_low < 1 and self.eps_high >= 0, f"clip ranges must be 0 <= eps_low < 1 and eps_high >= 0, got "
             f"{self.eps_low}, {self.eps_high}", "use 0.2 and 0.28"),
            (self.lr > 0 and self.critic_lr > 0, "learning rates must be > 0", "pass positive --lr and --critic-lr"),
            (self.kl_coef >= 0, f"--kl-coef must be >= 0, got {self.kl_coef}", "use 0 for no KL term"),
            (self.max_grad_norm >= 0, f"--max-grad-norm must be >= 0, got {self.max_grad_norm}", "use 0 for no clipping"),
            (0 < self.gamma <= 1 and 0 <= self.lam <= 1, "--gamma must be in (0, 1] and --lam in [0, 1]", "use 1.0 and 1.0"),
            (self.critic_warmup >= 0 and self.warmup_steps >= 0 and self.save_every >= 0,
             "--critic-warmup, --warmup-steps and --save-every must be >= 0", "pass non-negative numbers"),
            (self.limit is None or self.limit >= 1, f"--limit must be >= 1, got {self.limit}", "pass a positive number of problems"),
            (self.dtype in ("float32", "bfloat16", "auto"), f"unknown training dtype '{self.dtype}'", "use float32 or bfloat16"),
        ]
        for ok, problem, fix in checks:
            if not ok:
                raise UserError(problem, fix)
        return self

    # ---------------------------------------------------------------- YAML / dict

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "config") -> "TrainConfig":
        """Build from a mapping (YAML, CLI), converting each value to its field's type."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise UserError(f"{source} has unknown setting(s): {', '.join(unknown)}",
                            "see `entropy-lens train --help` for the settings (YAML keys use underscores)")
        types = field_types(cls)
        return cls(**{name: _coerce(value, *types[name], name, source) for name, value in values.items()})

    @classmethod
    def from_yaml(cls, path: str | Path) -> "TrainConfig":
        return cls.from_dict(read_yaml(path), source=str(path))

    def write_yaml(self, path: str | Path) -> None:
        import yaml

        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def read_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist", "pass a YAML file of TrainConfig settings")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"could not parse {path} as YAML: {first}", "fix the file (one `name: value` per line)") from None
    if not isinstance(values, dict):
        raise UserError(f"{path} does not hold a mapping of settings", "write one `name: value` per line")
    return values


def _coerce(value: Any, base: type, optional: bool, name: str, source: str) -> Any:
    """``value`` as type ``base`` (int, float, bool or str), or None where ``optional``."""
    if value is None or (optional and isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        if optional:
            return None
        raise UserError(f"{source}: {name} needs a value", f"give {name} a value of type {base.__name__}")
    try:
        if base is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "yes", "1", "on"):
                return True
            if text in ("false", "no", "0", "off"):
                return False
            raise ValueError(value)
        if base is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value) if not isinstance(value, str) else int(value.strip())
        if base is float:
            return float(value)  # also PyYAML's "1e-6", which it reads as a string
        return str(value)
    except (TypeError, ValueError):
        raise UserError(f"{source}: {name} must be of type {base.__name__}, got {value!r}", f"fix the value of {name}") from None
