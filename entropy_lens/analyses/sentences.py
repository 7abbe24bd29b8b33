"""Sentences of reasoning traces, and the mean entropy of the tokens inside each.

``split_spans(text)`` cuts a response into sentences with one compiled regular expression
(one ``finditer`` pass, one match per sentence). The rules, written for model reasoning
traces rather than prose:

- ``.``, ``?``, ``!`` and ``…`` (with closing brackets, quotes or ``*`` after them) end a
  sentence when whitespace or the end of the text follows. Punctuation followed by anything
  else never ends one: decimals (``5.6``, ``3.14``), ``x.y``, ``e.g`` inside ``e.g.``.
- A line break always ends a sentence (except inside math, below). Blank lines too.
- Abbreviations never end a sentence: e.g. i.e. approx. vs. cf. viz. resp. w.r.t. s.t.
  a.k.a. et al. Dr. Mr. Mrs. Ms. Prof. Fig. Eq. Eqs. Thm. Def. Lem. Prop. Sec. Ch. ca.
  incl. (any case). ``etc.`` ends a sentence only when a capitalised word follows.
- An ellipsis (``...``, ``…``) followed by a lower-case word does not end a sentence
  ("Hmm... let me think" is one sentence); ``5! = 120`` and ``n! / k!`` do not split
  after the factorial (a ``!`` followed by an operator, or a digit's ``!`` followed by a
  lower-case word).
- Math is never split inside: ``$...$`` (one line; pandoc's rule: no space just inside
  the dollars, so "$5 and $6" is not math), ``$$...$$``, ``\\(...\\)``, ``\\[...\\]`` and
  ``\\begin{env}...\\end{env}``, the last four across lines. An unclosed delimiter is plain
  text. LaTeX outside delimiters is plain text: ``\\frac{1}{2}.`` ends a sentence.
- A list marker at the start of a sentence (``1.``, ``12.``, ``a.``, ``iv.`` followed by a
  space) is not a sentence end: "1. First item" is one sentence. Bullets (``-``, ``*``)
  need nothing special: the line break before them ends the previous sentence.
- Colons end nothing: a "Step 1:" header alone on its line is its own sentence (the line
  break ends it); "Step 1: compute 2 * 6 = 12." on one line is one sentence that starts
  with its header. Markdown headings ("### Step 2: Verify") are lines, so sentences.
- Spans are whitespace-trimmed and never empty; every non-space character of the text lies
  in exactly one sentence.

Choice of splitter (measured on this project's 2-core machine; the 24 cases are
``CASES`` in ``tests/test_sentences.py``; speed is CPU time on 8 M characters of synthetic
reasoning text):

| splitter | cases right | speed | 40 M characters |
| --- | --- | --- | --- |
| this regex | 24 / 24 | 34 M chars/s | 1.2 s |
| nupunkt 0.8 (default model) | 15 / 24 (18 with lines split first) | 12.6 M chars/s | 3.2 s |
| blingfire 0.1.8 | 17 / 24 (19 with lines split first) | 8.5 M chars/s | 4.7 s, byte offsets |

nupunkt splits inside ``\\[...\\]`` and ``align`` math and after the "5!" of "5! = 120";
blingfire splits after list markers ("1.") and inside display math, and misses the end of
"E.g. this."; neither ends a sentence at a line break, so "Step 1:" headers and list items
run into the next line. Splitting lines first fixes that but cuts display math that spans
lines. Neither knows LaTeX or line structure, which is most of a reasoning trace, so the
regex is the splitter (no dependency, and the fastest).

``sentence_table(rollouts)`` gives one row per sentence with the number and mean entropy
of its tokens. A token belongs to the sentence that contains its first non-space
character; a whitespace-only token to the sentence it lies inside (none when it lies
between sentences, e.g. a "\\n\\n" token); a token with an empty span (the first bytes of a
multi-byte character) goes with the character that follows it. The mapping is a
``searchsorted`` over all sentences at once, not a loop over tokens.
"""

from __future__ import annotations

import re

import numpy as np

from entropy_lens.analyses.tokens import token_spans

# -- the splitter --------------------------------------------------------------------------

_CLOSERS = r"""[)\]"'”’*_]"""  # may follow a sentence's final punctuation
_ABBREVIATIONS = [
    "e.g", "i.e", "approx", "vs", "cf", "viz", "resp", "w.r.t", "s.t", "a.k.a", "et al",
    "dr", "mr", "mrs", "ms", "prof", "fig", "eq", "eqs", "thm", "def", "lem", "prop", "sec", "ch",
    "ca", "incl",
]
# Python's lookbehinds need a fixed width: one per abbreviation length, OR-ed, behind a cheap
# first test (a letter before the period), since this runs at every period inside a sentence.
_BY_LENGTH: dict[int, list[str]] = {}
for _abbreviation in _ABBREVIATIONS:
    _BY_LENGTH.setdefault(len(_abbreviation), []).append(re.escape(_abbreviation))
