"""split_records: determinism (pinned, across runs and PYTHONHASHSEED), sizes, stratification, grouping."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finetune_sdk.data.records import Conversation, Record, TextRecord
from finetune_sdk.data.split import split_records, split_sizes
from finetune_sdk.errors import ConfigurationError

RATIOS = {"train": 0.6, "validation": 0.2, "test": 0.2}

# Computed once with the implementation and pinned: any change to the assignment algorithm, or any
# dependence on the machine, process or Python version, breaks these.
PINNED_PLAIN = {
    "train": ["r0", "r1", "r3", "r4", "r7", "r9", "r11", "r13", "r14", "r16", "r17", "r19"],
    "validation": ["r6", "r8", "r12", "r15"],
    "test": ["r2", "r5", "r10", "r18"],
}
PINNED_STRATIFIED = {
    "train": [0, 5, 6, 7, 10, 11, 12, 14, 15, 16, 17, 18, 22, 25, 26, 27, 28, 29],
    "validation": [1, 8, 9, 19, 21, 23],
    "test": [2, 3, 4, 13, 20, 24],
}
PINNED_GROUPED = {
    "train": [0, 1, 4, 6, 7, 8, 11, 13, 14, 15, 18, 20, 21, 22, 25, 27, 28, 29],
    "validation": [2, 3, 9, 10, 16, 17, 23, 24],
    "test": [5, 12, 19, 26],
}

# The same computation as a script, so it can run in fresh interpreters with different hash seeds.
SCRIPT = textwrap.dedent(
    """
    import json
    from finetune_sdk.data.records import Conversation, TextRecord
    from finetune_sdk.data.split import split_records

    ratios = {"train": 0.6, "validation": 0.2, "test": 0.2}
    plain = split_records([TextRecord(text=f"r{i}") for i in range(20)], ratios=ratios, seed=42)
    convs = [
        Conversation.from_pairs(f"q{i}", "a", metadata={"id": i, "label": ["cat", "dog", "eel"][i % 3],
                                                         "user": f"u{i % 7}"})
        for i in range(30)
    ]
    strat = split_records(convs, ratios=ratios, seed=7, stratify_by=lambda r: r.metadata["label"])
    grouped = split_records(convs, ratios=ratios, seed=7, group_by=lambda r: r.metadata["user"])
    print(json.dumps({
        "plain": {k: [r.text for r in v] for k, v in plain.items()},
        "stratified": {k: [r.metadata["id"] for r in v] for k, v in strat.items()},
        "grouped": {k: [r.metadata["id"] for r in v] for k, v in grouped.items()},
    }))
    """
)


def _convs(n: int = 30) -> list[Conversation]:
    return [
        Conversation.from_pairs(
            f"q{i}", "a", metadata={"id": i, "label": ["cat", "dog", "eel"][i % 3], "user": f"u{i % 7}"}
        )
        for i in range(n)
    ]


def _ids(parts: dict[str, list[Record]]) -> dict[str, list[int]]:
    return {k: [r.metadata["id"] for r in v] for k, v in parts.items()}


# --- determinism -----------------------------------------------------------------------------------------


def test_plain_split_matches_pinned_ids_and_is_stable_across_runs() -> None:
    records = [TextRecord(text=f"r{i}") for i in range(20)]
    first = split_records(records, ratios=RATIOS, seed=42)
    second = split_records(list(records), ratios=dict(RATIOS), seed=42)
    assert {k: [r.text for r in v] for k, v in first.items()} == PINNED_PLAIN
    assert first == second


def test_stratified_and_grouped_splits_match_pinned_ids() -> None:
    convs = _convs()
    assert _ids(split_records(convs, ratios=RATIOS, seed=7, stratify_by=lambda r: r.metadata["label"])) == (
        PINNED_STRATIFIED
    )
    assert (
        _ids(split_records(convs, ratios=RATIOS, seed=7, group_by=lambda r: r.metadata["user"]))
        == PINNED_GROUPED
    )


@pytest.mark.slow
def test_split_is_identical_under_different_pythonhashseed_values() -> None:
    root = Path(__file__).resolve().parents[2]
    outputs = []
    for hash_seed in ("0", "1", "4242", "random"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(root)}
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True, timeout=120
        )
        outputs.append(json.loads(done.stdout))
    assert all(out == outputs[0] for out in outputs[1:])
    assert outputs[0] == {"plain": PINNED_PLAIN, "stratified": PINNED_STRATIFIED, "grouped": PINNED_GROUPED}


def test_different_seeds_give_different_splits() -> None:
    records = [TextRecord(text=f"r{i}") for i in range(50)]
    a = split_records(records, ratios=RATIOS, seed=1)
    b = split_records(records, ratios=RATIOS, seed=2)
    assert a != b
    assert {k: len(v) for k, v in a.items()} == {k: len(v) for k, v in b.items()}


def test_split_depends_on_position_not_on_content() -> None:
    a = [TextRecord(text=f"a{i}") for i in range(25)]
    b = [TextRecord(text=f"completely different {i}") for i in range(25)]
    pa, pb = split_records(a, ratios=RATIOS, seed=3), split_records(b, ratios=RATIOS, seed=3)
    assert {k: [a.index(r) for r in v] for k, v in pa.items()} == {
        k: [b.index(r) for r in v] for k, v in pb.items()
    }


# --- sizes and order -------------------------------------------------------------------------------------


def test_ratio_sizes_use_largest_remainder_and_sum_to_n() -> None:
    assert split_sizes(10, ratios={"train": 0.8, "validation": 0.1, "test": 0.1}) == {
        "train": 8,
        "validation": 1,
        "test": 1,
    }
    assert split_sizes(7, ratios={"a": 0.5, "b": 0.5}) == {"a": 4, "b": 3}
    assert split_sizes(100, ratios={"a": 0.29, "b": 0.71}) == {"a": 29, "b": 71}  # 0.29 * 100 is 28.999...
    assert split_sizes(3, ratios={"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}) == {"a": 1, "b": 1, "c": 1}
    assert split_sizes(0, ratios=RATIOS) == {"train": 0, "validation": 0, "test": 0}


def test_every_record_lands_in_exactly_one_split_in_original_order() -> None:
    convs = _convs(101)
    parts = split_records(convs, ratios=RATIOS, seed=9)
    ids = _ids(parts)
    assert sorted(i for v in ids.values() for i in v) == list(range(101))
    for v in ids.values():
        assert v == sorted(v)
    assert {k: len(v) for k, v in ids.items()} == {"train": 61, "validation": 20, "test": 20}
    assert list(parts) == ["train", "validation", "test"]


def test_counts_give_exact_sizes_and_leave_the_rest_out() -> None:
    convs = _convs(30)
    parts = split_records(convs, counts={"validation": 5, "test": 7}, seed=1)
    assert {k: len(v) for k, v in parts.items()} == {"validation": 5, "test": 7}
    assert not set(_ids(parts)["validation"]) & set(_ids(parts)["test"])
    full = split_records(convs, counts={"train": 20, "test": 10}, seed=1)
    assert sorted(i for v in _ids(full).values() for i in v) == list(range(30))


def test_ratios_within_tolerance_are_accepted_and_rescaled() -> None:
    parts = split_records(_convs(9), ratios={"a": 0.333, "b": 0.333, "c": 0.334})
    assert [len(v) for v in parts.values()] == [3, 3, 3]


def test_zero_ratio_split_is_empty_and_empty_input_is_fine() -> None:
    parts = split_records(_convs(10), ratios={"train": 1.0, "test": 0.0})
    assert len(parts["train"]) == 10 and parts["test"] == []
    assert split_records([], ratios=RATIOS) == {"train": [], "validation": [], "test": []}


# --- errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({}, "ratios or counts"),
        ({"ratios": RATIOS, "counts": {"train": 1}}, "either ratios or counts, not both"),
        ({"ratios": {"train": 0.5, "test": 0.3}}, r"ratios must sum to 1.*sums to 0\.8"),
        ({"ratios": {"train": 1.2, "test": -0.2}}, r"ratios\['test'\] must be a finite number >= 0"),
        ({"ratios": {"train": float("nan"), "test": 1.0}}, r"ratios\['train'\]"),
        ({"ratios": {}}, "ratios is empty"),
        ({"ratios": {"": 1.0}}, "non-empty strings"),
        ({"ratios": {"train": True}}, r"ratios\['train'\]"),
        ({"counts": {"train": 25, "test": 10}}, "counts add up to 35 records but there are only 30"),
        ({"counts": {"train": -1}}, r"counts\['train'\] must be an integer >= 0"),
        ({"counts": {"train": 2.5}}, r"counts\['train'\] must be an integer"),
        ({"ratios": RATIOS, "seed": "7"}, "seed must be an integer"),
    ],
)
def test_bad_arguments_raise_configuration_errors_naming_the_argument(kwargs: dict, pattern: str) -> None:
    with pytest.raises(ConfigurationError, match=pattern):
        split_records(_convs(30), **kwargs)


# --- stratification and grouping -------------------------------------------------------------------------


def test_stratified_split_keeps_label_proportions_exactly_when_they_divide() -> None:
    records = [
        TextRecord(text=str(i), metadata={"label": "rare" if i % 10 == 0 else f"c{i % 3}"})
        for i in range(1000)
    ]
    parts = split_records(
        records,
        ratios={"train": 0.8, "validation": 0.1, "test": 0.1},
        seed=5,
        stratify_by=lambda r: r.metadata["label"],
    )
    totals = Counter(r.metadata["label"] for r in records)
    for name, share in (("train", 0.8), ("validation", 0.1), ("test", 0.1)):
        counts = Counter(r.metadata["label"] for r in parts[name])
        for label, n in totals.items():
            assert abs(counts[label] - n * share) < 1.0001, (name, label, counts[label], n * share)


def test_unstratified_split_of_skewed_labels_is_what_stratification_fixes() -> None:
    # 10 positives in 100: a plain split can leave the test split without any; stratification cannot.
    records = [TextRecord(text=str(i), metadata={"y": int(i < 10)}) for i in range(100)]
    for seed in range(20):
        parts = split_records(
            records, ratios={"train": 0.9, "test": 0.1}, seed=seed, stratify_by=lambda r: r.metadata["y"]
        )
        assert sum(r.metadata["y"] for r in parts["test"]) == 1


def test_grouped_split_never_divides_a_group() -> None:
    convs = _convs(200)
    parts = split_records(convs, ratios=RATIOS, seed=11, group_by=lambda r: r.metadata["id"] // 6)
    home: dict[int, str] = {}
    for name, recs in parts.items():
        for r in recs:
            assert home.setdefault(r.metadata["id"] // 6, name) == name
    assert sum(len(v) for v in parts.values()) == 200


def test_one_giant_group_goes_whole_into_one_split() -> None:
    records = [TextRecord(text=str(i), metadata={"g": "same"}) for i in range(10)]
    parts = split_records(records, ratios={"train": 0.5, "test": 0.5}, group_by=lambda r: r.metadata["g"])
    assert sorted(len(v) for v in parts.values()) == [0, 10]


@settings(max_examples=120, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=150),
    weights=st.lists(st.integers(min_value=1, max_value=10), min_size=1, max_size=4),
    labels=st.integers(min_value=1, max_value=6),
    seed=st.integers(min_value=0, max_value=2**40),
    data=st.data(),
)
def test_stratified_split_property(
    n: int, weights: list[int], labels: int, seed: int, data: st.DataObject
) -> None:
    ratios = {f"s{i}": w / sum(weights) for i, w in enumerate(weights)}
    label_of = data.draw(st.lists(st.integers(0, labels - 1), min_size=n, max_size=n))
    records = [TextRecord(text=str(i), metadata={"i": i, "label": label_of[i]}) for i in range(n)]
    parts = split_records(records, ratios=ratios, seed=seed, stratify_by=lambda r: r.metadata["label"])
    sizes = split_sizes(n, ratios=ratios)
    totals = Counter(label_of)
    assert sorted(r.metadata["i"] for v in parts.values() for r in v) == list(range(n))
    for name, recs in parts.items():
        assert len(recs) == sizes[name]  # totals are exact
        idx = [r.metadata["i"] for r in recs]
        assert idx == sorted(idx)
        counts = Counter(r.metadata["label"] for r in recs)
        for label, count in totals.items():
            assert abs(counts[label] - count * sizes[name] / n) < 2  # proportions within rounding


@settings(max_examples=120, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=150),
    weights=st.lists(st.integers(min_value=1, max_value=10), min_size=1, max_size=4),
    group_size=st.integers(min_value=1, max_value=12),
    seed=st.integers(min_value=0, max_value=2**40),
    stratify=st.booleans(),
)
def test_grouped_split_property(
    n: int, weights: list[int], group_size: int, seed: int, stratify: bool
) -> None:
    ratios = {f"s{i}": w / sum(weights) for i, w in enumerate(weights)}
    records = [
        TextRecord(text=str(i), metadata={"g": (i * 7919) % n // group_size, "y": i % 2}) for i in range(n)
    ]
    parts = split_records(
        records,
        ratios=ratios,
        seed=seed,
        group_by=lambda r: r.metadata["g"],
        stratify_by=(lambda r: r.metadata["y"]) if stratify else None,
    )
    home: dict[int, str] = {}
    for name, recs in parts.items():
        for r in recs:
            assert home.setdefault(r.metadata["g"], name) == name
    assert sum(len(v) for v in parts.values()) == n
    if not stratify:
        largest = max(Counter(r.metadata["g"] for r in records).values())
        for name, size in split_sizes(n, ratios=ratios).items():
            assert abs(len(parts[name]) - size) <= largest
