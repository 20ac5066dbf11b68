"""dedupe_records and check_leakage: exact and MinHash near duplicates (on real AQuA data), leakage."""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

import pytest

from finetune_sdk.data.dedupe import (
    DedupeReport,
    LeakageReport,
    check_leakage,
    dedupe_records,
    normalize_text,
)
from finetune_sdk.data.records import Conversation, MediaPart, Record, TextPart, TextRecord, Turn
from finetune_sdk.errors import ConfigurationError

pytest.importorskip("datasketch")


def _shingles(text: str, n: int = 5) -> set[str]:
    s = normalize_text(text)
    return {s[i : i + n] for i in range(max(1, len(s) - n + 1))}


def _jaccard(a: Record, b: Record) -> float:
    def turns(r: Record) -> str:
        return r.text if isinstance(r, TextRecord) else "\n".join(t.text for t in r.turns)

    sa, sb = _shingles(turns(a)), _shingles(turns(b))
    return len(sa & sb) / len(sa | sb)


def _aqua(shared: Path, name: str) -> list[Conversation]:
    rows = [json.loads(line) for line in (shared / "aqua" / name).read_text(encoding="utf-8").splitlines()]
    return [
        Conversation.from_pairs(
            r["question"] + "\n" + "\n".join(r["options"]),
            r["rationale"],
            system="Solve the problem and give the letter of the answer.",
            metadata={"source": f"{name}:{i}"},
        )
        for i, r in enumerate(rows)
    ]


def _variant(record: Conversation, kind: int, rng: random.Random) -> Conversation:
    user = record.turns[0].text
    if kind == 0:  # a number changed
        user = re.sub(r"\d+", lambda m: str(int(m.group()) + 1), user, count=1)
    elif kind == 1:  # a sentence added
        user = user + " Explain briefly."
    else:  # one word misspelt, and shouting
        words = user.split(" ")
        k = rng.randrange(len(words))
        words[k] = words[k][::-1]
        user = " ".join(words).upper()
    return Conversation.from_pairs(
        user, record.turns[1].text, system=record.system, metadata={"variant_of": kind}
    )


# --- exact -----------------------------------------------------------------------------------------------


def test_exact_duplicates_ignore_case_whitespace_and_unicode_form() -> None:
    records = [
        Conversation.from_pairs("Café au lait?", "Yes."),
        Conversation.from_pairs("  CAFE\u0301   au\tlait? ", "yes."),
        Conversation.from_pairs("Tea?", "No."),
        Conversation.from_pairs("café au lait?", "Yes."),
    ]
    kept, report = dedupe_records(records)
    assert kept == [records[0], records[2]]
    assert report.exact_duplicates == 2 and report.near_duplicates == 0
    assert report.removed_indexes == (1, 3)
    (cluster,) = report.clusters
    assert cluster.kept == 0 and cluster.indexes == (0, 1, 3) and cluster.kind == "exact"
    assert cluster.min_similarity == 1.0
    assert cluster.sample == "Café au lait? | Yes."


def test_structure_is_part_of_exact_identity() -> None:
    image = MediaPart(type="image", format="png", uri="s3://b/1.png")
    other_image = MediaPart(type="image", format="png", uri="s3://b/2.png")
    records: list[Record] = [
        Conversation.from_pairs("a b", "c"),
        Conversation.from_pairs("a", "b c"),  # same words, different turn boundary
        TextRecord(text="a b\nc"),  # same text, not a conversation
        Conversation.from_pairs("a b", "c", system="other system"),  # a different system prompt
        Conversation(
            turns=(Turn(role="user", content=(TextPart(text="a b"), image)), Turn.of("assistant", "c"))
        ),
        Conversation(
            turns=(Turn(role="user", content=(TextPart(text="a b"), other_image)), Turn.of("assistant", "c"))
        ),
    ]
    kept, report = dedupe_records(records)
    assert len(kept) == len(records) and report.clusters == ()