_ABBREVIATION_PERIOD = r"\.(?<=[^\W\d_]\.)(?:" + "|".join(
    rf"(?<=\b(?:{'|'.join(words)})\.)" for _, words in sorted(_BY_LENGTH.items())) + ")"
_HSPACE = r"[^\S\n\r]"  # whitespace other than a line break

_UNIT = r"""
      [^\s.?!…$\\]++(?:HSPACE++[^\s.?!…$\\]++)*+       # plain run: words, numbers, operators
    | HSPACE++(?=\S)                                   # spaces inside a line (never trailing)
    | \$\$(?:[^$\\]++|\\[\s\S]|\$(?!\$))*+\$\$         # display math $$...$$, may span lines
    | \\\[(?:[^\\]++|\\[^\]])*+\\\]                    # display math \[...\]
    | \\\((?:[^\\]++|\\[^)])*+\\\)                     # inline math \(...\)
    | \\begin\{(?P<env>[^}\n]{1,40})\}(?:[^\\]++|\\(?!end\{(?P=env)\})[\s\S])*+\\end\{(?P=env)\}
    | \$(?![\s$])(?:[^$\\\n]++|\\[^\n])*+(?<!\s)\$(?!\d)  # inline math $...$ (pandoc's rule)
    | \\\S?+ | \$                                       # other backslashes and dollars: plain
    | (?i:ABBREVIATION)                                # e.g. i.e. approx. Dr. ...
    | \.(?i:(?<=\betc\.))(?!HSPACE+[A-Z])              # etc. unless a capitalised word follows
    | (?:\.{2,}+|…)(?=HSPACE+[a-z])                    # "Hmm... let me": ellipsis + lower case
    | !(?=HSPACE*[=<>≤≥+\-*/×·,)])                     # factorial before an operator: 5! = 120
    | !(?<=\d!)(?=HSPACE+[a-z])                        # a digit's factorial: "5! is 120"
    | [.?!…]++(?!CLOSERS*+(?:\s|\Z))                   # punctuation inside a token: 5.6, x.y
""".replace("HSPACE", _HSPACE).replace("CLOSERS", _CLOSERS).replace("ABBREVIATION", _ABBREVIATION_PERIOD)
_SENTENCE = re.compile(r"""
    (?=\S)
    (?:(?:\d{1,3}|[A-Za-z]|[ivxIVX]{2,4})\.HSPACE++(?=\S))?   # list marker "1. ", "a. "
    (?:UNIT)*+
    (?:[.?!…]++CLOSERS*+)?                                    # the sentence's end
""".replace("HSPACE", _HSPACE).replace("CLOSERS", _CLOSERS).replace("UNIT", _UNIT), re.VERBOSE)


