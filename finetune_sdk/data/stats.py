"""Dataset statistics: record counts, token distributions per role, turns, and the training cost estimate.

Token counts come from a :class:`~finetune_sdk.data.tokens.TokenCounter`: the one you pass, else the
catalog heuristic for ``model`` (characters per token of its family), else 4 characters per token. Every
figure that depends on an estimate says so in the rendered output, and the price carries its date and
source from the catalog, so a number in a notebook is never mistaken for a quote.

Bedrock bills model customisation by the tokens in the training data times the number of epochs, so the
estimate is ``total tokens × epochs × training_per_1k_tokens / 1000``. The epochs are, in order, the
``epochs`` argument, the default ``epochCount`` of the model in the catalog, or 1.

Examples:
    >>> from finetune_sdk.data.records import Conversation
    >>> from finetune_sdk.data.stats import compute_stats
    >>> from finetune_sdk import catalog
    >>> recs = [Conversation.from_pairs("x" * 30, "y" * 60, system="z" * 9)] * 100
    >>> stats = compute_stats(recs, model=catalog.get("claude-3-haiku"))
    >>> stats.tokens["user"].mean, stats.total_tokens, stats.epochs, stats.estimated_training_tokens
    (10.0, 3300, 2, 6600)
    >>> round(stats.estimated_cost, 4), stats.price_date
    (0.0264, '2025-06-01')
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from finetune_sdk.catalog import BaseModelInfo
from finetune_sdk.data.records import MediaPart, Record, TextRecord
from finetune_sdk.data.tokens import HeuristicCounter, TokenCounter, counter_for
from finetune_sdk.errors import CatalogError, ConfigurationError

__all__ = ["ROLES", "DatasetStats", "Distribution", "compute_stats"]

#: the keys of :attr:`DatasetStats.tokens`, in display order ("total" is all text of a record)
ROLES: tuple[str, ...] = ("system", "user", "assistant", "text", "total")


class Distribution(BaseModel):
    """Summary of a list of per-record numbers (percentiles interpolate linearly between ranks).

    Attributes:
        count: how many records had a value (a role absent from a record is not a zero).
        total: the sum of the values.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    count: int
    total: int
    min: int
    mean: float
    p50: float
    p95: float
    max: int

    @classmethod
    def of(cls, values: Sequence[int]) -> Distribution | None:
        """The distribution of ``values``, or ``None`` when there are none."""
        if not values:
            return None
        ordered = sorted(values)
        total = sum(ordered)
        return cls(
            count=len(ordered),
            total=total,
            min=ordered[0],
            mean=total / len(ordered),
            p50=_percentile(ordered, 0.50),
            p95=_percentile(ordered, 0.95),
            max=ordered[-1],
        )


def _percentile(ordered: Sequence[int], q: float) -> float:
    rank = q * (len(ordered) - 1)
    lo = math.floor(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo))


