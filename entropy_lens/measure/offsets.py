"""Character spans of tokens in decoded text.

``offsets[i] = [start, end)`` is the part of the response that token ``i`` added. A token
that ends inside a multi-byte character adds nothing (an empty span); the token that
completes the character carries it. Special tokens (EOS) have empty spans at the end.
"""

from __future__ import annotations


def decode_with_offsets(tokenizer, token_ids: list[int]) -> tuple[str, list[list[int]]]:
    """Decode ``token_ids`` (special tokens skipped) and give each token's character span."""
    text = tokenizer.decode(token_ids, skip_special_tokens=True)
    pieces = _stream_pieces(tokenizer, token_ids)
    if pieces is None or "".join(pieces) != text:
        pieces = _prefix_pieces(tokenizer, token_ids, text)
    offsets, pos = [], 0
    for piece in pieces:
        offsets.append([pos, pos + len(piece)])
        pos += len(piece)
    return text, offsets


def _stream_pieces(tokenizer, token_ids: list[int]) -> list[str] | None:
    """Fast path: the Rust tokenizer's incremental decoder, linear in the length."""
    backend = getattr(tokenizer, "_tokenizer", None)
    if backend is None:
        return None
    try:
        from tokenizers.decoders import DecodeStream
    except ImportError:
        return None
    stream = DecodeStream(skip_special_tokens=True)
    return [stream.step(backend, int(i)) or "" for i in token_ids]


def _prefix_pieces(tokenizer, token_ids: list[int], text: str) -> list[str]:
    """Exact fallback for tokenizers whose decoding is not a concatenation of pieces.

    Decodes every prefix (quadratic), and assigns each token the text its prefix added
    beyond the previous one, as long as that prefix is a prefix of the whole text.
    """
    prefixes = tokenizer.batch_decode([token_ids[: i + 1] for i in range(len(token_ids))], skip_special_tokens=True)
    pieces, covered = [], 0
    for prefix in prefixes:
        if len(prefix) > covered and text.startswith(prefix):
            pieces.append(text[covered : len(prefix)])
            covered = len(prefix)
        else:
            pieces.append("")
    if covered < len(text) and pieces:
        pieces[-1] += text[covered:]
    return pieces
