"""Built-in metrics and the metric protocol.

Every metric has a stable ``name``, scores one example at a time, and says whether its score is binary
(0/1, compared with an exact McNemar test) or continuous (compared with a paired permutation test), and
whether higher is better. Quality metrics read the model's text and the record; usage metrics read the
:class:`~finetune_sdk.backends.base.ChatResponse` (tokens, latency) and catalog prices (cost).

Built-in names (:func:`get`): ``exact_match``, ``accuracy`` (multiple-choice letter), ``token_f1`` (the
simple token-overlap F1 of the published Haiku/TAT-QA result), ``tatqa_em`` / ``tatqa_f1`` (TAT-QA-style,
numbers and scale normalised), ``rouge_l``, ``output_tokens``, ``latency_s`` and ``cost_usd``.
Any callable ``(prediction: str, record: Record) -> float`` is a metric too (named by ``__name__``), and
:class:`~finetune_sdk.evaluation.judge.JudgeMetric` asks a model to grade answers.

Where the gold answer comes from: the record's final assistant turn (``Conversation.reference``), else
``metadata["reference"]``, else ``metadata["answer"]``. A metric returns ``None`` when it does not apply
(no reference, no token counts, no prices); such examples are left out of that metric's mean.

Examples:
    >>> from finetune_sdk.data.records import Conversation
    >>> rec = Conversation.from_pairs("Capital of France?", "Paris")
    >>> TokenF1().score("It is Paris", rec)
    0.5
    >>> question = Conversation.from_pairs("2+2? A) 3 B) 5 C) 4", metadata={"answer": "C"})
    >>> MultipleChoiceAccuracy().score("The answer is (c).", question)
    1.0
    >>> extract_choice("C) 12 apples")
    'C'
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Union

from pydantic import BaseModel, ConfigDict, Field

from finetune_sdk.backends.base import ChatResponse
from finetune_sdk.catalog import Prices
from finetune_sdk.data.records import Conversation, Record
from finetune_sdk.errors import ConfigurationError

__all__ = [
    "BUILTIN_METRICS",
    "CostUSD",
    "ExactMatch",
    "FunctionMetric",
    "LatencySeconds",
    "Metric",
    "MetricInfo",
    "MetricLike",
    "MetricResult",
    "MultipleChoiceAccuracy",
    "OutputTokens",
    "RougeL",
    "Sample",
    "TatQAExactMatch",
    "TatQAF1",
    "TokenF1",
    "as_metric",
    "extract_choice",
    "get",
    "normalize_text",
    "reference_of",
    "rouge_l",
    "tatqa_score",
    "token_f1",
]


class MetricInfo(BaseModel):
    """A metric's definition as recorded in a report."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    binary: bool = False
    higher_is_better: bool = True
    category: Literal["quality", "usage"] = "quality"
    version: str = "1"
    params: Mapping[str, Any] = Field(default_factory=dict)


class MetricResult(NamedTuple):
    """One example's score (``None``: the metric does not apply) and an optional explanation."""

    value: float | None
    detail: str | None = None


@dataclass(frozen=True)
class Sample:
    """What a metric sees for one example."""

    prediction: str
    record: Record
    response: ChatResponse | None = None
    prices: Prices | None = None
    index: int = 0


