"""Where an analysis gets its rollout table: an existing rollout directory, or a model to
generate from (with the defaults of ``entropy-lens generate``), keeping the generated
table in the analysis' output folder so a rerun regenerates nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from entropy_lens.measure.config import GenerateConfig
from entropy_lens.rollouts.store import RUN_FILE, SHARD_PATTERN, read_rollouts


def is_rollout_dir(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and ((p / RUN_FILE).is_file() or any(SHARD_PATTERN.match(x.name) for x in p.iterdir()))


def obtain_rollouts(model_or_dir: str, out_dir: Path, name: str, generate_config: GenerateConfig, *,
                    show_progress: bool = True):
    """The rollout table of ``model_or_dir``: read it if it is a rollout directory, else
    generate with ``model_or_dir`` as the model into ``out_dir / name`` (resumable)."""
    if is_rollout_dir(model_or_dir):
        return read_rollouts(model_or_dir)
    if model_or_dir.startswith(("/", ".", "~")) and not Path(model_or_dir).expanduser().exists():
        from entropy_lens.errors import UserError

        raise UserError(f"{model_or_dir} does not exist (neither a rollout directory nor a model)",
                        "pass the --out folder of generate/score, a model folder, a .gguf file or an HF id")
    from entropy_lens.measure.generate import run_generate

    return run_generate(replace(generate_config, model=model_or_dir), out_dir / name, show_progress=show_progress)
