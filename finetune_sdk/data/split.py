"""Seeded, reproducible train/validation/test splits, optionally stratified or grouped.

The same records, arguments and seed give the same split on every machine, operating system and Python
version: the shuffle is driven by BLAKE2b hashes of the seed and each record's position (never by
``hash()``, which Python salts per process, and never by :mod:`random`, whose shuffling algorithms may
change between versions). Only positions are hashed, so the result does not depend on the records'
content; the labels and group keys returned by ``stratify_by``/``group_by`` are only compared for
equality, and ordered by first appearance.

How records are assigned:

1. The target size of each split comes from ``counts`` as given, or from ``ratios`` by the largest
   remainder method, so the sizes always add up to the number of records.
2. The split names are laid out in one evenly interleaved sequence with exactly those sizes.
3. Records are grouped into strata (one stratum unless ``stratify_by`` is given); strata are visited in
   a seeded order and each takes the next block of the sequence, so every stratum gets each split in
   proportion (within one record) and the totals are exact.
4. Inside a stratum, records in seeded order take the block's names one by one. With ``group_by``,
   whole groups are placed instead, largest first (ties in seeded order), each into the split furthest
   below its target, so no group is ever divided (sizes are then as close as the groups allow).

Each split keeps the records in their original relative order.

Examples:
    >>> from finetune_sdk.data.records import TextRecord
    >>> from finetune_sdk.data.split import split_records
    >>> records = [TextRecord(text=str(i)) for i in range(10)]
    >>> parts = split_records(records, ratios={"train": 0.8, "test": 0.2}, seed=7)
    >>> {name: len(rs) for name, rs in parts.items()}
    {'train': 8, 'test': 2}
    >>> parts == split_records(records, ratios={"train": 0.8, "test": 0.2}, seed=7)
    True
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from numbers import Real
from typing import TypeVar

from finetune_sdk.data.records import Record
from finetune_sdk.errors import ConfigurationError

__all__ = ["RATIO_TOLERANCE", "split_records", "split_sizes"]

logger = logging.getLogger(__name__)

#: how far the ratios may sum from 1 (they are rescaled to sum to exactly 1)
RATIO_TOLERANCE = 1e-3

_T = TypeVar("_T")
_UNUSED = None  # the pseudo split holding records left over when ``counts`` sum to fewer than all records


def _rank_key(seed: int, tag: str, position: int) -> bytes:
    return hashlib.blake2b(f"{seed}\x1f{tag}\x1f{position}".encode(), digest_size=8).digest()


def _check_names(names: Sequence[object], argument: str) -> None:
    if not names:
        raise ConfigurationError(
            f"{argument} is empty; name at least one split, e.g. {argument}={{'train': ..., 'test': ...}}."
        )
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError(f"{argument}: split names must be non-empty strings, got {name!r}.")


def split_sizes(
    n: int, *, ratios: Mapping[str, float] | None = None, counts: Mapping[str, int] | None = None
) -> dict[str, int]:
    """The number of records each split gets out of ``n``, after checking the arguments.

    With ``ratios`` the sizes add up to ``n`` (largest remainder method; ties go to the split named
    first). With ``counts`` they are the counts themselves.

    Raises:
        ConfigurationError: both or neither of ``ratios`` and ``counts`` are given; a name is empty; a
            ratio is negative, not finite, or the ratios do not sum to 1 (within ``RATIO_TOLERANCE``);
            a count is negative or not an integer, or the counts add up to more than ``n``.

    Examples:
        >>> split_sizes(10, ratios={"train": 0.8, "validation": 0.1, "test": 0.1})
        {'train': 8, 'validation': 1, 'test': 1}
        >>> split_sizes(7, ratios={"a": 0.5, "b": 0.5})
        {'a': 4, 'b': 3}
    """
    if ratios is not None and counts is not None:
        raise ConfigurationError(
            "pass either ratios or counts, not both: ratios={'train': 0.9, 'validation': 0.1} splits by "
            "proportion, counts={'train': 900, 'validation': 100} by exact sizes."
        )
    if ratios is None and counts is None:
        raise ConfigurationError(
            "split needs ratios or counts, e.g. ratios={'train': 0.8, 'validation': 0.1, 'test': 0.1} "
            "or counts={'train': 900, 'validation': 100}."
        )
    if counts is not None:
        names = list(counts)
        _check_names(names, "counts")
        for name, count in counts.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ConfigurationError(
                    f"counts[{name!r}] must be an integer >= 0, got {count!r}; use ratios for proportions."
                )
        total = sum(counts.values())
        if total > n:
            raise ConfigurationError(
                f"counts add up to {total} records but there are only {n}; lower the counts so they sum "
                f"to at most {n}, or pass ratios instead."
            )
        return {name: int(counts[name]) for name in names}
    assert ratios is not None
    names = list(ratios)
    _check_names(names, "ratios")
    values: list[float] = []
    for name, value in ratios.items():
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0:
            raise ConfigurationError(f"ratios[{name!r}] must be a finite number >= 0, got {value!r}.")
        values.append(float(value))
    total_ratio = math.fsum(values)
    if abs(total_ratio - 1.0) > RATIO_TOLERANCE:
        raise ConfigurationError(
            f"ratios must sum to 1 (within {RATIO_TOLERANCE}), but {dict(ratios)!r} sums to "
            f"{total_ratio:.6g}; adjust them, e.g. {{'train': 0.8, 'validation': 0.1, 'test': 0.1}}."
        )
    quotas = [v / total_ratio * n for v in values]
    # Round away float noise first (0.29 * 100 == 28.999999999999996), then apportion what is left over.
    sizes = [math.floor(round(q, 9)) for q in quotas]
    leftover = n - sum(sizes)
    by_remainder = sorted(range(len(names)), key=lambda i: (-(quotas[i] - sizes[i]), i))
    for i in by_remainder[:leftover]:
        sizes[i] += 1
    return dict(zip(names, sizes, strict=True))


def _interleave(sizes: Sequence[tuple[str | None, int]]) -> list[str | None]:
    """Every name repeated by its size, spread evenly: the k-th copy of a name sits near (k + ½) / size."""
    slots: list[tuple[float, int, str | None]] = []
    for order, (name, size) in enumerate(sizes):
        slots.extend(((k + 0.5) / size, order, name) for k in range(size))
    slots.sort(key=lambda s: (s[0], s[1]))
    return [name for _, _, name in slots]


def _first_appearance(keys: Sequence[_T]) -> dict[_T, list[int]]:
    out: dict[_T, list[int]] = {}
    for i, key in enumerate(keys):
        out.setdefault(key, []).append(i)
    return out


def split_records(
    records: Sequence[Record],
    *,
    ratios: Mapping[str, float] | None = None,
    counts: Mapping[str, int] | None = None,
    seed: int = 0,
    stratify_by: Callable[[Record], Hashable] | None = None,
    group_by: Callable[[Record], Hashable] | None = None,
) -> dict[str, list[Record]]:
    """Split records into named parts, reproducibly; see the module docstring for the method.

    Args:
        records: the records to split.
        ratios: split name → proportion; they must sum to 1 (within ``RATIO_TOLERANCE``).
        counts: split name → exact number of records. Records beyond their sum are left out of every
            split; use ``ratios`` to use every record.
        seed: any integer; the same seed gives the same split everywhere.
        stratify_by: a function returning each record's label; every split then keeps the label
            proportions of the whole (within one record per label and split).
        group_by: a function returning each record's group key; all records of a group land in the same
            split (with ``stratify_by`` too, a group is stratified by the label of its first record).

    Returns:
        Split name → records, in the order the names were given; each list keeps the input order.

    Raises:
        ConfigurationError: the arguments are inconsistent (see :func:`split_sizes`), or ``seed`` is
            not an integer.

    Examples:
        >>> from finetune_sdk.data.records import Conversation
        >>> rs = [Conversation.from_pairs(f"q{i}", "a", metadata={"label": i % 2}) for i in range(8)]
        >>> by_label = lambda r: r.metadata["label"]
        >>> parts = split_records(rs, ratios={"train": 0.5, "test": 0.5}, stratify_by=by_label)
        >>> sorted(r.metadata["label"] for r in parts["test"])
        [0, 0, 1, 1]
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigurationError(f"seed must be an integer, got {seed!r}.")
    n = len(records)
    sizes = split_sizes(n, ratios=ratios, counts=counts)
    names = list(sizes)
    for name, size in sizes.items():
        if size == 0 and ratios is not None and ratios[name] > 0:
            logger.warning("split %r gets no records: %d are too few for ratio %s", name, n, ratios[name])
    sequence_sizes: list[tuple[str | None, int]] = [(name, sizes[name]) for name in names]
    if sum(sizes.values()) < n:
        sequence_sizes.append((_UNUSED, n - sum(sizes.values())))
    sequence = _interleave(sequence_sizes)

    # Units are groups (or single records); strata hold units.
    if group_by is not None:
        units = list(_first_appearance([group_by(r) for r in records]).values())
    else:
        units = [[i] for i in range(n)]
    if stratify_by is not None:
        labels = [stratify_by(records[unit[0]]) for unit in units]
        strata = list(_first_appearance(labels).values())
    else:
        strata = [list(range(len(units)))]
    stratum_order = sorted(range(len(strata)), key=lambda s: _rank_key(seed, "stratum", s))

    assignment: list[str | None] = [_UNUSED] * n
    position = 0
    for s in stratum_order:
        stratum_units = strata[s]
        stratum_size = sum(len(units[u]) for u in stratum_units)
        block = sequence[position : position + stratum_size]
        position += stratum_size
        if group_by is None:
            ordered = sorted((units[u][0] for u in stratum_units), key=lambda i: _rank_key(seed, "record", i))
            for i, slot in zip(ordered, block, strict=True):
                assignment[i] = slot
            continue
        targets: dict[str | None, int] = {}
        for slot in block:
            targets[slot] = targets.get(slot, 0) + 1
        choices = [name for name, _ in sequence_sizes if targets.get(name, 0) > 0]
        filled = dict.fromkeys(choices, 0)
        ordered_units = sorted(stratum_units, key=lambda u: (-len(units[u]), _rank_key(seed, "group", u)))
        for u in ordered_units:
            # the split furthest below its target; ties go to the split named first
            best = max(choices, key=lambda c: targets[c] - filled[c])
            filled[best] += len(units[u])
            for i in units[u]:
                assignment[i] = best

    out: dict[str, list[Record]] = {name: [] for name in names}
    for record, slot in zip(records, assignment, strict=True):
        if slot is not None:
            out[slot].append(record)
    if group_by is not None:
        achieved = {name: len(out[name]) for name in names}
        if achieved != sizes:
            logger.info("group_by kept groups whole, so split sizes are %s instead of %s", achieved, sizes)
    return out
