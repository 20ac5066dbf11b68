"""Shared contexts: long text blocks (a table, a document) that several records are built on.

Question-answering datasets such as TAT-QA ask several questions about one table: each record's prompt is
the same table and paragraphs followed by a different question. Those records are neither duplicates of each
other (near-duplicate search must compare what they do not share) nor independent (a test question whose
table is also in the training data leaks the table). This module finds such contexts from the text alone, so
it works on any JSONL file, without metadata:

- a record's turns are cut into blocks at blank lines (``"\\n\\n"``); a block of at least
  :data:`MIN_CONTEXT_CHARS` characters (after whitespace and case normalisation) is a candidate;
- a candidate found in at least two records, and in no more than :func:`max_sharing` of them, is a shared
  context. A block repeated in a large share of the records is a template (instructions every prompt
  carries), not a context, and is left alone.

Examples:
    >>> from finetune_sdk.data.contexts import shared_contexts
    >>> from finetune_sdk.data.records import Conversation
    >>> table = "Table:\\n" + " | ".join(f"revenue {y} | {y * 3}" for y in range(2000, 2020))
    >>> rs = [Conversation.from_pairs(f"{table}\\n\\nQuestion: {q}", "a") for q in ("What?", "Why?")]
    >>> rs.append(Conversation.from_pairs("Unrelated question", "b"))
    >>> ctx = shared_contexts(rs)
    >>> len(ctx[0]), ctx[0] == ctx[1], ctx[2]
    (1, True, frozenset())
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from finetune_sdk.data.records import Record, TextRecord

__all__ = ["CONTEXT_GROUP", "MIN_CONTEXT_CHARS", "max_sharing", "shared_contexts", "strip_contexts"]

#: Blocks shorter than this (normalised characters) are never contexts.
MIN_CONTEXT_CHARS = 120
#: The ``group_by`` value that groups records by shared context (``Dataset.split(group_by=CONTEXT_GROUP)``).
CONTEXT_GROUP = "@context"


def max_sharing(n: int) -> int:
    """The most records a block may appear in and still be a context rather than a template: 20, or 1% of
    the records for datasets over 2,000."""
    return max(20, n // 100)


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def _blocks(record: Record) -> list[str]:
    texts = [record.text] if isinstance(record, TextRecord) else [t.text for t in record.turns]
    out = []
    for text in texts:
        for block in text.split("\n\n"):
            norm = _norm(block)
            if len(norm) >= MIN_CONTEXT_CHARS:
                out.append(norm)
    return out


def _key(block: str) -> bytes:
    return hashlib.blake2b(block.encode("utf-8", "surrogatepass"), digest_size=12).digest()


def shared_contexts(records: Sequence[Record]) -> list[frozenset[bytes]]:
    """For each record, the keys of the shared contexts it contains (empty when it shares none)."""
    per_record = [{_key(b) for b in _blocks(r)} for r in records]
    counts: dict[bytes, int] = {}
    for keys in per_record:
        for k in keys:
            counts[k] = counts.get(k, 0) + 1
    limit = max_sharing(len(records))
    shared = {k for k, c in counts.items() if 2 <= c <= limit}
    return [frozenset(keys & shared) if keys & shared else frozenset() for keys in per_record]


def strip_contexts(record: Record, contexts: frozenset[bytes]) -> str:
    """The normalised text of ``record`` without the blocks that are the given contexts (what the record
    says beyond the context it shares)."""
    texts = [record.text] if isinstance(record, TextRecord) else [t.text for t in record.turns]
    kept = []
    for text in texts:
        for block in text.split("\n\n"):
            norm = _norm(block)
            if norm and not (len(norm) >= MIN_CONTEXT_CHARS and _key(norm) in contexts):
                kept.append(norm)
    return " ".join(kept)