class Metric:
    """Base class of metrics: set the class attributes and override :meth:`score` or :meth:`compute`."""

    name: str = ""
    description: str = ""
    binary: bool = False
    higher_is_better: bool = True
    category: Literal["quality", "usage"] = "quality"
    version: str = "1"

    def score(self, prediction: str, record: Record) -> float | None:
        """The score of ``prediction`` for ``record`` (``None`` when the metric does not apply)."""
        raise NotImplementedError(f"{type(self).__name__} scores from the response; call compute(sample)")

    def compute(self, sample: Sample) -> MetricResult:
        """Score one :class:`Sample`. The default calls :meth:`score` on the prediction and the record."""
        return MetricResult(self.score(sample.prediction, sample.record))

    def params(self) -> dict[str, Any]:
        """Settings that change the scores (recorded in the report)."""
        return {}

    def info(self) -> MetricInfo:
        """This metric's definition for the report."""
        return MetricInfo(
            name=self.name,
            description=self.description,
            binary=self.binary,
            higher_is_better=self.higher_is_better,
            category=self.category,
            version=self.version,
            params=self.params(),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


# ---------------------------------------------------------------------------------------------- text utils
_PUNCT = set(string.punctuation) | {"“", "”", "‘", "’", "–", "—", "…", "´", "`"}
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _strip_punct(text: str) -> str:
    return "".join(ch for ch in text if ch not in _PUNCT)


def normalize_text(text: str, *, articles: bool = True) -> str:
    """Lowercase, NFKC, punctuation removed, (optionally) articles removed, whitespace collapsed.

    Examples:
        >>> normalize_text("  The Answer: 42! ")
        'answer 42'
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = _strip_punct(text)
    if articles:
        text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _tokens(text: str) -> list[str]:
    return normalize_text(text, articles=False).split()


def reference_of(record: Record) -> str | None:
    """A record's gold answer: the final assistant turn, else ``metadata["reference"]`` or ``["answer"]``."""
    if isinstance(record, Conversation) and record.reference is not None:
        return record.reference
    for key in ("reference", "answer"):
        value = record.metadata.get(key)
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            return ", ".join(str(v) for v in value)
        return str(value)
    return None


# ---------------------------------------------------------------------------------------------- exact match
class ExactMatch(Metric):
    """1.0 when the prediction equals the reference after :func:`normalize_text` (SQuAD normalisation)."""

    name = "exact_match"
    description = "normalised exact match (lowercase, punctuation and articles removed, whitespace collapsed)"
    binary = True

    def score(self, prediction: str, record: Record) -> float | None:
        ref = reference_of(record)
        if ref is None:
            return None
        return 1.0 if normalize_text(prediction) == normalize_text(ref) else 0.0


# ---------------------------------------------------------------------------------------------- token F1
def token_f1(prediction: str, reference: str) -> float:
    """The simple token-overlap F1 of the published Haiku/TAT-QA result.

    Tokens are the whitespace-split words after lowercasing and removing punctuation; the overlap is the
    multiset intersection. precision = shared / predicted tokens, recall = shared / reference tokens.
    Both empty gives 1.0, one empty gives 0.0.

    Examples:
        >>> token_f1("the cat sat", "the cat")  # p = 2/3, r = 1
        0.8
    """
    pred, ref = _tokens(prediction), _tokens(reference)
    if not pred and not ref:
        return 1.0
    if not pred or not ref:
        return 0.0
    shared = sum((Counter(pred) & Counter(ref)).values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(pred), shared / len(ref)
    return 2 * precision * recall / (precision + recall)


class TokenF1(Metric):
    """Token-overlap F1 against the reference (see :func:`token_f1`)."""

    name = "token_f1"
    description = (
        "token-level F1: multiset overlap of lowercase, punctuation-stripped whitespace tokens; precision = "
        "shared/generated tokens, recall = shared/reference tokens"
    )

    def score(self, prediction: str, record: Record) -> float | None:
        ref = reference_of(record)
        return None if ref is None else token_f1(prediction, ref)


# ---------------------------------------------------------------------------------------------- ROUGE-L
def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure: F1 of LCS precision (LCS / predicted tokens) and recall (LCS / reference tokens).

    Examples:
        >>> round(rouge_l("police killed the gunman", "police kill the gunman"), 4)  # LCS 3 of 4 and 4
        0.75
    """
    pred, ref = _tokens(prediction), _tokens(reference)
    if not pred and not ref:
        return 1.0
    if not pred or not ref:
        return 0.0
    lcs = _lcs_length(pred, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


class RougeL(Metric):
    """ROUGE-L F-measure against the reference (see :func:`rouge_l`)."""

    name = "rouge_l"
    description = "ROUGE-L F1 (longest common subsequence of lowercase, punctuation-stripped tokens)"

    def score(self, prediction: str, record: Record) -> float | None:
        ref = reference_of(record)
        return None if ref is None else rouge_l(prediction, ref)


# ------------------------------------------------------------------------------------------ multiple choice
_MARKDOWN = re.compile(r"[*_`#]")


def extract_choice(text: str, choices: str = "ABCDE", *, options: Sequence[str] | None = None) -> str | None:
    """The option letter a free-text answer picks, or ``None``.

    Tries, in order: an explicit marker (``"Answer: (C)"``, ``"the answer is c"``, ``"option C"``, the last
    one wins); a letter opening the answer (``"C) 12"``, ``"(c)"``, ``"C."``, ``"C"``); a parenthesised or
    ``X)``-style letter anywhere (the last one); and, with ``options`` (``["A)12", "B)15", ...]``), an answer
    that equals one option's text.

    Examples:
        >>> answers = ["Answer: (C)", "the answer is c.", "(b) because", "e", "I think D) 7"]
        >>> [extract_choice(s) for s in answers]
        ['C', 'C', 'B', 'E', 'D']
        >>> extract_choice("12", options=["A)10", "B)12"])
        'B'
    """
    letters = "".join(sorted(set(choices.upper())))
    cls = f"[{letters}{letters.lower()}]"
    clean = _MARKDOWN.sub("", unicodedata.normalize("NFKC", text)).strip()
    marker = re.compile(
        r"(?:answer|option|choice)\s*(?:is|would be|will be|should be)?\s*(?:option|choice)?\s*[:=\-]?\s*"
        rf"[\(\[]?\s*({cls})\s*(?:[\)\]\.:,;!]|\s|$)",
        re.IGNORECASE,
    )
    hits = marker.findall(clean)
    if hits:
        return str(hits[-1]).upper()
    lead = re.match(rf"^[\(\[]?\s*({cls})\s*(?:[\)\]\.:,;]|$)", clean)
    if lead:
        return lead.group(1).upper()
    lead_upper = re.match(rf"^([{letters}])\s*$|^([{letters}])\s+[-–]", clean)
    if lead_upper:
        return (lead_upper.group(1) or lead_upper.group(2)).upper()
    anywhere = re.findall(rf"\(({cls})\)|(?<![A-Za-z])([{letters}])\)", clean)
    if anywhere:
        a, b = anywhere[-1]
        return str(a or b).upper()
    if options:
        wanted = normalize_text(clean)
        for opt in options:
            m = re.match(rf"^\s*[\(\[]?([{letters}])[\)\]\.:]\s*(.*)$", opt, flags=re.DOTALL)
            if m and wanted and normalize_text(m.group(2)) == wanted:
                return m.group(1).upper()
    return None


class MultipleChoiceAccuracy(Metric):
    """1.0 when the letter extracted from the answer equals the gold letter (AQuA-style A-E).

    The gold letter is ``metadata["answer"]`` when it is a single letter, else the letter extracted from
    the reference text. ``metadata["options"]`` (when present) lets an answer that repeats an option's
    text count as that option.
    """

    name = "accuracy"
    description = "multiple-choice accuracy: extracted option letter equals the gold letter"
    binary = True

    def __init__(self, choices: str = "ABCDE") -> None:
        self.choices = choices.upper()

    def params(self) -> dict[str, Any]:
        return {"choices": self.choices}

    def gold_letter(self, record: Record) -> str | None:
        """The correct letter for ``record``."""
        answer = record.metadata.get("answer")
        if isinstance(answer, str) and answer.strip().upper() in self.choices and len(answer.strip()) == 1:
            return answer.strip().upper()
        ref = reference_of(record)
        return None if ref is None else extract_choice(ref, self.choices)

    def score(self, prediction: str, record: Record) -> float | None:
        gold = self.gold_letter(record)
        if gold is None:
            return None
        options = record.metadata.get("options")
        opts = [str(o) for o in options] if isinstance(options, (list, tuple)) else None
        return 1.0 if extract_choice(prediction, self.choices, options=opts) == gold else 0.0


# ---------------------------------------------------------------------------------------------- TAT-QA
_SCALE_FACTORS: dict[str, float] = {"": 1.0, "thousand": 1e3, "million": 1e6, "billion": 1e9, "percent": 0.01}
_NUMBER = re.compile(
    r"(?P<cur0>[$€£¥])?\s*(?P<open>\()?\s*(?P<sign>[-−–])?\s*(?P<cur>[$€£¥])?\s*(?P<sign2>[-−–])?\s*"
    r"(?<![\w.])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?![\w])"
    r"(?P<close>\))?\s*(?P<unit>%|percent\b|per cent\b|thousand\b|million\b|billion\b)?",
    re.IGNORECASE,
)
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        (
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        )
    )
}
_ANSWER_MARKER = re.compile(r"(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*", re.IGNORECASE)


@dataclass(frozen=True)
class _Num:
    value: float  # as written, sign applied, no scale
    unit: str | None  # explicit unit in the text: "percent", "thousand", "million", "billion"
    start: int
    end: int


def _numbers(text: str) -> list[_Num]:
    found: list[_Num] = []
    for m in _NUMBER.finditer(text):
        value = float(m.group("num").replace(",", ""))
        negative = bool(m.group("sign") or m.group("sign2")) or bool(m.group("open") and m.group("close"))
        unit = (m.group("unit") or "").lower()
        unit = "percent" if unit in ("%", "percent", "per cent") else unit
        found.append(_Num(-value if negative else value, unit or None, m.start(), m.end()))
    return found


def _answer_tail(prediction: str) -> str:
    """The part of a prediction that holds the answer: after the last "answer is"/"answer:" or last "="."""
    text = prediction.strip()
    markers = list(_ANSWER_MARKER.finditer(text))
    if markers:
        text = text[markers[-1].end() :]
    elif "=" in text:
        text = text.rsplit("=", 1)[1]
    return text


def _as_number(text: str) -> _Num | None:
    """A number when ``text`` is just a number (with currency, sign, parentheses, unit), else ``None``."""
    stripped = text.strip().rstrip(".").strip()
    nums = _numbers(stripped)
    if len(nums) != 1:
        return None
    n = nums[0]
    rest = (stripped[: n.start] + stripped[n.end :]).strip()
    return n if not rest else None


def _numeric_match(pred: _Num, gold_value: float, scale: str) -> bool:
    """Whether ``pred`` equals the gold number (in ``scale`` units) to two decimals."""
    factor = _SCALE_FACTORS.get(scale, 1.0)
    candidates: list[float] = []
    if pred.unit is not None:
        candidates.append(pred.value * _SCALE_FACTORS[pred.unit] / factor)
    else:
        candidates.append(pred.value)  # in the question's own unit, as the gold answers are written
        if factor != 1.0:
            candidates.append(pred.value / factor)  # an absolute figure (12,500,000 or 0.2342)
    for c in candidates:
        if round(c, 2) == round(gold_value, 2) or abs(c - gold_value) <= 0.005 + 1e-9 * max(
            1.0, abs(gold_value)
        ):
            return True
    return False


def _canonical_tokens(text: str, scale: str) -> tuple[str, ...]:
    """Normalised tokens of a span, each number replaced by one token holding its scaled value.

    A number's own unit wins; a bare number is in the question's ``scale`` (rounded to 2 decimals first,
    like the official scorer), so ``"$(1,200)"`` with scale thousand and ``"-1.2 million"`` are one token.
    """

    def canon(m: re.Match[str]) -> str:
        (n,) = _numbers(m.group(0))
        factor = _SCALE_FACTORS[n.unit] if n.unit else _SCALE_FACTORS.get(scale, 1.0)
        value = f"{round(n.value, 2) * factor:.4f}"
        return " num" + value.replace("-", "neg").replace(".", "p") + " "

    return tuple(normalize_text(_NUMBER.sub(canon, text)).split())


_STRONG_DELIMITERS = re.compile(r"\n+|;|\|")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


def _split_spans(text: str) -> list[str]:
    """Spans of a list answer: lines / ``;`` / ``|`` when present, else ``", "`` and ``" and "``."""
    strong = [_BULLET.sub("", p).strip().strip(".") for p in _STRONG_DELIMITERS.split(text)]
    strong = [p for p in strong if p]
    if len(strong) > 1:
        return strong
    return [q.strip().strip(".") for q in re.split(r",\s+|\s+and\s+", text) if q.strip().strip(".")]


def _segments_into(pred: tuple[str, ...], golds: list[tuple[str, ...]]) -> bool:
    """Whether ``pred`` is exactly the gold spans (any order) joined by delimiters ("and", punctuation)."""
    rest = list(pred)
    for gold in sorted(golds, key=len, reverse=True):
        if not gold:
            continue
        for i in range(len(rest) - len(gold) + 1):
            if tuple(rest[i : i + len(gold)]) == gold:
                rest[i : i + len(gold)] = ["\x00"]
                break
        else:
            return False
    return all(tok in ("\x00", "and", "&") for tok in rest)


def _bag_f1(pred: set[str], gold: set[str]) -> float:
    shared = len(pred & gold)
    precision = shared / len(pred) if pred else 1.0
    recall = shared / len(gold) if gold else 1.0
    return 0.0 if precision == 0.0 and recall == 0.0 else 2 * precision * recall / (precision + recall)


def _best_assignment(scores: list[list[float]]) -> float:
    """Maximum total score of a one-to-one assignment of rows to columns (bitmask DP; small inputs)."""
    rows = len(scores)
    cols = len(scores[0]) if rows else 0
    if rows == 0 or cols == 0:
        return 0.0
    if cols > rows:  # make columns the smaller side
        scores = [list(c) for c in zip(*scores, strict=True)]
        rows, cols = cols, rows
    if cols > 16:  # greedy fallback; multi-span answers are far smaller than this
        used: set[int] = set()
        total = 0.0
        for row in scores:
            free = [(v, j) for j, v in enumerate(row) if j not in used]
            if free:
                value, col = max(free)
                used.add(col)
                total += value
        return total
    best_by_mask: dict[int, float] = {0: 0.0}
    for r in range(rows):
        nxt: dict[int, float] = {}
        for mask, val in best_by_mask.items():
            if nxt.get(mask, -1.0) < val:  # leave row r unassigned
                nxt[mask] = val
            for j in range(cols):
                if not mask & (1 << j):
                    m2 = mask | (1 << j)
                    v2 = val + scores[r][j]
                    if nxt.get(m2, -1.0) < v2:
                        nxt[m2] = v2
        best_by_mask = nxt
    return max(best_by_mask.values())


def _gold_of(record: Record) -> tuple[list[str], str, str] | None:
    meta = record.metadata
    answer = meta.get("answer")
    if answer is None:
        ref = reference_of(record)
        if ref is None:
            return None
        answer = ref
    scale = str(meta.get("scale") or "").lower()
    answer_type = str(meta.get("answer_type") or "")
    spans = [str(a) for a in answer] if isinstance(answer, (list, tuple)) else [str(answer)]
    if not answer_type:
        answer_type = "multi-span" if len(spans) > 1 else ("arithmetic" if _as_number(spans[0]) else "span")
    return spans, answer_type, scale


def tatqa_score(
    prediction: str,
    answer: str | float | int | Sequence[str],
    *,
    answer_type: str = "span",
    scale: str = "",
) -> tuple[float, float]:
    """TAT-QA-style ``(exact_match, f1)`` of a free-text prediction.

    - Numbers are normalised: thousands commas, currency symbols, ``%``, and parentheses as negatives;
      scale words (thousand/million/billion/percent) in the prediction are applied, and a bare number is
      read in the question's ``scale`` (as TAT-QA's gold answers are written), or as an absolute figure.
    - ``arithmetic`` and ``count`` answers: exact after normalisation, to two decimals (the official
      scorer rounds to two decimals); F1 equals EM. The number read is the first one after the last
      "answer is"/"answer:" or "=" in the prediction.
    - ``span`` / ``multi-span``: text is lowercased, punctuation and articles dropped, and each number
      becomes one canonical token (its scaled value). A multi-span answer is an exact match when it is
      the gold spans in any order joined by delimiters (lines, ``;``, commas, "and"); otherwise it is
      split (lines / ``;`` first, else ``", "`` and ``" and "``) and EM is equality of the span sets.
      F1 is the official scorer's bag-of-words F1 under the best one-to-one alignment of predicted and
      gold spans, averaged over the larger side and rounded to 2 decimals.

    Examples:
        >>> tatqa_score("$1,234.5 million", 1234.5, answer_type="arithmetic", scale="million")
        (1.0, 1.0)
        >>> tatqa_score("23.42%", 23.42, answer_type="arithmetic", scale="percent")
        (1.0, 1.0)
        >>> tatqa_score("2019 and 2018", ["2018", "2019"], answer_type="multi-span")
        (1.0, 1.0)
    """
    scale = (scale or "").lower()
    if scale not in _SCALE_FACTORS:
        scale = ""
    golds = [str(a) for a in answer] if isinstance(answer, (list, tuple)) else [str(answer)]
    text = re.sub(
        r"^\s*(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*", "", prediction.strip(), flags=re.IGNORECASE
    )
    if not text.strip():
        return 0.0, 0.0
    if answer_type in ("arithmetic", "count"):
        gold_num = _as_number(golds[0])
        if gold_num is None:
            return 0.0, 0.0
        tail = _answer_tail(prediction)
        nums = _numbers(tail)
        if not nums and answer_type == "count":
            words = [w for w in re.findall(r"[a-z]+", tail.lower()) if w in _NUMBER_WORDS]
            nums = [_Num(float(_NUMBER_WORDS[words[0]]), None, 0, 0)] if words else []
        if not nums:
            return 0.0, 0.0
        gold_value = gold_num.value * (
            _SCALE_FACTORS[gold_num.unit] / _SCALE_FACTORS.get(scale, 1.0) if gold_num.unit else 1.0
        )
        em = 1.0 if _numeric_match(nums[0], gold_value, scale) else 0.0
        return em, em
    gold_norm = [_canonical_tokens(g, scale) for g in golds]
    if len(golds) == 1:
        pred_norm = [_canonical_tokens(_BULLET.sub("", text).strip().strip("."), scale)]
        em = 1.0 if pred_norm[0] == gold_norm[0] else 0.0
    elif _segments_into(_canonical_tokens(text, scale), gold_norm):
        pred_norm, em = list(gold_norm), 1.0
    else:
        pred_norm = [_canonical_tokens(s, scale) for s in _split_spans(text)]
        em = 1.0 if set(pred_norm) == set(gold_norm) else 0.0
    gold_bags = [set(g) for g in gold_norm]
    pred_bags = [set(p) for p in pred_norm]
    matrix = [[_bag_f1(p, g) for p in pred_bags] for g in gold_bags]
    total = _best_assignment(matrix)
    f1 = round(total / max(len(gold_bags), len(pred_bags)), 2)
    return em, f1


class _TatQABase(Metric):
    def _both(self, prediction: str, record: Record) -> tuple[float, float] | None:
        gold = _gold_of(record)
        if gold is None:
            return None
        spans, answer_type, scale = gold
        return tatqa_score(prediction, spans, answer_type=answer_type, scale=scale)


class TatQAExactMatch(_TatQABase):
    """TAT-QA exact match (see :func:`tatqa_score`); gold: metadata ``answer``, ``answer_type``, ``scale``."""

    name = "tatqa_em"
    description = (
        "TAT-QA exact match: numbers and scale normalised, arithmetic/count to 2 decimals, spans as sets"
    )
    binary = True

    def score(self, prediction: str, record: Record) -> float | None:
        both = self._both(prediction, record)
        return None if both is None else both[0]


class TatQAF1(_TatQABase):
    """TAT-QA F1 (see :func:`tatqa_score`): bag-of-words F1 over aligned spans; EM for arithmetic/count."""

    name = "tatqa_f1"
    description = "TAT-QA F1: official-scorer bag F1 over aligned normalised spans; equals EM for numbers"

    def score(self, prediction: str, record: Record) -> float | None:
        both = self._both(prediction, record)
        return None if both is None else both[1]


# ---------------------------------------------------------------------------------------------- usage
class OutputTokens(Metric):
    """Output tokens of the answer (``ChatResponse.output_tokens``); lower is better."""

    name = "output_tokens"
    description = "output length in tokens (the service's count, or the backend's estimate)"
    higher_is_better = False
    category = "usage"

    def compute(self, sample: Sample) -> MetricResult:
        tokens = sample.response.output_tokens if sample.response is not None else None
        return MetricResult(None if tokens is None else float(tokens))


class LatencySeconds(Metric):
    """Seconds the request took (``ChatResponse.latency_s``); lower is better."""

    name = "latency_s"
    description = "request latency in seconds"
    higher_is_better = False
    category = "usage"

    def compute(self, sample: Sample) -> MetricResult:
        return MetricResult(None if sample.response is None else float(sample.response.latency_s))


def request_cost(response: ChatResponse | None, prices: Prices | None) -> float | None:
    """USD for one request from catalog per-1k-token prices, or ``None`` without prices or token counts."""
    if response is None or prices is None:
        return None
    if prices.input_per_1k_tokens is None or prices.output_per_1k_tokens is None:
        return None
    if response.input_tokens is None or response.output_tokens is None:
        return None
    return (
        response.input_tokens * prices.input_per_1k_tokens
        + response.output_tokens * prices.output_per_1k_tokens
    ) / 1000


class CostUSD(Metric):
    """USD per request from the catalog prices of the model's ``pricing_model_id``; lower is better."""

    name = "cost_usd"
    description = "cost per request in USD: input/output tokens times the catalog's per-1k-token prices"
    higher_is_better = False
    category = "usage"

    def compute(self, sample: Sample) -> MetricResult:
        return MetricResult(request_cost(sample.response, sample.prices))


