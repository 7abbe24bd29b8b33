from entropy_lens.measure.offsets import _prefix_pieces, decode_with_offsets
from conftest import build_tiny_tokenizer

TEXT = "Schöne Grüße — naïve café 日本語 🙂 x² ≤ y³. Step 1: 5.6 \\boxed{7}"


def test_spans_tile_the_text_and_multibyte_characters_go_to_the_completing_token():
    tok = build_tiny_tokenizer()
    ids = tok(TEXT, add_special_tokens=False).input_ids + [tok.eos_token_id]
    text, offsets = decode_with_offsets(tok, ids)
    assert text == TEXT
    assert len(offsets) == len(ids)
    assert offsets[0][0] == 0 and offsets[-1] == [len(text), len(text)]  # EOS: empty span at the end
    for (a, b), (c, d) in zip(offsets, offsets[1:]):
        assert a <= b == c <= d
    # at least one token split a multi-byte character and got an empty span
    assert any(a == b for a, b in offsets[:-1])
    assert "".join(text[a:b] for a, b in offsets) == TEXT


def test_prefix_fallback_agrees_with_the_stream_decoder():
    tok = build_tiny_tokenizer()
    ids = tok(TEXT, add_special_tokens=False).input_ids
    text, offsets = decode_with_offsets(tok, ids)
    pieces = _prefix_pieces(tok, ids, text)
    assert [text[a:b] for a, b in offsets] == pieces
