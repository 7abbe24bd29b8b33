"""Pull the final answer out of a model response and grade it against the gold answer.

``extract_answer`` takes the content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) and,
failing that, the last number in the response. ``is_correct`` compares a prediction with
the gold answer: a cheap exact / numeric comparison first, then math-verify for anything
symbolic (LaTeX fractions, roots, intervals, ...).

``grade`` is the rule a rollout row (and the trainer's default reward) uses: a response cut
off at the token limit counts only with an explicit final answer (``explicit_answer``: the
last box, else the last "the answer is X" / "Answer: X" statement), as RLVR graders do;
``lenient_truncated`` grades it by ``extract_answer`` like a finished one.

``math_verify`` is imported lazily, so importing this module costs nothing.
"""

from __future__ import annotations

import re
import threading
from fractions import Fraction

__all__ = ["explicit_answer", "extract_answer", "grade", "is_correct"]

# ---------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------

_BOX_CMD = re.compile(r"\\(boxed|fbox)(?![A-Za-z])")

# The last number of a response. A minus sign only counts when it does not follow a
# word character (so "7-5" gives 5, but "x = -5" gives -5); digits glued to a word
# ("SmolLM2", "x2") are not numbers.
_NUMBER = re.compile(
    r"(?<![\w.])"
    r"(?P<num>-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:/\d+(?![\d.]))?"
    r"|-?\.\d+)"
)

_UNICODE_MINUS = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-"})


def _boxed_contents(text: str) -> list[str]:
    """Contents of every ``\\boxed{..}`` / ``\\fbox{..}`` / ``\\boxed x`` in order of appearance."""
    found: list[str] = []
    for m in _BOX_CMD.finditer(text):
        i = m.end()
        n = len(text)
        j = i
        while j < n and text[j] in " \t":
            j += 1
        if j < n and text[j] == "{":
            depth = 0
            k = j
            while k < n:
                c = text[k]
                if c == "\\" and k + 1 < n:  # escaped char such as \{ or \}
                    k += 2
                    continue
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                    if depth == 0:
                        found.append(text[j + 1 : k].strip())
                        break
                k += 1
            # unbalanced (truncated response): ignore this box
        elif m.group(1) == "boxed" and j > i:
            # "\boxed 5" form: the token that follows the space
            tok = re.match(r"[^\s$]+", text[j:])
            if tok:
                found.append(tok.group(0).rstrip(".,;"))
    return [c for c in found if c]


def _plain_number(raw: str) -> str:
    """A number as _NUMBER found it, without thousands separators or a bare leading point."""
    raw = raw.replace(",", "")
    if raw.startswith("-."):
        return "-0" + raw[1:]
    if raw.startswith("."):
        return "0" + raw
    return raw


def _last_number(text: str) -> str | None:
    last = None
    for m in _NUMBER.finditer(text.translate(_UNICODE_MINUS)):
        last = m.group("num")
    return None if last is None else _plain_number(last)


# "the answer is 12", "final answer: 12", "Answer: $\\frac{1}{2}$" (DAPO's own format)
_STATED = re.compile(r"\banswer\s*(?:is\b\s*:?|:)", re.IGNORECASE)
_MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]")
_SENTENCE_END = re.compile(r"[.;!?](?=\s|$)")
# a number that stands alone: at the end, before punctuation or before a word ("12 apples"), not "2x + 1"
_LEADING_NUMBER = re.compile(_NUMBER.pattern + r"(?=\s*$|[.,;!?*)]|\s+[^\W\d_])")


# a short formula: digits, letters, operators and brackets, with at least one digit or operator,
# and no run of three letters outside a LaTeX command (prose has words, formulas rarely do)
_FORMULA = re.compile(r"(?=.*[\d=+\-*/^])(?!.*(?<!\\)\b[A-Za-z]{3,})[\w\s=+\-*/^().,\\{}\[\]]{1,24}")


def _statement_value(line: str) -> str | None:
    """The answer a statement gives on the rest of its line: a leading math span, else a
    number standing alone ("12 apples."), else the text up to the end of the sentence when it
    reads as a short formula ("x = 5", "2x + 1"), not as prose ("correct", "within the box")."""
    s = line.strip().strip("*").strip()
    math_span = _MATH_SPAN.match(s)
    if math_span:
        return next(g for g in math_span.groups() if g is not None).strip() or None
    number = _LEADING_NUMBER.match(s.translate(_UNICODE_MINUS))
    if number:
        return _plain_number(number.group("num"))
    s = _SENTENCE_END.split(s, 1)[0].strip().strip("*").strip()
    return s if _FORMULA.fullmatch(s) else None


