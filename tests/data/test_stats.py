"""compute_stats: counts, token distributions per role, turns, epochs and the dated cost estimate."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from finetune_sdk import catalog
from finetune_sdk.data.records import Conversation, MediaPart, TextPart, TextRecord, Turn
from finetune_sdk.data.stats import DatasetStats, Distribution, compute_stats
from finetune_sdk.data.tokens import HeuristicCounter
from finetune_sdk.errors import ConfigurationError

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0:200k"


class WordCounter:
    """An 'exact' tokenizer for tests: one token per whitespace-separated word."""

    def count(self, text: str) -> int:
        return len(text.split())


def test_counts_and_per_role_token_distributions() -> None:
    image = MediaPart(type="image", format="png", uri="s3://b/i.png")
    records = [
        Conversation.from_pairs("one two three", "four five", system="sys tem"),
        Conversation.from_pairs("a", "b c d", "e f", "g"),
        Conversation(
            turns=(
                Turn(role="user", content=(TextPart(text="look here"), image, image)),
                Turn.of("assistant", "ok"),
            )
        ),
        TextRecord(text="raw text for pretraining ok"),
    ]
    stats = compute_stats(records, token_counter=WordCounter())
    assert (stats.records, stats.conversations, stats.text_records) == (4, 3, 1)
    assert (stats.with_system, stats.with_media, stats.media_parts, stats.multi_turn) == (1, 1, 2, 1)
    assert stats.tokens["system"] == Distribution(count=1, total=2, min=2, mean=2.0, p50=2.0, p95=2.0, max=2)
    # user tokens per record: 3, 1+2, 2
    assert (
        stats.tokens["user"].total == 8 and stats.tokens["user"].max == 3 and stats.tokens["user"].count == 3
    )
    assert stats.tokens["assistant"].total == 2 + 4 + 1
    assert stats.tokens["text"].total == 5
    assert stats.tokens["total"].count == 4
    assert stats.total_tokens == 2 + 8 + 7 + 5
    assert stats.turns == Distribution(count=3, total=8, min=2, mean=8 / 3, p50=2.0, p95=3.8, max=4)
    assert stats.token_counter == "WordCounter"


def test_roles_no_record_has_are_absent() -> None:
    stats = compute_stats([TextRecord(text="abcd")])
    assert set(stats.tokens) == {"text", "total"}
    assert stats.turns is None
    stats = compute_stats([Conversation.from_pairs("q", "a")])
    assert set(stats.tokens) == {"user", "assistant", "total"}


def test_percentiles_interpolate_between_ranks() -> None:
    records = [TextRecord(text="x" * n) for n in range(1, 101)]  # 1..100 tokens at 1 char per token
    d = compute_stats(records, token_counter=HeuristicCounter(1.0)).tokens["text"]
    assert (d.min, d.max, d.mean) == (1, 100, 50.5)
    assert d.p50 == pytest.approx(50.5) and d.p95 == pytest.approx(95.05)


def test_model_gives_heuristic_epochs_and_dated_price() -> None:
    model = catalog.get(HAIKU)
    records = [Conversation.from_pairs("u" * 300, "a" * 600, system="s" * 30)] * 1000
    stats = compute_stats(records, model=model)
    per_record = math.ceil(300 / 3) + math.ceil(600 / 3) + math.ceil(30 / 3)  # Claude: 3 characters per token
    assert stats.total_tokens == per_record * 1000
    assert stats.epochs == model.hyperparameter("epochCount").default == 2
    assert "default epochCount" in stats.epochs_source
    assert stats.estimated_training_tokens == stats.total_tokens * 2
    assert model.prices.training_per_1k_tokens is not None
    assert stats.estimated_cost == pytest.approx(
        stats.estimated_training_tokens / 1000 * model.prices.training_per_1k_tokens
    )
    assert stats.price_date == model.prices.date and stats.price_source == model.prices.source
    assert stats.model_id == HAIKU
    assert stats.token_counter == "HeuristicCounter(chars_per_token=3.0)"


def test_explicit_epochs_and_counter_win() -> None:
    model = catalog.get(HAIKU)
    stats = compute_stats([TextRecord(text="a b c")], model=model, epochs=5, token_counter=WordCounter())
    assert stats.epochs == 5 and stats.epochs_source == "given"
    assert stats.estimated_training_tokens == 15


def test_without_a_model_there_is_no_cost_and_one_epoch() -> None:
    stats = compute_stats([TextRecord(text="abcdefgh")])
    assert stats.estimated_cost is None and stats.price_date is None
    assert stats.epochs == 1 and "assumed" in stats.epochs_source
    assert stats.total_tokens == 2  # 4 characters per token by default
    assert "pass a model" in stats.to_markdown()


@pytest.mark.parametrize("epochs", [0, -1, True, 2.5])
def test_bad_epochs_raise(epochs: object) -> None:
    with pytest.raises(ConfigurationError, match="epochs must be an integer >= 1"):
        compute_stats([TextRecord(text="x")], epochs=epochs)  # type: ignore[arg-type]


def test_renderings_state_the_estimate_and_price_date() -> None:
    model = catalog.get(HAIKU)
    stats = compute_stats([Conversation.from_pairs("q" * 3000, "a" * 3000)] * 500, model=model)
    md = stats.to_markdown()
    assert f"price of {model.prices.date}" in md and "check current pricing" in md
    assert "| tokens: user | 500 | 1,000 |" in md
    assert "HeuristicCounter(chars_per_token=3.0)" in md
    html = stats._repr_html_()
    assert "<table>" in html and model.prices.date in html
    as_dict = stats.to_dict()
    json.dumps(as_dict)
    assert as_dict["tokens"]["user"]["max"] == 1000 and as_dict["price_date"] == model.prices.date
    assert str(stats) == md


def test_stats_are_frozen_and_read_iterables_once() -> None:
    stats = compute_stats(iter([TextRecord(text="abc"), TextRecord(text="de")]))
    assert stats.records == 2
    assert isinstance(stats, DatasetStats)
    with pytest.raises(ValidationError):
        stats.records = 3  # type: ignore[misc]


def test_stats_of_real_aqua(shared_datasets: Path) -> None:
    rows = [json.loads(line) for line in (shared_datasets / "aqua" / "dev.json").read_text().splitlines()]
    records = [Conversation.from_pairs(r["question"], r["rationale"]) for r in rows]
    stats = compute_stats(records, model=catalog.get(HAIKU))
    assert stats.records == 254 and stats.multi_turn == 0
    chars = sum(len(r["question"]) + len(r["rationale"]) for r in rows)
    # the per-turn ceiling adds under one token per turn
    assert chars / 3 <= stats.total_tokens <= chars / 3 + 2 * 254
    assert stats.tokens["user"].p95 >= stats.tokens["user"].p50 >= stats.tokens["user"].min
