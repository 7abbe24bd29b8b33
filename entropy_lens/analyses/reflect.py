"""Reflective sentences: is the model less sure of itself when it stops to check its work?

Each response is split into sentences (``analyses/sentences.py``); a sentence's entropy is the mean
entropy of its tokens. A sentence is *reflective* when the reflection pattern matches it
(searched in the sentence, case-insensitive). Reflective sentences are compared with the
other sentences with the statistics of ``stats.compare`` (responses are the bootstrap
clusters), and the reflection frequency (reflective sentences per response) is reported
with a 95% CI.

Decisions behind ``REFLECTION_PATTERN`` (whole words, any case; tested one by one in
``tests/test_reflect.py``):

- check, checks, checked, checking, double-check, re-check, recheck, cross-check (any
  hyphenation, also "double check"). Not checkerboard, checker, checkout, checklist,
  checkpoint, paycheck: those are nouns, not the act of checking.
- wait: the word only. "waits", "waited", "waiting" are left out: in math problems they
  are the story ("she waits 10 minutes", "waiting time"), while the reflective "Wait," is
  the interjection. waiter, await are not matched.
- verify, verifies, verified, verifying, verification, re-verify; not "unverified" (a
  state, not an act) nor "verifiable" ("verifiable rewards" is jargon, not reflection).
- confirm, confirms, confirmed, confirming, confirmation; not "unconfirmed".
- re-examine / reexamine (-s, -d, -ing), reconsider (-s, -ed, -ing, -ation), re-evaluate,
  recalculate, recompute (and inflections): redoing a step.
- mistake, mistakes, mistaken ("I was mistaken" corrects oneself), mistakenly.
- phrases: "let me see", "let's see", "let me double", "make sure", "hold on"; "let me
  see" and "let's see" are the same pause, "hold on" is the same interruption as "wait".

The default pattern is all lower case, so a case-sensitive search of the lower-cased
text finds what a case-insensitive search of the original finds, about three times faster;
and every match holds one of ``_STEMS``, so sentences without a stem are not searched at
all. Both shortcuts are switched off where ``str.lower`` and ``re.IGNORECASE`` disagree (a
character whose lower case is longer, U+0130; the dotless i and long s, which
``re.IGNORECASE`` reads as i and s); ``tests/test_reflect.py`` checks they change nothing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from entropy_lens.errors import UserError
from entropy_lens.stats import N_BOOT, mean_ci

_SPACE = r"[^\S\n\r]+"  # spaces inside a phrase (a line break ends a sentence anyway)
REFLECTION_PATTERN = (
    r"\b(?:"
    r"(?:(?:double|cross|re)[-\s]?)?check(?:s|ed|ing)?"
    r"|wait"
    r"|(?:re-?)?verif(?:y|ies|ied|ying|ication)"
    r"|confirm(?:s|ed|ing|ation)?"
    r"|re-?examin(?:e|es|ed|ing)"
    r"|reconsider(?:s|ed|ing|ation)?"
    r"|re-?evaluat(?:e|es|ed|ing|ion)"
    r"|recalculat(?:e|es|ed|ing|ion)"
    r"|recomput(?:e|es|ed|ing|ation)"
    r"|mistake(?:s|n|nly)?"
    rf"|let{_SPACE}me{_SPACE}(?:see|double)"
    rf"|let['’]s{_SPACE}see"
    rf"|make{_SPACE}sure"
    rf"|hold{_SPACE}on"
    r")\b"
)
# every match of REFLECTION_PATTERN contains one of these (lower case); the phrases are
# represented by their rarer word (see, double, sure, hold)
_STEMS = re.compile(r"check|wait|verif|confirm|examin|reconsider|evaluat|recalculat|recomput|mistake|see|double|sure|hold")

_LOWER_CASE_PATTERN = re.compile(REFLECTION_PATTERN)  # for lower-cased text

SENTENCE_COLUMNS = ["prompt_id", "sample_id", "sentence", "start", "end", "n_tokens", "mean_entropy", "reflective"]


@dataclass
class ReflectResult:
    """What ``reflect`` found.

    sentences: one row per sentence (prompt_id, sample_id, response_index, sentence,
        start, end, n_tokens, mean_entropy in nats, reflective); ``response_index`` numbers
        the usable rollout rows (the bootstrap clusters).
    summary: one row; reflective vs other sentences (n, mean, median, other_n,
        other_mean, other_median, diff, diff_ci_low, diff_ci_high, p_value, effect_size)
        and the reflection frequency (reflections_per_response with its 95% CI).
    per_response: prompt_id, sample_id, n_sentences, n_reflective.
    """

    sentences: object  # pandas.DataFrame
    summary: object  # pandas.DataFrame
    per_response: object  # pandas.DataFrame
    frequency: float  # mean reflective sentences per response
    frequency_ci: tuple[float, float]
    skipped: str = ""  # note on rollout rows left out ('' when none)
    pattern: str = REFLECTION_PATTERN


def compile_pattern(pattern: str | None) -> re.Pattern:
    """The reflection pattern, compiled case-insensitive; a bad user pattern is a UserError."""
    if pattern is None:
        return re.compile(REFLECTION_PATTERN, re.IGNORECASE)
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as error:
        raise UserError(f"--pattern {pattern!r} is not a valid regular expression ({error.msg} at position {error.pos})",
                        "pass a Python regular expression, e.g. 'wait|verify|check'") from None
    if compiled.search("") is not None:
        raise UserError(f"--pattern {pattern!r} matches the empty string, so every sentence would be reflective",
                        "pass a pattern that needs at least one character, e.g. 'wait|verify|check'")
    return compiled


def is_reflective(sentences: list[str], pattern: str | None = None) -> np.ndarray:
    """Boolean array: does the reflection pattern (default ``REFLECTION_PATTERN``) match
    each sentence (searched anywhere in it, case-insensitive)."""
    compiled = compile_pattern(pattern)
    out = np.zeros(len(sentences), dtype=bool)
    if pattern is None and sentences:
        # the default pattern's shortcuts (see module docstring)
        joined = "\n".join(sentences).lower()
        if len(joined) == len(sentences) - 1 + sum(map(len, sentences)) and "\u0131" not in joined \
                and "\u017f" not in joined:
            starts = np.zeros(len(sentences) + 1, dtype=np.int64)
            np.cumsum([len(s) + 1 for s in sentences], out=starts[1:])
            hits = np.array([m.start() for m in _STEMS.finditer(joined)], dtype=np.int64)
            search = _LOWER_CASE_PATTERN.search
            for i in np.unique(np.searchsorted(starts, hits, side="right") - 1).tolist():
                # the sentence's slice of the joined text; its "\n" neighbours act as its ends
                out[i] = search(joined, starts[i], starts[i + 1] - 1) is not None
            return out
    search = compiled.search
    for i, sentence in enumerate(sentences):
        out[i] = search(sentence) is not None
    return out


def reflect(rollouts, *, pattern: str | None = None, n_boot: int = N_BOOT, seed: int = 0) -> ReflectResult:
    """Entropy of reflective vs other sentences, and reflective sentences per response.

    ``rollouts`` is a rollout table (DataFrame) or a rollout directory. ``pattern`` is a
    regular expression replacing ``REFLECTION_PATTERN`` (searched in each sentence,
    case-insensitive). Entropies are in nats.
    """
    import pandas as pd

    from entropy_lens.analyses.sentences import sentences_and_bad_rows
    from entropy_lens.stats import compare
    from entropy_lens.rollouts.load import load_rollouts
    from entropy_lens.rollouts.validate import TOKEN_COLUMNS, Checked

    compile_pattern(pattern)  # a bad pattern fails before any work
    checked = load_rollouts(rollouts, columns=TOKEN_COLUMNS)
    frame = checked.frame
    table, bad_rows = sentences_and_bad_rows(frame)
    skipped = dict(checked.skipped)
    if bad_rows.any():
        skipped["offsets out of order or outside the response"] = int(bad_rows.sum())
    if bad_rows.all():
        raise UserError(f"rollout table has no usable rows ({Checked(frame, skipped).skipped_note()})",
                        "generate or score responses first")
    table["reflective"] = is_reflective(table["sentence"].tolist(), pattern)

    flag = table["reflective"].to_numpy()
    values = table["mean_entropy"].to_numpy(dtype=np.float64)
    clusters = table["response_index"].to_numpy()
    comparison = compare(values[flag], values[~flag], clusters[flag], clusters[~flag], n_boot=n_boot, seed=seed)

    kept = np.flatnonzero(~bad_rows)
    n_responses = len(kept)
    n_sentences = np.bincount(clusters, minlength=len(frame))[kept]
    n_reflective = np.bincount(clusters[flag], minlength=len(frame))[kept]
    per_response = pd.DataFrame({
        "prompt_id": frame["prompt_id"].to_numpy()[kept], "sample_id": frame["sample_id"].to_numpy()[kept],
        "n_sentences": n_sentences.astype(np.int64), "n_reflective": n_reflective.astype(np.int64),
    })
    frequency, low, high = mean_ci(n_reflective, lower_bound=0.0)  # counts: stops at 0
    summary = pd.DataFrame([{
        "group": "reflective", **comparison.as_dict(),
        "responses": n_responses,
        "responses_with_reflection": int((n_reflective > 0).sum()),
        "reflections_per_response": frequency,
        "reflections_per_response_ci_low": low,
        "reflections_per_response_ci_high": high,
        "reflective_share": float(flag.mean()) if len(flag) else math.nan,
    }])
    return ReflectResult(sentences=table, summary=summary, per_response=per_response, frequency=frequency,
                         frequency_ci=(low, high), skipped=Checked(frame, skipped).skipped_note(),
                         pattern=REFLECTION_PATTERN if pattern is None else pattern)