# ---------------------------------------------------------------------------------------------- custom
class FunctionMetric(Metric):
    """A plain callable ``(prediction, record) -> float | None`` as a metric, named by ``__name__``."""

    def __init__(
        self,
        fn: Callable[[str, Record], float | None],
        *,
        name: str | None = None,
        binary: bool = False,
        higher_is_better: bool = True,
        description: str | None = None,
    ) -> None:
        self.fn = fn
        fn_name = getattr(fn, "__name__", None)
        self.name = name or (fn_name if isinstance(fn_name, str) and fn_name != "<lambda>" else "custom")
        self.binary = binary
        self.higher_is_better = higher_is_better
        doc = (getattr(fn, "__doc__", None) or "").strip().splitlines()
        self.description = description or (doc[0] if doc else f"custom metric {self.name}")

    def score(self, prediction: str, record: Record) -> float | None:
        value = self.fn(prediction, record)
        if value is None:
            return None
        value = float(value)
        return None if math.isnan(value) else value

    def params(self) -> dict[str, Any]:
        module = getattr(self.fn, "__module__", None)
        qualname = getattr(self.fn, "__qualname__", None)
        return {"callable": f"{module}.{qualname}"} if module and qualname else {}


# ---------------------------------------------------------------------------------------------- registry
BUILTIN_METRICS: Mapping[str, Callable[[], Metric]] = {
    "exact_match": ExactMatch,
    "accuracy": MultipleChoiceAccuracy,
    "token_f1": TokenF1,
    "tatqa_em": TatQAExactMatch,
    "tatqa_f1": TatQAF1,
    "rouge_l": RougeL,
    "output_tokens": OutputTokens,
    "latency_s": LatencySeconds,
    "cost_usd": CostUSD,
}

