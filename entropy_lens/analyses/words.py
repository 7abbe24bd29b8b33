"""Words of a whole rollout table, found with array operations, and the token each starts in.

A *word* is a maximal run of letters: ASCII letters and every other character Python calls
a letter (``str.isalpha``: accented Latin, Greek, CJK, ...). An apostrophe (``'`` or ``’``)
between two letters stays inside the word, so "let's" and "don't" are one word each;
``’`` is read as ``'``. Digits, ``_``, hyphens and everything else separate words
("double-check" is two words, "x2" holds the word "x"). A letter run directly after a
backslash is a LaTeX command (``\\frac``, ``\\therefore``), not a word. Words are matched
lower-cased; ``Words.vocab`` holds them.

Nothing loops over tokens or words in Python. The responses are joined into one text,
read as an array of code points; words are runs of a letter mask; each word gets an id
from a key packed from its letters (exact, for ASCII words of up to 12 letters: nearly all)
or from a 62-bit polynomial hash of its lower-cased code points (longer or non-ASCII words;
a collision, with odds of about n^2 / 2^63 for n distinct such words, would merge two
words). Strings are built only for the distinct words.

The token of a word is found by binary search of its first character in the tokens'
character spans (``offsets``). When that character is split over several tokens (a
multi-byte character: the first tokens get empty spans, see ``entropy_lens.measure.offsets``), the
word starts at the first of them: the position where the model began to write it. Two
words that start inside one token (rare: "a,b" as one token) are two occurrences with that
token's entropy. Characters that no token covers belong to no word.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from entropy_lens.analyses.tokens import TokenArrays, token_arrays

WORD_ENTROPY = ("first", "mean")
_PACKED_LETTERS = 12  # 5 bits per letter in a uint64 key
_P1, _P2 = 2147483647, 2147483629  # primes < 2^31 of the polynomial hash
_B1, _B2 = 911382323, 972663749


@dataclass
class Words:
    """Every word occurrence of a rollout table (W occurrences, U distinct words).

    ``response``: index of the response (a row of the table given, less the rows skipped:
    ``rows`` maps back when it is not None); ``start``/``end``: characters of the word in
    that response; ``word_id``: index into ``vocab`` (lower-cased strings);
    ``first_token``/``last_token``: indices into the flat token arrays (``tokens``) of the
    token where the word starts and the one holding its last character (``last_token`` is
    computed for ``word_entropy="mean"`` only, else None); ``entropy``: the
    word's entropy in nats, at its first token (``word_entropy="first"``) or the mean over
    ``first_token..last_token`` (``"mean"``). ``word_initial`` marks the tokens where a
    word starts. ``skipped``: rows left out (reason -> count), their words absent.
    """

    response: np.ndarray
    start: np.ndarray
    end: np.ndarray
    word_id: np.ndarray
    vocab: np.ndarray  # (U,) object array of str
    first_token: np.ndarray
    last_token: np.ndarray | None
    entropy: np.ndarray
    word_initial: np.ndarray
    tokens: TokenArrays
    word_entropy: str = "first"
    rows: np.ndarray | None = None  # rows of the input frame the arrays refer to (None: all)
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.word_id)

    def strings(self) -> np.ndarray:
        """The lower-cased word of every occurrence (materialised: for small tables)."""
        return self.vocab[self.word_id]


def normalize_word(word: str) -> str:
    """How a word is matched: lower-cased, ``’`` read as ``'``."""
    return word.strip().lower().replace("\u2019", "'")


def is_word(text: str) -> bool:
    """Whether ``text`` is exactly one word by the rules of this module."""
    if not text or not text[0].isalpha() or not text[-1].isalpha():
        return False
    return all(c.isalpha() or (c in "'\u2019" and text[i - 1].isalpha() and text[i + 1].isalpha())
               for i, c in enumerate(text))


# -- words ---------------------------------------------------------------------------------

