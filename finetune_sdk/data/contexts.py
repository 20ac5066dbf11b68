"""Shared contexts: long text blocks (a table, a document) that several records are built on.

Question-answering datasets such as TAT-QA ask several questions about one table: each record's prompt is
the same table and paragraphs followed by a different question. Those records are neither duplicates of each
other (near-duplicate search must compare what they do not share) nor independent (a test question whose
table is also in the training data leaks the table). This module finds such contexts from the text alone, so
it works on any JSONL file, without metadata:

- a record's turns are cut into blocks at blank lines (``"\\n\\n"``); a block of at least
  :data:`MIN_CONTEXT_CHARS` characters (stripped) is a candidate, compared exactly;
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


def _blocks(record: Record) -> list[str]:
    """The candidate context blocks of a record: its turns cut at blank lines, stripped, long enough. Blocks
    are compared exactly (a table repeated by a generator is repeated verbatim); a text without a blank line
    is its own block, without a copy."""
    texts = [record.text] if isinstance(record, TextRecord) else [t.text for t in record.turns]
    out = []
    for text in texts:
        for block in text.split("\n\n") if "\n\n" in text else (text,):
            block = block.strip()
            if len(block) >= MIN_CONTEXT_CHARS:
                out.append(block)
    return out


def shared_contexts(records: Sequence[Record]) -> list[frozenset[str]]:
    """For each record, the shared contexts (blocks) it contains (empty when it shares none)."""
    per_record = [_blocks(r) for r in records]
    counts: dict[str, int] = {}
    for blocks in per_record:
        for b in set(blocks):
            counts[b] = counts.get(b, 0) + 1
    limit = max_sharing(len(records))
    empty: frozenset[str] = frozenset()
    out = []
    for blocks in per_record:
        shared = [b for b in blocks if 2 <= counts[b] <= limit]
        out.append(frozenset(shared) if shared else empty)
    return out


def strip_contexts(record: Record, contexts: frozenset[str]) -> str:
    """The text of ``record`` (whitespace-normalised and case-folded, as near-duplicate search compares it)
    without the blocks that are the given contexts: what the record says beyond the context it shares."""
    texts = [record.text] if isinstance(record, TextRecord) else [t.text for t in record.turns]
    kept = []
    for text in texts:
        for block in text.split("\n\n"):
            stripped = block.strip()
            if stripped and stripped not in contexts:
                kept.append(" ".join(stripped.casefold().split()))
    return " ".join(kept)