def split_spans(text: str) -> list[tuple[int, int]]:
    """The sentences of ``text`` as ``[start, end)`` character spans, in order (see module
    docstring for the rules). Spans are whitespace-trimmed and never empty."""
    return [m.span() for m in _SENTENCE.finditer(text) if m.end() > m.start()]


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` as strings (the texts of ``split_spans``)."""
    return [m.group() for m in _SENTENCE.finditer(text) if m.end() > m.start()]


# -- tokens to sentences -------------------------------------------------------------------

def bad_offset_rows(tok_rows: np.ndarray, tok_start: np.ndarray, tok_end: np.ndarray,
                    response_lengths: np.ndarray) -> np.ndarray:
    """Rows whose offsets cannot be used (a span reversed, outside the response, or
    starting before the previous token's end): boolean array, one entry per row."""
    bad = (tok_start < 0) | (tok_end < tok_start) | (tok_end > response_lengths[tok_rows])
    same_row = np.zeros(len(tok_rows), dtype=bool)
    same_row[1:] = tok_rows[1:] == tok_rows[:-1]
    previous_end = np.concatenate([[0], tok_end[:-1]])
    bad |= same_row & (tok_start < previous_end)
    return np.bincount(tok_rows[bad], minlength=len(response_lengths)) > 0


def assign_tokens(sent_starts: np.ndarray, sent_ends: np.ndarray, tok_starts: np.ndarray,
                  tok_ends: np.ndarray) -> np.ndarray:
    """Index of the sentence each token belongs to, -1 for none (see module docstring).

    All positions are in one coordinate system (e.g. offsets into the concatenated
    responses); sentences are sorted, disjoint and whitespace-trimmed, so the gap between
    two sentences is whitespace only.
    """
    if len(sent_starts) == 0:
        return np.full(len(tok_starts), -1, dtype=np.int64)
    # k: sentences starting at or before the token's start; k - 1 is the one it may lie in,
    # k the next one (padded so both lookups are plain gathers)
    k = np.searchsorted(sent_starts, tok_starts, side="right")
    previous_end = np.concatenate([[np.iinfo(np.int64).min], sent_ends])[k]
    next_start = np.concatenate([sent_starts, [np.iinfo(np.int64).max]])[k]
    inside = tok_starts < previous_end
    # a token starting in a gap belongs to the next sentence if it reaches that sentence's
    # first character (its first non-space one); an empty span goes with the next character
    reaches = np.maximum(tok_ends, tok_starts + 1) > next_start
    which = np.where(inside, k - 1, k)
    which[~(inside | reaches)] = -1
    return which


def sentence_table(rollouts, *, drop_empty: bool = True):
    """One row per sentence of every response: ``prompt_id``, ``sample_id``,
    ``response_index`` (row of ``rollouts``), ``sentence``, ``start``, ``end`` (character
    span in the response), ``n_tokens``, ``mean_entropy`` (nats, mean over the sentence's
    tokens).

    ``rollouts`` is a rollout table (DataFrame), best checked by ``check_rollouts`` first
    (a missing response counts as empty; NaN entropies would give NaN means). Rows whose
    offsets are unusable (see ``bad_offset_rows``) give no sentence. Sentences
    with no token are dropped, unless ``drop_empty`` is False: then their mean is NaN.
    """
    return sentences_and_bad_rows(rollouts, drop_empty=drop_empty)[0]


def sentences_and_bad_rows(rollouts, *, drop_empty: bool = True):
    """``sentence_table`` and the boolean mask of rows left out for unusable offsets."""
    import pandas as pd

    responses = [r if isinstance(r, str) else "" for r in rollouts["response"].tolist()]
    starts: list[int] = []
    ends: list[int] = []
    texts: list[str] = []
    counts = np.zeros(len(responses), dtype=np.int64)
    finditer = _SENTENCE.finditer
    for i, text in enumerate(responses):
        before = len(texts)
        for m in finditer(text):
            s, e = m.span()
            if e > s:
                starts.append(s)
                ends.append(e)
                texts.append(m.group())
        counts[i] = len(texts) - before
    # one coordinate system: the responses laid end to end
    length = np.fromiter(map(len, responses), dtype=np.int64, count=len(responses))
    base = np.zeros(len(responses) + 1, dtype=np.int64)
    np.cumsum(length, out=base[1:])
    sent_rows = np.repeat(np.arange(len(responses), dtype=np.int64), counts)
    start = np.asarray(starts, dtype=np.int64)
    end = np.asarray(ends, dtype=np.int64)

    tok_rows, tok_start, tok_end, entropy = token_spans(rollouts)
    bad_rows = bad_offset_rows(tok_rows, tok_start, tok_end, length)
    if bad_rows.any():  # drop their tokens and sentences
        keep_tokens = ~bad_rows[tok_rows]
        tok_rows, tok_start, tok_end, entropy = (a[keep_tokens] for a in (tok_rows, tok_start, tok_end, entropy))
    which = assign_tokens(start + base[sent_rows], end + base[sent_rows],
                          tok_start + base[tok_rows], tok_end + base[tok_rows])
    inside = which >= 0
    n_tokens = np.bincount(which[inside], minlength=len(start))
    sums = np.bincount(which[inside], weights=entropy[inside], minlength=len(start))
    mean = np.full(len(start), np.nan)
    np.divide(sums, n_tokens, out=mean, where=n_tokens > 0)

    table = pd.DataFrame({
        # take() keeps pandas' (Arrow) string storage: no round trip through Python objects
        "prompt_id": rollouts["prompt_id"].take(sent_rows).reset_index(drop=True),
        "sample_id": rollouts["sample_id"].take(sent_rows).reset_index(drop=True),
        "response_index": sent_rows,
        "sentence": texts,
        "start": start,
        "end": end,
        "n_tokens": n_tokens.astype(np.int64),
        "mean_entropy": mean,
    })
    keep = ~bad_rows[sent_rows]
    if drop_empty:
        keep &= n_tokens > 0
    if not keep.all():
        table = table[keep].reset_index(drop=True)
    return table, bad_rows