def test_a_turn_split_into_text_parts_equals_the_joined_turn() -> None:
    parts = Conversation(
        turns=(
            Turn(role="user", content=(TextPart(text="line one"), TextPart(text="line two"))),
            Turn.of("assistant", "ok"),
        )
    )
    joined = Conversation.from_pairs("line one\nline two", "ok")
    kept, report = dedupe_records([parts, joined])
    assert kept == [parts] and report.exact_duplicates == 1


def test_metadata_does_not_make_records_different() -> None:
    a = Conversation.from_pairs("q", "a", metadata={"id": 1})
    b = Conversation.from_pairs("q", "a", metadata={"id": 2})
    kept, _ = dedupe_records([a, b])
    assert kept == [a]


def test_no_duplicates_and_empty_input() -> None:
    records = [TextRecord(text=str(i)) for i in range(5)]
    kept, report = dedupe_records(records)
    assert kept == records and report.removed == 0 and report.clusters == ()
    assert dedupe_records([])[1].input_records == 0
    assert dedupe_records([], near=True)[0] == []


def test_report_renders() -> None:
    records = [TextRecord(text="same | text")] * 3 + [TextRecord(text="other")]
    _, report = dedupe_records(records)
    assert isinstance(report, DedupeReport)
    assert str(report) == "4 records: kept 2, removed 2 exact duplicates in 1 clusters"
    md = report.to_markdown()
    assert "| exact duplicates removed | 2 |" in md
    assert "| 0 | exact | 3 | 0, 1, 2 | same \\| text |" in md
    assert "<table>" in report._repr_html_()


# --- near ------------------------------------------------------------------------------------------------


def test_near_duplicates_are_removed_and_unrelated_records_kept() -> None:
    rng = random.Random(0)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 8)))
        for _ in range(3000)
    ]
    base = [" ".join(rng.choice(words) for _ in range(60)) for _ in range(200)]
    records: list[Record] = [TextRecord(text=t) for t in base]
    copies = {}
    for i in range(0, 200, 10):
        w = base[i].split()
        w[30] = "changed"
        copies[len(records)] = i
        records.append(TextRecord(text=" ".join(w)))
    kept, report = dedupe_records(records, near=True)
    assert len(kept) == 200
    assert report.near_duplicates == 20 and report.exact_duplicates == 0
    assert {c.kept: c.indexes for c in report.clusters} == {i: (i, j) for j, i in copies.items()}
    assert all(c.kind == "near" and 0.85 <= c.min_similarity < 1.0 for c in report.clusters)
    assert report.threshold == 0.85 and report.num_perm == 128 and report.ngram == 5


def test_near_dedupe_does_not_chain_through_dropped_records() -> None:
    rng = random.Random(1)
    words = [f"w{i:03d}{rng.choice('xyz')}" for i in range(200)]
    a, b, c = (TextRecord(text=" ".join(words[k : k + 100])) for k in (0, 6, 12))
    threshold = 0.83
    assert _jaccard(a, b) > threshold + 0.045 and _jaccard(b, c) > threshold + 0.045  # setup check
    assert _jaccard(a, c) < threshold - 0.045
    kept, report = dedupe_records([a, b, c], near=True, threshold=threshold, num_perm=256, number_aware=False)
    # b is dropped for a; c resembles only b, which is gone, so c stays
    assert kept == [a, c]
    assert [cl.indexes for cl in report.clusters] == [(0, 1)]


def test_system_prompt_is_ignored_by_near_matching_only() -> None:
    long_system = "You are a meticulous assistant. " * 40
    records = [
        Conversation.from_pairs("What is the capital of France?", "Paris.", system=long_system),
        Conversation.from_pairs("Name a prime above 100.", "101.", system=long_system),
        Conversation.from_pairs("What is the capital of France?", "Paris.", system="Be brief."),
    ]
    kept, report = dedupe_records(records)
    assert len(kept) == 3  # the system prompt is part of exact identity
    kept, report = dedupe_records(records, near=True)
    # a shared long system prompt does not make different questions look alike ...
    assert kept == records[:2]
    # ... and the same exchange under another system prompt is a near duplicate
    assert report.clusters[0].indexes == (0, 2) and report.clusters[0].kind == "near"


