"""Checkpoints: a Hugging Face model folder plus everything an exact ``--resume`` needs.

``RUN/checkpoints/step-000050/`` is a plain ``save_pretrained`` folder (weights + tokenizer),
usable as ``--model`` by every other command. Its ``trainer_state/`` subfolder holds the
optimiser, scheduler and RNG states, stored without pickle: tensors in safetensors files,
structure and counters in JSON. ``state.json`` is written last.

A checkpoint is written into a temporary folder next to its final place and renamed
into it, so a crash during a save leaves the previous checkpoint intact and no partial one.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from .rundir import checkpoint_dir, latest_checkpoint, remove_partial

__all__ = ["checkpoint_dir", "latest_checkpoint", "remove_partial", "save_checkpoint", "load_training_state"]


def save_checkpoint(run_dir: Path, step: int, *, model, tokenizer, optimizer, scheduler, state: dict[str, Any],
                    critic=None, critic_optimizer=None) -> Path:
    """Write checkpoint ``step`` atomically; returns its folder."""
    root = checkpoint_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:06d}"
    staging = Path(tempfile.mkdtemp(prefix=f".partial-step-{step:06d}-", dir=root))
    try:
        staging.chmod(0o755)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        extra = staging / "trainer_state"
        extra.mkdir()
        _save_optimizer(optimizer, extra, "optimizer")
        _write_json(extra / "scheduler.json", _jsonable(scheduler.state_dict()))
        if critic is not None:
            save_model(critic, str(extra / "critic.safetensors"))
            _save_optimizer(critic_optimizer, extra, "critic_optimizer")
        _save_rng(extra)
        _write_json(extra / "state.json", {"step": step, **state})  # last: marks the checkpoint complete
        if final.exists():  # the same step saved again (a resumed run that ends where it stopped)
            old = root / f".partial-old-{final.name}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(staging, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def load_training_state(folder: Path, *, optimizer, scheduler, critic=None, critic_optimizer=None) -> dict[str, Any]:
    """Restore optimiser, scheduler, critic and RNG states from checkpoint ``folder``; returns state.json."""
    extra = Path(folder) / "trainer_state"
    _load_optimizer(optimizer, extra, "optimizer")
    scheduler.load_state_dict(json.loads((extra / "scheduler.json").read_text()))
    if critic is not None:
        load_model(critic, str(extra / "critic.safetensors"), device=str(next(critic.parameters()).device))
        _load_optimizer(critic_optimizer, extra, "critic_optimizer")
    _load_rng(extra)
    return json.loads((extra / "state.json").read_text())


# ---------------------------------------------------------------------------- optimiser


def _save_optimizer(optimizer, folder: Path, name: str) -> None:
    """Tensors of ``optimizer.state_dict()`` to ``name.safetensors``, the rest to ``name.json``."""
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for index, entry in state_dict["state"].items():
        plain[str(index)] = {}
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                plain[str(index)][key] = value
    save_file(tensors, str(folder / f"{name}.safetensors"))
    _write_json(folder / f"{name}.json", {"state": plain, "param_groups": _jsonable(state_dict["param_groups"])})


def _load_optimizer(optimizer, folder: Path, name: str) -> None:
    meta = json.loads((folder / f"{name}.json").read_text())
    tensors = load_file(str(folder / f"{name}.safetensors"))
    state: dict[int, dict[str, Any]] = {int(i): dict(entry) for i, entry in meta["state"].items()}
    for key, value in tensors.items():
        index, _, field = key.partition(".")
        state.setdefault(int(index), {})[field] = value
    groups = []
    for saved, live in zip(meta["param_groups"], optimizer.state_dict()["param_groups"]):
        # JSON has no tuples: give back the live optimiser's types (AdamW's betas)
        groups.append({k: tuple(v) if isinstance(live.get(k), tuple) else v for k, v in saved.items()})
    optimizer.load_state_dict({"state": state, "param_groups": groups})


# ---------------------------------------------------------------------------- RNG


def _save_rng(folder: Path) -> None:
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = s
    save_file(tensors, str(folder / "rng.safetensors"))
    _write_json(folder / "rng.json", {"python": _jsonable(random.getstate())})


def _load_rng(folder: Path) -> None:
    tensors = load_file(str(folder / "rng.safetensors"))
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[f"cuda.{i}"] for i in range(len(tensors) - 1) if f"cuda.{i}" in tensors]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    version, internal, gauss = json.loads((folder / "rng.json").read_text())["python"]
    random.setstate((version, tuple(internal), gauss))


# ---------------------------------------------------------------------------- JSON


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if torch.is_tensor(value):
        return value.tolist()
    return value


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=1, allow_nan=True))