class DatasetStats(BaseModel):
    """Statistics of a dataset and the training estimate that follows from them.

    Attributes:
        records: records in total; ``conversations`` + ``text_records``.
        with_system: conversations that have a system prompt.
        with_media: records with at least one image or video; ``media_parts`` counts the parts.
        multi_turn: conversations with more than one user turn.
        tokens: per-record token distribution per role (``system``, ``user``, ``assistant``, ``text``
            for text records, ``total`` for all text of a record); roles no record has are absent.
        turns: turns per conversation (``None`` without conversations).
        total_tokens: tokens in the whole dataset (one pass).
        epochs: passes used for the estimate; ``epochs_source`` says where the number came from.
        estimated_training_tokens: ``total_tokens × epochs``, what Bedrock bills for customisation.
        estimated_cost: in ``currency``; ``None`` without a model or when the catalog has no price.
        price_per_1k_tokens, price_date, price_source: the catalog price the estimate used.
        token_counter: the counter used, e.g. ``HeuristicCounter(chars_per_token=3.0)``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    records: int
    conversations: int
    text_records: int
    with_system: int
    with_media: int
    media_parts: int
    multi_turn: int
    tokens: dict[str, Distribution] = Field(default_factory=dict)
    turns: Distribution | None = None
    total_tokens: int
    epochs: int
    epochs_source: str
    estimated_training_tokens: int
    model_id: str | None = None
    estimated_cost: float | None = None
    currency: str = "USD"
    price_per_1k_tokens: float | None = None
    price_date: str | None = None
    price_source: str | None = None
    token_counter: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return self.model_dump(mode="json")

    def _summary_rows(self) -> list[tuple[str, str]]:
        rows = [
            ("records", f"{self.records:,}"),
            ("conversations", f"{self.conversations:,}"),
            ("text records", f"{self.text_records:,}"),
            ("with system prompt", f"{self.with_system:,}"),
            ("multi-turn", f"{self.multi_turn:,}"),
            ("with media", f"{self.with_media:,} ({self.media_parts:,} parts)"),
            ("tokens in the dataset", f"{self.total_tokens:,} (estimated with {self.token_counter})"),
            ("epochs", f"{self.epochs} ({self.epochs_source})"),
            ("training tokens", f"{self.estimated_training_tokens:,}"),
        ]
        rows.append(("estimated training cost", self._cost_text()))
        return rows

    def _cost_text(self) -> str:
        if self.estimated_cost is None:
            if self.model_id is None:
                return "n/a (pass a model to estimate the cost)"
            return f"n/a (the catalog has no training price for {self.model_id})"
        cost = f"{self.estimated_cost:,.2f}" if self.estimated_cost >= 0.01 else f"{self.estimated_cost:.2g}"
        return (
            f"{cost} {self.currency} at {self.price_per_1k_tokens} {self.currency} per 1k "
            f"tokens (price of {self.price_date}, {self.price_source}; check current pricing)"
        )

    def _distribution_rows(self) -> list[tuple[str, Distribution]]:
        rows = [(f"tokens: {role}", self.tokens[role]) for role in ROLES if role in self.tokens]
        if self.turns is not None:
            rows.append(("turns per conversation", self.turns))
        return rows

    def to_markdown(self) -> str:
        """Two markdown tables: the counts and estimate, then the per-record distributions."""
        lines = ["| | |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in self._summary_rows()]
        dists = self._distribution_rows()
        if dists:
            lines += ["", "| per record | records | min | mean | p50 | p95 | max |", "|---|" + "---:|" * 6]
            lines += [
                f"| {name} | {d.count:,} | {d.min:,} | {d.mean:,.1f} | {d.p50:,.1f} | {d.p95:,.1f} "
                f"| {d.max:,} |"
                for name, d in dists
            ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = self._summary_rows()
        summary = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
        head = "".join(f"<th>{h}</th>" for h in ("per record", "records", "min", "mean", "p50", "p95", "max"))
        body = "".join(
            f"<tr><td>{escape(name)}</td><td>{d.count:,}</td><td>{d.min:,}</td><td>{d.mean:,.1f}</td>"
            f"<td>{d.p50:,.1f}</td><td>{d.p95:,.1f}</td><td>{d.max:,}</td></tr>"
            for name, d in self._distribution_rows()
        )
        return (
            f"<table><tbody>{summary}</tbody></table>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )

    def __str__(self) -> str:
        return self.to_markdown()


def _describe_counter(counter: TokenCounter) -> str:
    # a default object repr holds a memory address, which would make reports differ between runs
    if type(counter).__repr__ is object.__repr__:
        return type(counter).__name__
    return repr(counter)


def _resolve_epochs(model: BaseModelInfo | None, epochs: int | None) -> tuple[int, str]:
    if epochs is not None:
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ConfigurationError(f"epochs must be an integer >= 1, got {epochs!r}.")
        return epochs, "given"
    if model is not None:
        try:
            default = model.hyperparameter("epochCount").default
        except CatalogError:
            default = None
        if isinstance(default, int) and not isinstance(default, bool):
            return default, f"default epochCount of {model.id}"
    return 1, "assumed; pass epochs= or a model"


def compute_stats(
    records: Iterable[Record],
    *,
    model: BaseModelInfo | None = None,
    epochs: int | None = None,
    token_counter: TokenCounter | None = None,
) -> DatasetStats:
    """Count records, tokens per role and turns, and estimate the training tokens and cost.

    Args:
        records: the records (read once).
        model: a catalog entry; gives the default token heuristic, the default epochs and the price.
        epochs: passes over the data for the estimate (default: the model's ``epochCount`` default, else 1).
        token_counter: anything with ``count(text) -> int``, e.g. an exact tokenizer wrapper.

    Returns:
        A :class:`DatasetStats`.

    Raises:
        ConfigurationError: ``epochs`` is not an integer >= 1.

    Examples:
        >>> from finetune_sdk.data.records import TextRecord
        >>> s = compute_stats([TextRecord(text="abcdefgh"), TextRecord(text="abcd")])
        >>> s.tokens["text"].max, s.total_tokens, s.estimated_cost is None
        (2, 3, True)
    """
    epoch_count, epochs_source = _resolve_epochs(model, epochs)
    counter: TokenCounter
    if token_counter is not None:
        counter = token_counter
    else:
        counter = counter_for(model) if model is not None else HeuristicCounter(4.0)
    count = counter.count
    per_role: dict[str, list[int]] = {role: [] for role in ROLES}
    turns: list[int] = []
    n = conversations = with_system = with_media = media_parts = multi_turn = 0
    for record in records:
        n += 1
        if isinstance(record, TextRecord):
            t = count(record.text)
            per_role["text"].append(t)
            per_role["total"].append(t)
            continue
        conversations += 1
        total = 0
        if record.system:
            with_system += 1
            t = count(record.system)
            per_role["system"].append(t)
            total += t
        user = assistant = users = media = 0
        for turn in record.turns:
            t = count(turn.text)
            if turn.role == "user":
                user += t
                users += 1
            else:
                assistant += t
            media += sum(1 for p in turn.content if isinstance(p, MediaPart))
        if users:
            per_role["user"].append(user)
        if len(record.turns) > users:
            per_role["assistant"].append(assistant)
        total += user + assistant
        per_role["total"].append(total)
        turns.append(len(record.turns))
        multi_turn += users > 1
        if media:
            with_media += 1
            media_parts += media
    distributions: dict[str, Distribution] = {}
    for role, values in per_role.items():
        dist = Distribution.of(values)
        if dist is not None:
            distributions[role] = dist
    total_tokens = sum(per_role["total"])
    training_tokens = total_tokens * epoch_count
    price = model.prices if model is not None else None
    per_1k = price.training_per_1k_tokens if price is not None else None
    return DatasetStats(
        records=n,
        conversations=conversations,
        text_records=n - conversations,
        with_system=with_system,
        with_media=with_media,
        media_parts=media_parts,
        multi_turn=multi_turn,
        tokens=distributions,
        turns=Distribution.of(turns),
        total_tokens=total_tokens,
        epochs=epoch_count,
        epochs_source=epochs_source,
        estimated_training_tokens=training_tokens,
        model_id=model.id if model is not None else None,
        estimated_cost=training_tokens / 1000 * per_1k if per_1k is not None else None,
        currency=price.currency if price is not None else "USD",
        price_per_1k_tokens=per_1k,
        price_date=price.date if price is not None else None,
        price_source=price.source if price is not None else None,
        token_counter=_describe_counter(counter),
    )