# symbol of each ASCII character: a-z, A-Z -> 1..26, apostrophe -> 27, else 0; the
# symbols of a word's letters are its exact key (5 bits each). Other letters get 31.
_ASCII_SYMBOL = np.zeros(256, dtype=np.uint8)
_ASCII_SYMBOL[np.arange(65, 91)] = np.arange(1, 27)
_ASCII_SYMBOL[np.arange(97, 123)] = np.arange(1, 27)
_ASCII_SYMBOL[ord("'")] = 27
_APOSTROPHE, _OTHER_LETTER = 27, 31
_IS_LETTER = np.zeros(256, dtype=bool)
_IS_LETTER[1:27] = _IS_LETTER[_OTHER_LETTER] = True
_PAD = 16  # zero bytes after the symbols, so 12-byte windows never read past the end


def _symbols(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(code points, symbol per character followed by ``_PAD`` zeros, positions of the
    non-ASCII characters).

    ASCII text is read one byte per character; other text as UTF-32, classified through the
    ASCII table plus one ``str.isalpha`` per distinct non-ASCII character.
    """
    if text.isascii():
        codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        high = np.zeros(0, dtype=np.int64)
    else:
        codes = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)
        high = np.flatnonzero(codes >= 128)
    symbol = np.zeros(len(codes) + _PAD, dtype=np.uint8)
    np.take(_ASCII_SYMBOL, codes if codes.dtype == np.uint8 else codes.astype(np.uint8), out=symbol[:len(codes)])
    if len(high):  # the low byte of a non-ASCII code point said nothing: classify them
        distinct, inverse = np.unique(codes[high], return_inverse=True)
        kind = np.array([_OTHER_LETTER if chr(c).isalpha() else _APOSTROPHE if c == 0x2019 else 0
                         for c in distinct.tolist()], dtype=np.uint8)
        symbol[high] = kind[inverse]
    return codes, symbol, high


def _segment_positions(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Character positions of all the given words, concatenated; each one's index in its
    word; and where each word begins in the concatenation."""
    total = int(lengths.sum())
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    rel = np.arange(total, dtype=np.int64) - np.repeat(first, lengths)
    return np.repeat(starts, lengths) + rel, rel, first


_BYTE_MASKS = np.array([(1 << (8 * i)) - 1 for i in range(9)], dtype=np.uint64)  # the low i bytes


def _five_bit_lanes(x: np.ndarray) -> np.ndarray:
    """Squeeze 8 byte lanes holding values < 32 into 8 consecutive 5-bit fields (40 bits), in place."""
    tmp = np.empty_like(x)
    for keep, move, shift in ((0x001F001F001F001F, 0x1F001F001F001F00, 3), (0x000003FF000003FF, 0x03FF000003FF0000, 6),
                              (0x00000000000FFFFF, 0x000FFFFF00000000, 12)):
        np.bitwise_and(x, np.uint64(move), out=tmp)
        tmp >>= np.uint64(shift)
        x &= np.uint64(keep)
        x |= tmp
    return x


def _packed_keys(symbol: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Exact keys of words of 1..12 symbols: symbol k of the word in bits 5k..5k+4.

    Reads the symbol bytes at each start as an unaligned little-endian uint64 window (and
    a second one at start + 8 for the longer words), masks the bytes past the word's end
    and squeezes the bytes to 5 bits. ``symbol`` must be followed by ``_PAD`` zero bytes.
    """
    window = np.ndarray(shape=(len(symbol) - 8,), dtype="<u8", buffer=symbol, strides=(1,))
    keys = window[starts]
    keys &= _BYTE_MASKS[np.minimum(lengths, 8)]
    _five_bit_lanes(keys)
    long = np.flatnonzero(lengths > 8)
    if len(long):
        rest = window[starts[long] + 8]
        rest &= _BYTE_MASKS[lengths[long] - 8]
        keys[long] |= _five_bit_lanes(rest) << np.uint64(40)
    return keys


def _unpack(keys: np.ndarray) -> np.ndarray:
    """Strings of packed keys (inverse of :func:`_packed_keys`)."""
    alphabet = np.frombuffer(b"\0abcdefghijklmnopqrstuvwxyz'", dtype=np.uint8)
    shifts = np.arange(_PACKED_LETTERS, dtype=np.uint64) * np.uint64(5)
    symbols = ((keys[:, None] >> shifts[None, :]) & np.uint64(31)).astype(np.uint8)
    letters = np.ascontiguousarray(alphabet[symbols])
    return letters.view(f"S{_PACKED_LETTERS}").ravel().astype(str).astype(object)


def _hash_keys(codes: np.ndarray, symbol: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """62-bit polynomial hashes (two moduli) of the lower-cased code points of words."""
    positions, rel, first = _segment_positions(starts, lengths)
    c = codes[positions].astype(np.uint64)
    sym = symbol[positions]
    ascii_letter = (sym > 0) & (sym < _APOSTROPHE)
    c[ascii_letter] = sym[ascii_letter].astype(np.uint64) + np.uint64(96)
    c[sym == _APOSTROPHE] = ord("'")
    other = np.flatnonzero(sym == _OTHER_LETTER)
    if len(other):  # lower-case the distinct non-ASCII letters (one that lower-cases to several characters stays)
        distinct, inverse = np.unique(c[other], return_inverse=True)
        lower = [chr(x).lower() for x in distinct.tolist()]
        c[other] = np.array([ord(x) if len(x) == 1 else d for x, d in zip(lower, distinct.tolist())],
                            dtype=np.uint64)[inverse]
    c += np.uint64(1)
    keys = np.zeros(len(starts), dtype=np.uint64)
    longest = int(lengths.max()) if len(lengths) else 0
    for p, b, shift in ((_P1, _B1, 31), (_P2, _B2, 0)):
        powers = np.ones(longest, dtype=np.uint64)
        for i in range(1, longest):  # one step per letter of the longest word, not per word
            powers[i] = powers[i - 1] * np.uint64(b) % np.uint64(p)
        terms = c * powers[rel] % np.uint64(p)  # < 2^21 * 2^31: no overflow
        keys |= (np.add.reduceat(terms, first) % np.uint64(p)) << np.uint64(shift)  # sums < 2^31 * length
    return keys


def find_words(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The words of ``text``: (starts, ends, word ids, vocab) with ``vocab[id]`` the
    lower-cased word. Positions are Python string indices (code points)."""
    import pandas as pd

    codes, symbol, high = _symbols(text)
    n = len(codes)
    in_word = _IS_LETTER[symbol[:n]]
    apostrophes = np.flatnonzero(symbol[1:n - 1] == _APOSTROPHE) + 1 if n > 2 else np.zeros(0, dtype=np.int64)
    in_word[apostrophes[in_word[apostrophes - 1] & in_word[apostrophes + 1]]] = True  # "let's"
    # a word starts where in_word turns on and ends where it turns off
    edges = np.flatnonzero(np.diff(in_word.view(np.int8))) + 1
    if n and in_word[0]:
        edges = np.concatenate([[0], edges])
    if n and in_word[-1]:
        edges = np.concatenate([edges, [n]])
    starts, ends = edges[0::2], edges[1::2]
    before = starts - 1
    latex = (before >= 0) & (codes[np.maximum(before, 0)] == ord("\\"))
    if latex.any():
        starts, ends = starts[~latex], ends[~latex]
    lengths = ends - starts

    packed = lengths <= _PACKED_LETTERS
    letters_high = high[symbol[high] == _OTHER_LETTER]
    if len(letters_high):  # words with a non-ASCII letter are hashed
        w = np.searchsorted(starts, letters_high, side="right") - 1
        w = w[(w >= 0) & (letters_high < ends[np.maximum(w, 0)])]
        packed[w] = False
    ids = np.empty(len(starts), dtype=np.int64)
    vocab_parts = []
    if packed.any():
        codes_a, unique_a = pd.factorize(_packed_keys(symbol, starts[packed], lengths[packed]))
        ids[packed] = codes_a
        vocab_parts.append(_unpack(np.asarray(unique_a, dtype=np.uint64)))
    hashed = np.flatnonzero(~packed)
    if len(hashed):
        codes_b, unique_b = pd.factorize(_hash_keys(codes, symbol, starts[hashed], lengths[hashed]))
        _, first = np.unique(codes_b, return_index=True)  # the first occurrence of each distinct word
        first = hashed[first]
        ids[hashed] = codes_b + sum(len(v) for v in vocab_parts)
        strings = np.empty(len(first), dtype=object)
        strings[:] = [normalize_word(text[a:b]) for a, b in zip(starts[first].tolist(), ends[first].tolist())]
        vocab_parts.append(strings)
    vocab = np.concatenate(vocab_parts) if vocab_parts else np.zeros(0, dtype=object)
    # one id per string (a non-ASCII letter may lower-case to an ASCII one)
    merged, vocab = pd.factorize(vocab)
    ids = merged[ids] if len(ids) else ids
    return starts.astype(np.int64), ends.astype(np.int64), ids.astype(np.int64), np.asarray(vocab, dtype=object)


def segment_words(frame, *, word_entropy: str = "first") -> Words:
    """Every word of a checked rollout table (see module docstring), with its tokens and
    entropy. Rows whose offsets are unusable are left out and counted in ``skipped``."""
    if word_entropy not in WORD_ENTROPY:
        from entropy_lens.errors import UserError

        raise UserError(f"word_entropy={word_entropy!r} is not one of {WORD_ENTROPY}",
                        "use 'first' (entropy at the word's first token) or 'mean' (mean over its tokens)")
    tokens, bad_rows = token_arrays(frame)
    skipped: dict[str, int] = {}
    rows = None
    if len(frame) and bad_rows.all():
        from entropy_lens.errors import UserError

        raise UserError(f"none of the {len(frame)} rows has usable token offsets (out of order or outside the response)",
                        "pass a rollout table written by `entropy-lens generate` or `score`")
    if bad_rows.any():
        skipped["offsets out of order or outside the response"] = int(bad_rows.sum())
        rows = np.flatnonzero(~bad_rows)
        tokens, _ = token_arrays(frame.iloc[rows])
    starts, ends, ids, vocab = find_words(tokens.text)
    # words never cross responses: response r holds the words from its first one on
    first_word = np.searchsorted(starts, tokens.response_start)
    response = np.repeat(np.arange(len(first_word)), np.diff(np.append(first_word, len(starts))))

    # the token holding the first character: the last token starting at or before it ...
    first = np.searchsorted(tokens.start, starts, side="right") - 1
    covered = first >= 0
    covered[covered] = tokens.end[first[covered]] > starts[covered]
    if not covered.all():  # characters no token carries (offsets that do not cover the text)
        first, starts, ends, ids, response = first[covered], starts[covered], ends[covered], ids[covered], response[covered]
    # ... or, if empty-span tokens precede it at the same position, the first of those
    if (tokens.end == tokens.start).any():
        at = np.flatnonzero(tokens.start[first] == starts)
        first[at] = np.searchsorted(tokens.start, starts[at], side="left")
    if word_entropy == "first":
        last = None
        entropy = tokens.entropy[first].astype(np.float64)
    else:
        last = np.searchsorted(tokens.start, ends - 1, side="right") - 1
        cumulative = np.concatenate([[0.0], np.cumsum(tokens.entropy, dtype=np.float64)])
        entropy = (cumulative[last + 1] - cumulative[first]) / (last - first + 1)
    word_initial = np.zeros(tokens.n_tokens, dtype=bool)
    word_initial[first] = True
    local = tokens.response_start[response]
    return Words(response=response, start=starts - local, end=ends - local, word_id=ids, vocab=vocab,
                 first_token=first, last_token=last, entropy=entropy, word_initial=word_initial, tokens=tokens,
                 word_entropy=word_entropy, rows=rows, skipped=skipped)