MetricLike = Union[str, Metric, Callable[[str, Record], Union[float, None]]]  # noqa: UP007


def get(name: str) -> Metric:
    """A new built-in metric by name.

    Raises:
        ConfigurationError: unknown name; the message lists the built-in names.
    """
    factory = BUILTIN_METRICS.get(name)
    if factory is None:
        raise ConfigurationError(
            f"unknown metric {name!r}; built-in metrics: {', '.join(BUILTIN_METRICS)}. "
            "Pass a callable (prediction, record) -> float for a custom metric, or a JudgeMetric."
        )
    return factory()


def as_metric(metric: MetricLike) -> Metric:
    """A :class:`Metric` from a name, a metric, or a callable.

    Raises:
        ConfigurationError: unknown name or an object that is none of those.
    """
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, str):
        return get(metric)
    if callable(metric):
        return FunctionMetric(metric)
    raise ConfigurationError(f"a metric must be a name, a Metric or a callable, got {type(metric).__name__}")


def as_metrics(metrics: Iterable[MetricLike]) -> list[Metric]:
    """Metrics with unique names.

    Raises:
        ConfigurationError: no metrics, or two with the same name (pass ``name=`` to tell them apart).
    """
    out = [as_metric(m) for m in metrics]
    if not out:
        raise ConfigurationError("Evaluator needs at least one metric, e.g. metrics=['exact_match']")
    names = [m.name for m in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigurationError(
            f"metric names must be unique; repeated: {', '.join(dupes)}. Give them name=..."
        )
    return out