def test_exact_copies_of_a_near_duplicate_join_its_cluster() -> None:
    base = "the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat " * 3
    near = base.replace("lazy", "idle", 1)
    records = [TextRecord(text=base), TextRecord(text=near), TextRecord(text=near.upper())]
    kept, report = dedupe_records(records, near=True)
    assert kept == [records[0]]
    assert report.exact_duplicates == 1 and report.near_duplicates == 1
    assert report.clusters[0].indexes == (0, 1, 2)


def test_huge_lsh_buckets_still_drop_every_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    import finetune_sdk.data.dedupe as dedupe

    monkeypatch.setattr(dedupe, "_BUCKET_WINDOW", 4)  # buckets above 8 members take the bounded path
    base = "Translate the following customer message into formal German, keeping names unchanged: " * 4
    records = [TextRecord(text=f"{base} ticket {i:04d}") for i in range(300)]
    kept, report = dedupe_records(records, near=True, number_aware=False)
    assert kept == [records[0]]
    assert report.clusters[0].indexes == tuple(range(300))


def test_short_texts_below_the_shingle_size_work() -> None:
    records = [TextRecord(text="ab"), TextRecord(text="AB"), TextRecord(text="abc"), TextRecord(text="xy")]
    kept, report = dedupe_records(records, near=True)
    assert [r.text for r in kept] == ["ab", "abc", "xy"]
    assert report.exact_duplicates == 1 and report.near_duplicates == 0


def test_records_without_text_are_left_to_exact_matching() -> None:
    media = Turn(role="user", content=(MediaPart(type="image", format="png", uri="s3://b/i.png"),))
    records = [Conversation(turns=(media,)), Conversation(turns=(media,)), TextRecord(text="x")]
    kept, report = dedupe_records(records, near=True)
    assert len(kept) == 2 and report.exact_duplicates == 1
    assert report.clusters[0].sample == "(media only)"


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"threshold": 0.0}, "threshold must be in"),
        ({"threshold": 1.5}, "threshold"),
        ({"num_perm": 8}, "num_perm"),
        ({"ngram": 0}, "ngram"),
    ],
)
def test_bad_near_settings_raise_configuration_error(kwargs: dict, pattern: str) -> None:
    with pytest.raises(ConfigurationError, match=pattern):
        dedupe_records([TextRecord(text="x")], near=True, **kwargs)


def test_missing_datasketch_gives_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasketch", None)
    records = [TextRecord(text="alpha beta"), TextRecord(text="gamma delta")]
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'finetune-sdk\[dedupe\]'"):
        dedupe_records(records, near=True)
    assert len(dedupe_records(records)[0]) == 2  # exact dedupe needs nothing extra


def test_near_dedupe_on_real_aqua_finds_every_planted_variant_and_nothing_else(shared_datasets: Path) -> None:
    originals = _aqua(shared_datasets, "dev.json") + _aqua(shared_datasets, "test.json")
    assert len(originals) == 508
    kept, report = dedupe_records(originals, near=True)
    assert len(kept) == 508 and report.clusters == ()  # the real problems are all distinct

    rng = random.Random(7)
    records: list[Record] = list(originals)
    planted: dict[int, int] = {}  # index of the variant -> index of its original
    for i in range(0, 508, 7):
        variant = _variant(originals[i], i % 3, rng)
        if _jaccard(originals[i], variant) >= 0.92:  # only clear near duplicates are expected to be found
            planted[len(records)] = i
            records.append(variant)
    # hard negatives: the same question with another problem's solution
    negatives = []
    for i in range(3, 508, 25):
        other = originals[(i + 100) % 508]
        neg = Conversation.from_pairs(originals[i].turns[0].text, other.turns[1].text)
        assert _jaccard(originals[i], neg) < 0.7
        negatives.append(len(records))
        records.append(neg)
    assert len(planted) >= 50
    # by default a changed number makes a different problem: those variants are kept
    kept, report = dedupe_records(records, near=True)
    renumbered = {n for n, i in planted.items() if i % 3 == 0}
    assert renumbered and not renumbered & {j for c in report.clusters for j in c.dropped}
    kept, report = dedupe_records(records, near=True, number_aware=False)
    # a misspelt word can be a palindrome ("a"), which makes that variant an exact duplicate instead
    assert report.near_duplicates + report.exact_duplicates == len(planted)
    assert report.near_duplicates >= len(planted) - 5
    assert {j: c.kept for c in report.clusters for j in c.dropped} == planted
    kept_ids = {id(r) for r in kept}
    assert all(id(records[n]) in kept_ids for n in negatives)
    assert len(kept) == len(records) - len(planted)


