"""Metrics against hand-computed cases."""

from __future__ import annotations

from fractions import Fraction

import pytest

from finetune_sdk.backends.base import ChatResponse
from finetune_sdk.catalog import Prices
from finetune_sdk.data.records import Conversation, TextRecord
from finetune_sdk.errors import ConfigurationError
from finetune_sdk.evaluation import metrics as M


def conv(prompt: str, reference: str | None = None, **metadata: object) -> Conversation:
    return Conversation.from_pairs(
        *([prompt] if reference is None else [prompt, reference]), metadata=metadata
    )


# ----------------------------------------------------------------------------------------------- token F1
@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        # shared 2 of 3 generated, 2 of 2 reference: P=2/3, R=1, F1 = 2*(2/3)/(5/3) = 4/5
        ("the cat sat", "the cat", Fraction(4, 5)),
        # multiset: "a a b" vs "a b b": shared {a:1, b:1} = 2; P = R = 2/3
        ("a a b", "a b b", Fraction(2, 3)),
        # lowercase, punctuation stripped: "$1,234.5 Million." and "1234.5 million" are both "12345 million"
        ("$1,234.5 Million.", "1234.5 million", Fraction(1)),
        # ...so "1,234.50" ("123450") and "1234.5" ("12345") share nothing: the simple F1 is not number-aware
        ("1,234.50 million", "1234.5 million", Fraction(1, 2)),
        # published style: verbose answer, reference 3 tokens, generated 7 tokens, 3 shared: P=3/7, R=1 -> 0.6
        ("The total revenue was 12.5 million dollars", "12.5 million dollars", Fraction(3, 5)),
        ("", "", Fraction(1)),
        ("something", "", Fraction(0)),
        ("no overlap here", "different words", Fraction(0)),
    ],
)
def test_token_f1_exact_fractions(prediction: str, reference: str, expected: Fraction) -> None:
    assert M.token_f1(prediction, reference) == pytest.approx(float(expected), abs=1e-15)
    assert M.TokenF1().score(prediction, conv("q", reference)) == pytest.approx(float(expected), abs=1e-15)


def test_token_f1_precision_recall_definition() -> None:
    # 5 generated tokens, 4 reference tokens, 2 shared: P = 2/5, R = 2/4 -> F1 = 2PR/(P+R) = 4/9
    assert M.token_f1("revenue rose by ten percent", "revenue was ten billion") == pytest.approx(4 / 9)


def test_exact_match_normalisation() -> None:
    em = M.ExactMatch()
    assert em.score("  The Paris! ", conv("q", "paris")) == 1.0
    assert em.score("Paris, France", conv("q", "Paris")) == 0.0
    assert em.score("x", conv("q")) is None  # no reference: not applicable
    assert em.score("42", conv("q", answer=42)) == 1.0  # reference from metadata["answer"]


# ----------------------------------------------------------------------------------------------- ROUGE-L
def test_rouge_l_hand_computed() -> None:
    # LCS("police killed the gunman", "police kill the gunman") = police the gunman = 3; P = R = 3/4
    assert M.rouge_l("police killed the gunman", "police kill the gunman") == pytest.approx(0.75)
    # LCS("the gunman police killed", "police kill the gunman") = 2 ("the gunman"); P = R = 2/4
    assert M.rouge_l("the gunman police killed", "police kill the gunman") == pytest.approx(0.5)
    # pred 2 tokens all in order inside a 6-token reference: P = 1, R = 2/6 -> F1 = 2*(1/3)/(4/3) = 1/2
    assert M.rouge_l("a d", "a b c d e f") == pytest.approx(0.5)
    assert M.rouge_l("x y", "a b") == 0.0
    assert M.RougeL().score("a b", TextRecord(text="t")) is None