def _stated_answer(text: str) -> str | None:
    """The value of the last "answer is X" / "Answer: X" statement that gives one."""
    found = None
    for m in _STATED.finditer(text):
        found = _statement_value(text[m.end():].split("\n", 1)[0]) or found
    return found


def explicit_answer(response: str) -> str | None:
    """The final answer ``response`` states outright: the last boxed content, else the last
    "the answer is X" / "Answer: X" statement, else None (a bare last number is not one)."""
    if not response:
        return None
    boxed = _boxed_contents(response)
    return boxed[-1] if boxed else _stated_answer(response)


def extract_answer(response: str) -> str | None:
    """The final answer of ``response``: the last boxed content, else the last number, else None."""
    if not response:
        return None
    boxed = _boxed_contents(response)
    if boxed:
        return boxed[-1]
    return _last_number(response)


# ---------------------------------------------------------------------------
# Grading
# ---------------------------------------------------------------------------

_FRAC = re.compile(r"^(-?)\\[dt]?frac\{(-?\d+)\}\{(-?\d+)\}$")
_FRAC_SHORT = re.compile(r"^(-?)\\[dt]?frac(\d)(\d)$")
_THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def _normalise(s: str) -> str:
    s = s.strip().translate(_UNICODE_MINUS)
    # strip math delimiters and an outer \boxed{}
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
            s = s[len(left) : len(s) - len(right)].strip()
    inner = _boxed_contents(s)
    if inner and s.startswith(("\\boxed", "\\fbox")):
        s = inner[-1]
    s = re.sub(r"\\[,;:! ]|\\q?quad", "", s)
    s = re.sub(r"\s+", "", s)
    return s.rstrip(".")


def _as_number(s: str) -> Fraction | None:
    """``s`` as an exact number if it is a plain integer / decimal / fraction, else None."""
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    m = _FRAC.match(s) or _FRAC_SHORT.match(s)
    if m:
        sign, num, den = m.groups()
        s = f"{sign}{num}/{den}"
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)(/[-+]?\d+)?", s):
        return None
    try:
        return Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None


def _wrap(s: str) -> str:
    """A string that math-verify's LaTeX extractor will find: boxed unless already delimited."""
    if "\\boxed" in s or "$" in s or "\\(" in s or "\\[" in s:
        return s
    return "\\boxed{" + s + "}"


def _math_verify(gold: str, predicted: str) -> bool:
    try:
        from math_verify import parse, verify
    except ImportError:  # pragma: no cover - math-verify is a hard dependency
        return False
    # math-verify times out with signal.alarm, which only works in the main thread.
    in_main = threading.current_thread() is threading.main_thread()
    timeout = 5 if in_main else None
    try:
        gold_parsed = parse(_wrap(gold), parsing_timeout=timeout)
        if not gold_parsed:
            return False
        pred_parsed = parse(_wrap(predicted), parsing_timeout=timeout)
        if not pred_parsed:
            return False
        return bool(verify(gold_parsed, pred_parsed, timeout_seconds=timeout))
    except Exception:  # noqa: BLE001 - a grader must never crash a run
        return False


def is_correct(predicted: str | None, gold: str | None) -> bool | None:
    """Whether ``predicted`` equals ``gold``; None when there is no gold answer."""
    if gold is None:
        return None
    if predicted is None:
        return False
    gold_s = _normalise(str(gold))
    pred_s = _normalise(str(predicted))
    if not pred_s:
        return False
    if gold_s == pred_s or gold_s.lower() == pred_s.lower():
        return True
    g_num = _as_number(gold_s)
    p_num = _as_number(pred_s)
    if g_num is not None and p_num is not None:
        if g_num == p_num:
            return True
        if g_num.denominator == 1 and p_num.denominator == 1:
            return False  # two different integers: no need for math-verify
    return _math_verify(str(gold), str(predicted))


def grade(response: str, answer: str | None, *, truncated: bool,
          lenient_truncated: bool = False) -> tuple[str | None, bool | None]:
    """``(extracted, correct)`` of a response; ``correct`` is None without a gold answer.

    A finished response is graded by :func:`extract_answer`. A ``truncated`` one (cut off at
    the token limit) only by its :func:`explicit_answer`: without one it is wrong (extracted
    None), as RLVR graders do. ``lenient_truncated`` grades it like a finished one.
    """
    extracted = explicit_answer(response) if truncated and not lenient_truncated else extract_answer(response)
    return extracted, is_correct(extracted, answer)