# --- leakage ---------------------------------------------------------------------------------------------


def test_exact_leakage_lists_pairs_and_indexes() -> None:
    train = [TextRecord(text="a"), TextRecord(text="b"), TextRecord(text="c"), TextRecord(text="B")]
    validation = [TextRecord(text="x")]
    test = [TextRecord(text="b "), TextRecord(text="y"), TextRecord(text="C")]
    report = check_leakage({"train": train, "validation": validation, "test": test})
    assert isinstance(report, LeakageReport)
    assert not report.ok
    (overlap,) = report.overlaps
    assert (overlap.first, overlap.second) == ("train", "test")
    assert overlap.pairs == ((1, 0), (2, 2), (3, 0))
    assert overlap.exact_pairs == 3 and overlap.near_pairs == 0 and overlap.count == 3
    assert overlap.first_indexes == (1, 2, 3) and overlap.second_indexes == (0, 2)
    assert report.overlap("test", "train") is overlap and report.overlap("train", "validation") is None
    assert report.split_sizes == {"train": 4, "validation": 1, "test": 3}
    assert "train/test: 3 pairs" in str(report)
    assert "| train / test | 3 | 0 | 0 | 3 | 2 |" in report.to_markdown()


def test_duplicates_inside_one_split_are_not_leakage() -> None:
    report = check_leakage(
        {"train": [TextRecord(text="a"), TextRecord(text="a")], "test": [TextRecord(text="b")]}
    )
    assert report.ok
    assert "No exact duplicates or contexts shared" in report.to_markdown()


def test_leakage_pair_lists_are_capped_but_counts_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    import finetune_sdk.data.dedupe as dedupe

    monkeypatch.setattr(dedupe, "MAX_PAIRS_PER_OVERLAP", 5)
    report = check_leakage({"a": [TextRecord(text="x")] * 4, "b": [TextRecord(text="x")] * 3})
    (overlap,) = report.overlaps
    assert overlap.exact_pairs == 12 and len(overlap.pairs) == 5 and overlap.pairs_truncated


def test_leakage_needs_two_splits() -> None:
    with pytest.raises(ConfigurationError, match="at least two"):
        check_leakage({"train": []})


def test_near_leakage_between_real_aqua_dev_and_test(shared_datasets: Path) -> None:
    dev = _aqua(shared_datasets, "dev.json")
    test = _aqua(shared_datasets, "test.json")
    assert check_leakage({"dev": dev, "test": test}, near=True).ok

    rng = random.Random(3)
    leaked_near = {i: _variant(dev[i], 1, rng) for i in (5, 50, 150)}
    leaked_exact = {
        i: Conversation.from_pairs(dev[i].turns[0].text.upper(), dev[i].turns[1].text, system=dev[i].system)
        for i in (7, 70)
    }
    test_plus = list(test)
    expected_near, expected_exact = [], []
    for i, r in leaked_near.items():
        expected_near.append((i, len(test_plus)))
        test_plus.append(r)
    for i, r in leaked_exact.items():
        expected_exact.append((i, len(test_plus)))
        test_plus.append(r)

    exact_only = check_leakage({"dev": dev, "test": test_plus})
    assert exact_only.overlaps[0].pairs == tuple(expected_exact)
    report = check_leakage({"dev": dev, "test": test_plus}, near=True)
    (overlap,) = report.overlaps
    assert overlap.exact_pairs == 2 and overlap.near_pairs == 3
    assert overlap.pairs == tuple(expected_exact) + tuple(expected_near)
    assert overlap.first_indexes == (5, 7, 50, 70, 150)
    assert report.threshold == 0.85 and not report.ok