# ----------------------------------------------------------------------------------------------- letters
@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("Answer: (C)", "C"),
        ("answer: c", "C"),
        ("The answer is C", "C"),
        ("the answer is c.", "C"),
        ("C) 12", "C"),
        ("c) 12 apples, since 3*4 = 12", "C"),
        ("(B)", "B"),
        ("(b) because the rate doubles", "B"),
        ("E", "E"),
        ("e.", "E"),
        ("**D**", "D"),
        ("I think D) 7 is right", "D"),
        ("After simplifying we get 44. So the correct option is (A).", "A"),
        ("The speed is 5 km/h, hence the answer is option B", "B"),
        ("Answer: E) None of these", "E"),
        ("A car travels 60 km", None),  # a leading article is not an answer
        ("I cannot tell", None),
    ],
)
def test_extract_choice_variants(text: str, letter: str | None) -> None:
    assert M.extract_choice(text) == letter


def test_extract_choice_by_option_text() -> None:
    options = ["A)10", "B)12", "C)14"]
    assert M.extract_choice("12", "ABC", options=options) == "B"
    assert M.extract_choice("13", "ABC", options=options) is None


def test_multiple_choice_gold_from_metadata_or_reference() -> None:
    acc = M.MultipleChoiceAccuracy()
    assert acc.score("the answer is b", conv("q", answer="B")) == 1.0
    assert acc.score("the answer is b", conv("q", answer="C")) == 0.0
    assert acc.score("(D)", conv("q", "D) 24")) == 1.0  # gold letter read from the reference text
    assert acc.score("D", conv("q")) is None


# ----------------------------------------------------------------------------------------------- TAT-QA
def test_tatqa_arithmetic_with_million_scale() -> None:
    # gold 1234.5 (million): the bare number, the scaled number and the absolute figure all match
    for text in [
        "1234.5",
        "$1,234.5 million",
        "1,234,500,000",
        "The answer is 1234.50",
        "(2000 - 765.5) = 1234.5",
    ]:
        assert M.tatqa_score(text, 1234.5, answer_type="arithmetic", scale="million") == (1.0, 1.0), text
    # wrong value, or off by the scale, is wrong; F1 equals EM for arithmetic
    for text in ["1234.6", "1.2345 thousand", "not sure"]:
        assert M.tatqa_score(text, 1234.5, answer_type="arithmetic", scale="million") == (0.0, 0.0), text


def test_tatqa_arithmetic_percent_and_rounding() -> None:
    gold = 23.4567  # scale percent: the official scorer rounds to 2 decimals
    for text in ["23.46%", "23.46", "23.4567 percent", "0.2346", "23.46 %"]:
        assert M.tatqa_score(text, gold, answer_type="arithmetic", scale="percent")[0] == 1.0, text
    for text in ["23.44%", "0.25", "23%"]:
        assert M.tatqa_score(text, gold, answer_type="arithmetic", scale="percent")[0] == 0.0, text


def test_tatqa_negative_numbers_in_parentheses() -> None:
    assert M.tatqa_score("(12.5)", -12.5, answer_type="arithmetic", scale="thousand") == (1.0, 1.0)
    assert M.tatqa_score("$(12.5) thousand", -12.5, answer_type="arithmetic", scale="thousand") == (1.0, 1.0)
    assert M.tatqa_score("12.5", -12.5, answer_type="arithmetic", scale="thousand") == (0.0, 0.0)


def test_tatqa_count() -> None:
    assert M.tatqa_score("3", 3, answer_type="count") == (1.0, 1.0)
    assert M.tatqa_score("There are three segments", 3, answer_type="count") == (1.0, 1.0)
    assert M.tatqa_score("4", 3, answer_type="count") == (0.0, 0.0)


def test_tatqa_multi_span_sets() -> None:
    gold = ["Purchased parts and assemblies", "Work-in-process", "Finished goods"]
    for text in [
        "Purchased parts and assemblies, Work-in-process and Finished goods",
        "Finished goods\nWork-in-process\nPurchased parts and assemblies",
        "- Work-in-process\n- Finished goods\n- Purchased parts and assemblies",
    ]:
        assert M.tatqa_score(text, gold, answer_type="multi-span") == (1.0, 1.0), text
    # two of three spans: aligned bag F1 = (1 + 1 + 0) / 3 = 0.67 (2 decimals, like the official scorer)
    assert M.tatqa_score("Work-in-process; Finished goods", gold, answer_type="multi-span") == (0.0, 0.67)
    # one extra span: (1 + 1 + 1) / max(3, 4) = 0.75
    assert M.tatqa_score(
        "Work-in-process; Finished goods; Purchased parts and assemblies; Cash",
        gold,
        answer_type="multi-span",
    ) == (0.0, 0.75)


def test_tatqa_multi_span_numbers_with_scale() -> None:
    # numeric spans are compared as scaled values: "$1.2 million" equals "1,200" thousand
    gold = ["1,200", "(300)"]
    assert M.tatqa_score(
        "$1.2 million and -$0.3 million", gold, answer_type="multi-span", scale="thousand"
    ) == (1.0, 1.0)
    assert M.tatqa_score("1,200 and 300", gold, answer_type="multi-span", scale="thousand")[0] == 0.0


def test_tatqa_span_partial_f1() -> None:
    # articles dropped: pred {modified, method}, gold {modified, retrospective, method}: P=1, R=2/3 -> 0.8
    assert M.tatqa_score(
        "the modified method", ["the modified retrospective method"], answer_type="span"
    ) == (0.0, 0.8)
    assert M.tatqa_score(
        "The modified retrospective method.", ["the modified retrospective method"], answer_type="span"
    ) == (1.0, 1.0)


def test_tatqa_metrics_read_record_metadata() -> None:
    rec = conv("How much?", "1234.5", answer=1234.5, answer_type="arithmetic", scale="million")
    assert M.TatQAExactMatch().score("$1.2345 billion", rec) == 1.0
    assert M.TatQAF1().score("1.2345 billion", rec) == 1.0
    assert M.TatQAExactMatch().score("1", conv("no gold")) is None


# ----------------------------------------------------------------------------------------------- usage
def test_usage_metrics_from_response_and_prices() -> None:
    prices = Prices(input_per_1k_tokens=0.25, output_per_1k_tokens=1.25, date="2025-06-01", source="test")
    response = ChatResponse(text="x", input_tokens=1000, output_tokens=200, latency_s=0.3)
    sample = M.Sample(prediction="x", record=conv("q"), response=response, prices=prices)
    assert M.OutputTokens().compute(sample).value == 200
    assert M.LatencySeconds().compute(sample).value == 0.3
    assert M.CostUSD().compute(sample).value == pytest.approx(0.25 + 0.25)  # 1k in x 0.25 + 0.2k out x 1.25
    no_prices = M.Sample(prediction="x", record=conv("q"), response=response)
    assert M.CostUSD().compute(no_prices).value is None
    assert not M.OutputTokens().higher_is_better and M.OutputTokens().category == "usage"


# ------------------------------------------------------------------------------------- custom + registry
def test_custom_callable_metric_named_by_function() -> None:
    def contains_reference(prediction: str, record: Conversation) -> float:
        """1 when the reference appears in the answer."""
        return float((record.reference or "") in prediction)

    metric = M.as_metric(contains_reference)
    assert metric.name == "contains_reference"
    assert metric.description == "1 when the reference appears in the answer."
    assert metric.score("it is Paris", conv("q", "Paris")) == 1.0
    assert not metric.binary


def test_registry_and_errors() -> None:
    assert set(M.BUILTIN_METRICS) >= {
        "exact_match",
        "accuracy",
        "token_f1",
        "tatqa_em",
        "rouge_l",
        "cost_usd",
    }
    assert M.get("accuracy").binary and not M.get("token_f1").binary
    with pytest.raises(ConfigurationError, match="unknown metric 'bleu'"):
        M.get("bleu")
    with pytest.raises(ConfigurationError, match="repeated: exact_match"):
        M.as_metrics(["exact_match", M.ExactMatch()])
    with pytest.raises(ConfigurationError, match="at least one metric"):
        M.as_metrics([])
    info = M.get("accuracy").info()
    assert info.binary and info.params == {"choices": "ABCDE"}
