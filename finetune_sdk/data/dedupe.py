"""Exact and near-duplicate detection inside a dataset, and leakage checks between its splits.

**Exact duplicates** are records whose text is equal after normalisation (Unicode NFC, case folding,
whitespace runs collapsed to one space), with the same structure: the same kind, system prompt, roles in
the same order, and the same media. They are found by hashing, in linear time, with no extra packages.

**Near duplicates** (``near=True``) are records whose character ``ngram``-shingle sets have an estimated
Jaccard similarity of at least ``threshold``. Characters rather than words are shingled so that short
prompts, numbers and languages written without spaces behave well. For conversations only the turns are
compared, not the system prompt: datasets often share one long system prompt across every record, which
would otherwise make unrelated records look alike. The MinHash signatures are computed with one
permutation hashing and optimal densification (Shrivastava, ICML 2017), vectorised with numpy: the
signatures estimate Jaccard similarity like classic k-permutation MinHash, at O(shingles) instead of
O(shingles × num_perm) cost. Locality-sensitive hashing then groups signatures that agree on a whole
band; the numbers of bands and rows are the ones datasketch's ``MinHashLSH`` chooses for ``threshold``
(weighted towards recall), while the banding itself runs in numpy, because feeding 100k sketches
through ``MinHashLSH.insert``/``query`` one at a time costs more than everything else together. Every
candidate pair is then verified on the full signature, so each reported pair is estimated at or above
``threshold``. This needs the ``dedupe`` extra: ``pip install 'finetune-sdk[dedupe]'``.

Two refinements keep near-duplicate search from merging records that only look alike:

- **numbers** (``number_aware=True``, the default): records whose numbers differ ("order #6" and
  "order #66", "revenue in 2018" and "revenue in 2019") are not near duplicates, however similar the rest;
- **shared contexts**: records built on one long block (a TAT-QA table, a document; see
  :mod:`finetune_sdk.data.contexts`) are compared on what they do not share, so several questions about one
  table are not near duplicates of each other. :func:`check_leakage` reports such contexts shared between
  splits, since a test question whose table is in the training data is not held out.

Removal is greedy in input order: a record is dropped when it duplicates a record that is kept, so the
first record of each cluster stays, and every dropped record is within ``threshold`` of the record it was
dropped for (no chaining through intermediate records).

Examples:
    >>> from finetune_sdk.data.dedupe import check_leakage, dedupe_records
    >>> from finetune_sdk.data.records import Conversation
    >>> records = [Conversation.from_pairs("What is 2+2?", "4"),
    ...            Conversation.from_pairs("what is  2+2?", "4"),
    ...            Conversation.from_pairs("What is 3+3?", "6")]
    >>> kept, report = dedupe_records(records)
    >>> len(kept), report.clusters[0].indexes
    (2, (0, 1))
    >>> check_leakage({"train": records[:2], "test": records[1:]}).ok
    False
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from finetune_sdk.data.contexts import shared_contexts, strip_contexts
from finetune_sdk.data.records import MediaPart, Record, TextRecord
from finetune_sdk.errors import ConfigurationError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "DedupeReport",
    "DuplicateCluster",
    "LeakageReport",
    "SplitOverlap",
    "check_leakage",
    "dedupe_records",
    "normalize_text",
]

logger = logging.getLogger(__name__)

_INSTALL_HINT = "pip install 'finetune-sdk[dedupe]'"
_SAMPLE_CHARS = 160
#: at most this many index pairs are kept per pair of splits (counts stay exact)
MAX_PAIRS_PER_OVERLAP = 10_000
# Texts are shingled in chunks of about this many characters, which bounds the numpy working memory.
_CHUNK_CHARS = 4_000_000
# (false positive, false negative) weights for datasketch's choice of bands and rows
_LSH_WEIGHTS = (0.05, 0.95)
# candidate pairs verified per numpy batch (bounds the memory of the comparison)
_VERIFY_CHUNK = 1 << 20
# LSH buckets larger than twice this pair each member with this many leading and preceding members only
_BUCKET_WINDOW = 256


def normalize_text(text: str) -> str:
    """The form texts are compared in: NFC, case-folded, whitespace runs collapsed to one space, stripped.

    Examples:
        >>> normalize_text("  Hello\\n\\tWORLD ")
        'hello world'
    """
    if text.isascii():  # NFC changes no ASCII text, and casefold() is lower() on it
        return " ".join(text.lower().split())
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def _identity(record: Record) -> tuple[bytes, str]:
    """The exact-duplicate key of a record and the normalised text near-duplicate search compares.

    Both come from one normalisation pass. The key covers kind, system prompt, roles, text and media;
    the text is the turns only (see the module docstring for why the system prompt is left out).
    """
    # "\x1e" and "\x1f" are whitespace to str.split(), so they never survive normalize_text and can
    # separate fields without ambiguity.
    if isinstance(record, TextRecord):
        text = normalize_text(record.text)
        body = "text\x1e" + text
    else:
        fields = ["conversation", normalize_text(record.system or "")]
        turn_texts = []
        for turn in record.turns:
            norm = normalize_text(turn.text)
            turn_texts.append(norm)
            pieces = [turn.role, norm]
            pieces.extend(f"{p.type}:{p.format}:{p.uri}" for p in turn.content if isinstance(p, MediaPart))
            fields.append("\x1f".join(pieces))
        body = "\x1e".join(fields)
        text = " ".join(t for t in turn_texts if t)
    return hashlib.blake2b(body.encode("utf-8", "surrogatepass"), digest_size=16).digest(), text


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _numbers(text: str) -> tuple[str, ...]:
    """The numbers of ``text`` in order (digit runs with their decimal or thousands separators)."""
    return tuple(_NUMBER.findall(text))


def _shingles(text: str, ngram: int) -> set[str]:
    if len(text) <= ngram:
        return {text}
    return {text[i : i + ngram] for i in range(len(text) - ngram + 1)}


def _refine(
    pairs: list[tuple[int, int, float]],
    records: Sequence[Record],
    texts: Sequence[str],
    *,
    threshold: float,
    ngram: int,
    number_aware: bool,
    contexts: Sequence[frozenset[str]] | None = None,
) -> list[tuple[int, int, float]]:
    """The similar pairs that are near duplicates: two records built on one shared context are compared
    (exactly) on what they do not share, and with ``number_aware`` records whose numbers differ are not
    near duplicates."""
    ctx = shared_contexts(records) if contexts is None else contexts
    out = []
    for a, b, sim in pairs:
        ta, tb = texts[a], texts[b]
        common = ctx[a] & ctx[b]
        if common:
            ta, tb = strip_contexts(records[a], common), strip_contexts(records[b], common)
            sa, sb = _shingles(ta, ngram), _shingles(tb, ngram)
            sim = len(sa & sb) / len(sa | sb) if sa | sb else 1.0
            if sim < threshold:
                continue
        if number_aware and _numbers(ta) != _numbers(tb):
            continue
        out.append((a, b, sim))
    return out


def _record_sample(record: Record) -> str:
    if isinstance(record, TextRecord):
        text = record.text
    else:
        text = " | ".join(t.text for t in record.turns if t.text) or (record.system or "")
        if not text and any(isinstance(p, MediaPart) for t in record.turns for p in t.content):
            text = "(media only)"
    text = " ".join(text.split())
    return text if len(text) <= _SAMPLE_CHARS else text[: _SAMPLE_CHARS - 1] + "…"


# --- reports ------------------------------------------------------------------------------------------


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DuplicateCluster(_Frozen):
    """One record that was kept and the records dropped as its duplicates.

    Attributes:
        kept: 0-based index of the kept record (the first of the cluster).
        indexes: every index in the cluster, ascending, ``kept`` first.
        kind: ``"exact"`` when every member is an exact duplicate of the kept record, else ``"near"``.
        min_similarity: the lowest estimated Jaccard similarity of a member to the kept record
            (1.0 for exact clusters).
        sample: the start of the kept record's text.
    """

    kept: int
    indexes: tuple[int, ...]
    kind: Literal["exact", "near"]
    min_similarity: float
    sample: str

    @property
    def dropped(self) -> tuple[int, ...]:
        """The indexes that were dropped (every member but ``kept``)."""
        return self.indexes[1:]


class DedupeReport(_Frozen):
    """What :func:`dedupe_records` found and removed.

    Attributes:
        input_records: records examined.
        output_records: records kept.
        exact_duplicates: records dropped as exact duplicates of an earlier record.
        near_duplicates: records dropped as near duplicates (0 unless ``near``).
        near: whether near-duplicate detection ran.
        threshold, num_perm, ngram: the near-duplicate settings (``None`` when ``near`` is off).
        clusters: one entry per kept record that had duplicates, in input order.
    """

    input_records: int
    output_records: int
    exact_duplicates: int
    near_duplicates: int
    near: bool
    threshold: float | None = None
    num_perm: int | None = None
    ngram: int | None = None
    clusters: tuple[DuplicateCluster, ...] = ()

    @property
    def removed(self) -> int:
        """Records dropped in total."""
        return self.input_records - self.output_records

    @property
    def removed_indexes(self) -> tuple[int, ...]:
        """0-based indexes of every dropped record, ascending."""
        return tuple(sorted(i for c in self.clusters for i in c.dropped))

    def to_markdown(self, *, max_clusters: int = 20) -> str:
        """A summary table, then the largest clusters with their indexes and a sample text."""
        lines = [
            "| | records |",
            "|---|---:|",
            f"| input | {self.input_records} |",
            f"| kept | {self.output_records} |",
            f"| exact duplicates removed | {self.exact_duplicates} |",
        ]
        if self.near:
            lines.append(
                f"| near duplicates removed (Jaccard ≥ {self.threshold}, {self.ngram}-char shingles) "
                f"| {self.near_duplicates} |"
            )
        if self.clusters:
            biggest = sorted(self.clusters, key=lambda c: (-len(c.indexes), c.kept))[:max_clusters]
            lines += ["", "| kept | kind | size | indexes | sample |", "|---:|---|---:|---|---|"]
            for c in biggest:
                idx = ", ".join(map(str, c.indexes[:10])) + (" …" if len(c.indexes) > 10 else "")
                sample = c.sample.replace("|", "\\|")
                lines.append(f"| {c.kept} | {c.kind} | {len(c.indexes)} | {idx} | {sample} |")
            if len(self.clusters) > max_clusters:
                lines.append(f"\n{len(self.clusters) - max_clusters} more clusters not shown.")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = [
            ("input", self.input_records),
            ("kept", self.output_records),
            ("exact duplicates removed", self.exact_duplicates),
            ("near duplicates removed", self.near_duplicates),
            ("clusters", len(self.clusters)),
        ]
        body = "".join(f"<tr><td>{escape(k)}</td><td>{v}</td></tr>" for k, v in rows)
        return f"<table><tbody>{body}</tbody></table>"

    def __str__(self) -> str:
        text = (
            f"{self.input_records} records: kept {self.output_records}, removed {self.exact_duplicates} exact"
        )
        if self.near:
            text += f" and {self.near_duplicates} near (Jaccard ≥ {self.threshold})"
        return text + f" duplicates in {len(self.clusters)} clusters"

    def __repr__(self) -> str:
        return f"DedupeReport({self})"


class SplitOverlap(_Frozen):
    """Records shared by two splits.

    Attributes:
        first, second: the split names, in the order the mapping gave them.
        exact_pairs, near_pairs: how many (first index, second index) pairs are exact or near duplicates.
        first_indexes, second_indexes: the records of each split that have a match in the other.
        pairs: up to ``MAX_PAIRS_PER_OVERLAP`` matching pairs, exact pairs first.
        pairs_truncated: whether ``pairs`` was cut short (the counts are exact either way).
        shared_contexts: how many contexts (tables, documents) records of both splits are built on; their
            records are in ``first_indexes``/``second_indexes`` too.
        sample: the start of one leaked record's text.
    """

    first: str
    second: str
    exact_pairs: int
    near_pairs: int
    first_indexes: tuple[int, ...]
    second_indexes: tuple[int, ...]
    pairs: tuple[tuple[int, int], ...]
    pairs_truncated: bool = False
    shared_contexts: int = 0
    sample: str = ""

    @property
    def count(self) -> int:
        """Overlapping pairs in total."""
        return self.exact_pairs + self.near_pairs


class LeakageReport(_Frozen):
    """What :func:`check_leakage` found. ``ok`` is true when no two splits share a record.

    Attributes:
        split_sizes: records per split.
        near, threshold: whether near duplicates were checked, and at which Jaccard threshold.
        overlaps: one entry per pair of splits that share records.
    """

    split_sizes: dict[str, int]
    near: bool
    threshold: float | None = None
    overlaps: tuple[SplitOverlap, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no record of one split (nearly) duplicates a record of another."""
        return not self.overlaps

    def overlap(self, first: str, second: str) -> SplitOverlap | None:
        """The overlap between two splits (in either order), or ``None`` when they share nothing."""
        for o in self.overlaps:
            if {o.first, o.second} == {first, second}:
                return o
        return None

    def to_markdown(self) -> str:
        """A table of overlapping split pairs, or a line saying there is none."""
        what = f"exact or near (Jaccard ≥ {self.threshold})" if self.near else "exact"
        if self.ok:
            return f"No {what} duplicates or contexts shared between splits ({', '.join(self.split_sizes)})."
        lines = [
            f"Leakage ({what} duplicates shared between splits):",
            "",
            "| splits | exact pairs | near pairs | shared contexts | records in first | records in second | sample |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        for o in self.overlaps:
            sample = o.sample.replace("|", "\\|")
            lines.append(
                f"| {o.first} / {o.second} | {o.exact_pairs} | {o.near_pairs} | {o.shared_contexts} "
                f"| {len(o.first_indexes)} "
                f"| {len(o.second_indexes)} | {sample} |"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if self.ok:
            return f"<p>{escape(self.to_markdown())}</p>"
        rows = "".join(
            f"<tr><td>{escape(o.first)} / {escape(o.second)}</td><td>{o.exact_pairs}</td>"
            f"<td>{o.near_pairs}</td><td>{escape(o.sample)}</td></tr>"
            for o in self.overlaps
        )
        head = "<tr><th>splits</th><th>exact pairs</th><th>near pairs</th><th>sample</th></tr>"
        return f"<table><thead>{head}</thead><tbody>{rows}</tbody></table>"

    def __repr__(self) -> str:
        return (
            f"LeakageReport(ok={self.ok}, split_sizes={self.split_sizes!r}, near={self.near}, "
            f"overlaps={len(self.overlaps)})"
        )

    def __str__(self) -> str:
        if self.ok:
            return self.to_markdown()
        parts = [
            f"{o.first}/{o.second}: {o.count} pairs"
            + (f" and {o.shared_contexts} shared contexts" if o.shared_contexts else "")
            + f" ({len(o.first_indexes)} {o.first} records, {len(o.second_indexes)} {o.second} records)"
            for o in self.overlaps
        ]
        return "leakage between splits: " + "; ".join(parts)


# --- near-duplicate machinery -------------------------------------------------------------------------


def _check_near_settings(threshold: float, num_perm: int, ngram: int) -> None:
    if not 0.0 < threshold <= 1.0:
        raise ConfigurationError(
            f"threshold must be in (0, 1], got {threshold!r}; 0.85 is a good default for near duplicates."
        )
    if not 16 <= num_perm <= 4096:
        raise ConfigurationError(f"num_perm must be in 16..4096, got {num_perm!r}; 128 is the default.")
    if ngram < 1:
        raise ConfigurationError(f"ngram (characters per shingle) must be >= 1, got {ngram!r}; 5 is usual.")


def _import_near() -> tuple[Any, Any]:
    try:
        import numpy
        from datasketch import MinHashLSH
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"near-duplicate detection needs datasketch (and numpy), which is not installed: {_INSTALL_HINT}",
            name=exc.name,
        ) from exc
    return numpy, MinHashLSH


def _fmix64(np: Any, h: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """MurmurHash3's 64-bit finaliser, in place on an array (array ops wrap silently on overflow)."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


def _chunks(texts: Sequence[str]) -> Iterator[tuple[int, int]]:
    start, size = 0, 0
    for i, t in enumerate(texts):
        size += len(t)
        if size >= _CHUNK_CHARS:
            yield start, i + 1
            start, size = i + 1, 0
    if start < len(texts):
        yield start, len(texts)


def _signatures(
    np: Any,
    texts: Sequence[str],
    *,
    num_perm: int,
    ngram: int,
    progress: Callable[[int], object] | None = None,
) -> npt.NDArray[np.uint64]:
    """One-permutation MinHash signatures with optimal densification, one row per text.

    Each shingle (``ngram`` consecutive code points; shorter texts are one shingle) is hashed once to 64
    bits; the high 32 bits pick one of ``num_perm`` bins and the low 32 bits are the value whose minimum
    the bin keeps. Empty bins then borrow the value of a non-empty bin chosen by a hash sequence that
    depends only on the bin number, which keeps the collision probability of every position equal to
    the Jaccard similarity. Every text must be non-empty.
    """
    k = num_perm
    empty = np.uint64(1 << 32)
    out = np.empty((len(texts), k), dtype=np.uint64)
    mult = np.uint64(0x100000001B3)
    for lo, hi in _chunks(texts):
        chunk = [t if len(t) >= ngram else t.ljust(ngram) for t in texts[lo:hi]]
        lens = np.fromiter((len(t) for t in chunk), dtype=np.int64, count=len(chunk))
        raw = "".join(chunk).encode("utf-32-le", "surrogatepass")
        cp = np.frombuffer(raw, dtype=np.uint32).astype(np.uint64)
        m = cp.size - ngram + 1
        h = cp[:m].copy()
        for j in range(1, ngram):
            h *= mult
            h += cp[j : j + m]
        _fmix64(np, h)
        # Every position gets the bin of its record; the last ngram-1 positions of each record hold
        # shingles that run into the next record, so they get the empty value, which a minimum ignores.
        ends = np.cumsum(lens)
        rec = np.repeat(np.arange(len(chunk), dtype=np.int64), lens)[:m]
        values = h & np.uint64(0xFFFFFFFF)
        values[np.arange(m, dtype=np.int64) > (ends - ngram)[rec]] = empty
        if k & (k - 1) == 0:  # a power of two: the top bits are the bin
            bits = k.bit_length() - 1
            index = (rec << bits) | (h >> np.uint64(64 - bits)).astype(np.int64)
        else:
            index = rec * k + (((h >> np.uint64(32)) * np.uint64(k)) >> np.uint64(32)).astype(np.int64)
        sig = np.full(len(chunk) * k, empty, dtype=np.uint64)
        np.minimum.at(sig, index, values)
        out[lo:hi] = sig.reshape(len(chunk), k)
        if progress is not None:
            progress(hi - lo)
    # Optimal densification: an empty bin j takes the value of bin c_t(j) for the first t where that bin
    # was filled by a shingle. The probe sequence is the same for every text.
    was_empty = out == empty
    rows, cols = np.nonzero(was_empty)
    attempt = 0
    while rows.size:
        attempt += 1
        probe = cols.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(attempt)
        cand = (_fmix64(np, probe) % np.uint64(k)).astype(np.int64)
        hit = ~was_empty[rows, cand]
        out[rows[hit], cols[hit]] = out[rows[hit], cand[hit]]
        rows, cols = rows[~hit], cols[~hit]
    signatures: npt.NDArray[np.uint64] = out
    return signatures


@functools.lru_cache(maxsize=64)
def _band_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """Bands and rows per band for ``threshold``, as datasketch's ``MinHashLSH`` optimises them."""
    _, minhash_lsh = _import_near()
    lsh = minhash_lsh(threshold=threshold, num_perm=num_perm, weights=_LSH_WEIGHTS)
    return int(lsh.b), int(lsh.r)


def _band_candidates(np: Any, sigs: npt.NDArray[np.uint64], bands: int, rows: int) -> npt.NDArray[np.int64]:
    """Pair codes ``i * n + j`` (``i < j``) of rows whose signatures agree on at least one whole band."""
    n = len(sigs)
    codes = []
    for band in range(bands):
        key = np.zeros(n, dtype=np.uint64)
        for col in range(band * rows, (band + 1) * rows):
            key *= np.uint64(0x100000001B3)
            key += sigs[:, col]
        _fmix64(np, key)
        order = np.argsort(key, kind="stable")
        ordered = key[order]
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        sizes = np.diff(np.append(starts, n))
        pairs_of_two = starts[sizes == 2]
        a, b = order[pairs_of_two], order[pairs_of_two + 1]
        codes.append(np.minimum(a, b) * n + np.maximum(a, b))
        for start, size in zip(starts[sizes > 2].tolist(), sizes[sizes > 2].tolist(), strict=True):
            members = np.sort(order[start : start + size])
            if size <= 2 * _BUCKET_WINDOW:
                i, j = np.triu_indices(size, k=1)
                codes.append(members[i] * n + members[j])
                continue
            # A huge bucket (thousands of near-identical records) would give millions of pairs. Pair each
            # member with the bucket's first records, which are the ones likely to be kept, and with the
            # records just before it; that bounds the pairs at 2 * _BUCKET_WINDOW per member.
            for d in range(1, _BUCKET_WINDOW + 1):
                codes.append(members[:-d] * n + members[d:])
            for h in range(_BUCKET_WINDOW):
                codes.append(members[h] * n + members[h + _BUCKET_WINDOW + 1 :])
    unique: npt.NDArray[np.int64] = np.unique(np.concatenate(codes)) if codes else np.empty(0, dtype=np.int64)
    return unique


def _similar_pairs(
    texts: Sequence[str], *, threshold: float, num_perm: int, ngram: int, what: str
) -> list[tuple[int, int, float]]:
    """``(i, j, estimated Jaccard)`` for every pair ``i < j`` of texts at or above ``threshold``."""
    from finetune_sdk._progress import progress_bar

    np, _ = _import_near()
    live = [i for i, t in enumerate(texts) if t]
    if len(live) < 2:
        return []
    # Candidates are verified on the full signature below, so a false positive only costs a comparison
    # while a false negative is a missed duplicate: the bands are weighted towards recall (about 93% of
    # pairs right at the threshold become candidates, over 99% at threshold + 0.05).
    bands, rows = _band_params(threshold, num_perm)
    with progress_bar(total=len(live), desc=what, unit="rec") as bar:
        sigs = _signatures(np, [texts[i] for i in live], num_perm=num_perm, ngram=ngram, progress=bar.update)
    codes = _band_candidates(np, sigs, bands, rows)
    found: list[tuple[int, int, float]] = []
    n = len(live)
    for lo in range(0, len(codes), _VERIFY_CHUNK):
        chunk = codes[lo : lo + _VERIFY_CHUNK]
        a, b = chunk // n, chunk % n
        sim = (sigs[a] == sigs[b]).mean(axis=1)
        keep = sim >= threshold - 1e-12
        found.extend(
            (live[i], live[j], s)
            for i, j, s in zip(a[keep].tolist(), b[keep].tolist(), sim[keep].tolist(), strict=True)
        )
    logger.debug("near duplicates: %d bands of %d rows, %d candidate pairs, %d verified",
                 bands, rows, len(codes), len(found))
    return found


# --- public functions ---------------------------------------------------------------------------------


def dedupe_records(
    records: Sequence[Record],
    *,
    near: bool = False,
    threshold: float = 0.85,
    num_perm: int = 128,
    ngram: int = 5,
    number_aware: bool = True,
) -> tuple[list[Record], DedupeReport]:
    """Drop exact (and optionally near) duplicates, keeping the first record of each cluster.

    Args:
        records: the records, in order.
        near: also drop near duplicates (needs ``pip install 'finetune-sdk[dedupe]'``).
        threshold: the estimated Jaccard similarity of character shingles at or above which two records
            are near duplicates.
        num_perm: MinHash signature length; more is more precise and slower.
        ngram: characters per shingle.
        number_aware: records whose numbers differ are never near duplicates (default).

    Returns:
        The kept records in their original order, and a :class:`DedupeReport` whose clusters list the
        indexes of each kept record and of the records dropped for it.

    Raises:
        ConfigurationError: ``threshold``, ``num_perm`` or ``ngram`` is out of range (checked only when
            ``near`` is true).
        ModuleNotFoundError: ``near=True`` but datasketch is not installed; the message has the pip line.

    Examples:
        >>> from finetune_sdk.data.records import TextRecord
        >>> records = [TextRecord(text="a b"), TextRecord(text="A  B"), TextRecord(text="c")]
        >>> kept, report = dedupe_records(records)
        >>> [r.text for r in kept], report.exact_duplicates, report.removed_indexes
        (['a b', 'c'], 1, (1,))
    """
    if near:
        _check_near_settings(threshold, num_perm, ngram)
    n = len(records)
    first_of: dict[bytes, int] = {}
    owner = list(range(n))  # the kept record each record was dropped for (itself when kept)
    similarity = [1.0] * n
    exact_dups = 0
    identities = [_identity(record) for record in records]
    keys = [key for key, _ in identities]
    for i, key in enumerate(keys):
        j = first_of.setdefault(key, i)
        if j != i:
            owner[i] = j
            exact_dups += 1
    near_dups = 0
    if near:
        reps = [i for i in range(n) if owner[i] == i]
        texts = [identities[i][1] for i in reps]
        pairs = _similar_pairs(
            texts, threshold=threshold, num_perm=num_perm, ngram=ngram, what="near-duplicate search"
        )
        pairs = _refine(
            pairs, [records[i] for i in reps], texts, threshold=threshold, ngram=ngram, number_aware=number_aware
        )
        earlier: dict[int, list[tuple[int, float]]] = {}
        for a, b, s in pairs:
            earlier.setdefault(reps[b], []).append((reps[a], s))
        for i in reps:  # ascending, so every earlier record is settled before i
            matches = [(s, -j) for j, s in earlier.get(i, ()) if owner[j] == j]
            if matches:
                s, neg_j = max(matches)
                owner[i] = -neg_j
                similarity[i] = s
                near_dups += 1
        for i in range(n):  # exact copies of a record dropped as a near duplicate follow it
            if owner[i] != i and owner[owner[i]] != owner[i]:
                similarity[i] = similarity[owner[i]]
                owner[i] = owner[owner[i]]
    members: dict[int, list[int]] = {}
    for i in range(n):
        if owner[i] != i:
            members.setdefault(owner[i], []).append(i)
    clusters = tuple(
        DuplicateCluster(
            kept=k,
            indexes=(k, *dropped),
            kind="exact" if all(keys[i] == keys[k] for i in dropped) else "near",
            min_similarity=min(similarity[i] for i in dropped),
            sample=_record_sample(records[k]),
        )
        for k, dropped in sorted(members.items())
    )
    kept = [r for i, r in enumerate(records) if owner[i] == i]
    report = DedupeReport(
        input_records=n,
        output_records=len(kept),
        exact_duplicates=exact_dups,
        near_duplicates=near_dups,
        near=near,
        threshold=threshold if near else None,
        num_perm=num_perm if near else None,
        ngram=ngram if near else None,
        clusters=clusters,
    )
    return kept, report


def check_leakage(
    splits: Mapping[str, Sequence[Record]],
    *,
    near: bool = False,
    threshold: float = 0.85,
    number_aware: bool = True,
    contexts: bool = True,
) -> LeakageReport:
    """Find records that appear in more than one split (exactly, or nearly with ``near=True``).

    Duplicates inside one split are not leakage and are ignored here (see :func:`dedupe_records`).

    Args:
        splits: split name → records, e.g. ``{"train": ..., "validation": ..., "test": ...}``.
        near: also report near duplicates (needs ``pip install 'finetune-sdk[dedupe]'``).
        threshold: the estimated Jaccard similarity at or above which records count as near duplicates.
        number_aware: records whose numbers differ are never near duplicates (default).
        contexts: also report records of different splits built on one shared context (a table, a
            document; see :mod:`finetune_sdk.data.contexts`), in ``SplitOverlap.shared_contexts``.

    Returns:
        A :class:`LeakageReport`; ``report.ok`` is true when no pair of splits shares a record or a context.

    Raises:
        ConfigurationError: fewer than two splits, or ``threshold`` out of (0, 1].
        ModuleNotFoundError: ``near=True`` but datasketch is not installed; the message has the pip line.

    Examples:
        >>> from finetune_sdk.data.records import TextRecord
        >>> report = check_leakage({"train": [TextRecord(text="x"), TextRecord(text="y")],
        ...                         "test": [TextRecord(text="Y")]})
        >>> report.ok, report.overlaps[0].pairs
        (False, ((1, 0),))
    """
    names = list(splits)
    if len(names) < 2:
        raise ConfigurationError(
            f"splits must hold at least two named splits to compare, got {names!r}; "
            "pass e.g. {'train': train_records, 'test': test_records}."
        )
    if near:
        _check_near_settings(threshold, 128, 5)
    flat: list[tuple[int, int]] = [(s, i) for s, name in enumerate(names) for i in range(len(splits[name]))]
    identities = [_identity(splits[names[s]][i]) for s, i in flat]
    keys = [key for key, _ in identities]
    by_key: dict[bytes, list[int]] = {}
    for g, key in enumerate(keys):
        by_key.setdefault(key, []).append(g)

    # (split a, split b) -> up to MAX_PAIRS_PER_OVERLAP index pairs, exact and near kept apart
    exact_listed: dict[tuple[int, int], list[tuple[int, int]]] = {}
    near_listed: dict[tuple[int, int], list[tuple[int, int]]] = {}
    exact_count: dict[tuple[int, int], int] = {}
    near_count: dict[tuple[int, int], int] = {}
    first_hit: dict[tuple[int, int], set[int]] = {}
    second_hit: dict[tuple[int, int], set[int]] = {}

    def per_split(group: list[int]) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for g in group:
            s, i = flat[g]
            out.setdefault(s, []).append(i)
        return out

    def record(
        left: dict[int, list[int]],
        right: dict[int, list[int]],
        counts: dict[tuple[int, int], int],
        store: dict[tuple[int, int], list[tuple[int, int]]],
    ) -> None:
        # every record of split sa in `left` matches every record of another split sb in `right`
        combos = (
            itertools.combinations(sorted(left), 2) if left is right else itertools.product(left, right)
        )
        for sa, sb in combos:
            if sa == sb:
                continue
            a_idx, b_idx = left[sa], right[sb]
            if sa > sb:
                sa, sb, a_idx, b_idx = sb, sa, b_idx, a_idx
            pair = (sa, sb)
            counts[pair] = counts.get(pair, 0) + len(a_idx) * len(b_idx)
            first_hit.setdefault(pair, set()).update(a_idx)
            second_hit.setdefault(pair, set()).update(b_idx)
            bucket = store.setdefault(pair, [])
            room = MAX_PAIRS_PER_OVERLAP - len(bucket)
            if room > 0:
                bucket.extend(itertools.islice(itertools.product(a_idx, b_idx), room))

    groups = list(by_key.values())
    split_groups = [per_split(group) for group in groups]
    for parts in split_groups:
        if len(parts) > 1:
            record(parts, parts, exact_count, exact_listed)
    all_records = [splits[names[s]][i] for s, i in flat]
    context_sets = shared_contexts(all_records)
    if near:
        # One representative per exact key; a pair of representatives stands for all their copies.
        texts = [identities[group[0]][1] for group in groups]
        found = _similar_pairs(texts, threshold=threshold, num_perm=128, ngram=5, what="leakage search")
        found = _refine(
            found,
            [all_records[group[0]] for group in groups],
            texts,
            threshold=threshold,
            ngram=5,
            number_aware=number_aware,
            contexts=[context_sets[group[0]] for group in groups],
        )
        for a, b, _s in found:
            record(split_groups[a], split_groups[b], near_count, near_listed)
    context_count: dict[tuple[int, int], int] = {}
    if contexts:
        holders: dict[str, dict[int, list[int]]] = {}
        for g, ctx_keys in enumerate(context_sets):
            s, i = flat[g]
            for block in ctx_keys:
                holders.setdefault(block, {}).setdefault(s, []).append(i)
        for by_split in holders.values():
            for sa, sb in itertools.combinations(sorted(by_split), 2):
                pair = (sa, sb)
                context_count[pair] = context_count.get(pair, 0) + 1
                first_hit.setdefault(pair, set()).update(by_split[sa])
                second_hit.setdefault(pair, set()).update(by_split[sb])

    overlaps = []
    for sa, sb in itertools.combinations(range(len(names)), 2):
        pair = (sa, sb)
        n_exact, n_near = exact_count.get(pair, 0), near_count.get(pair, 0)
        n_context = context_count.get(pair, 0)
        if not n_exact and not n_near and not n_context:
            continue
        pairs = sorted(exact_listed.get(pair, [])) + sorted(near_listed.get(pair, []))
        pairs = pairs[:MAX_PAIRS_PER_OVERLAP]
        sample_index = pairs[0][0] if pairs else min(first_hit[pair])
        overlaps.append(
            SplitOverlap(
                first=names[sa],
                second=names[sb],
                exact_pairs=n_exact,
                near_pairs=n_near,
                first_indexes=tuple(sorted(first_hit[pair])),
                second_indexes=tuple(sorted(second_hit[pair])),
                pairs=tuple(pairs),
                pairs_truncated=n_exact + n_near > len(pairs),
                shared_contexts=n_context,
                sample=_record_sample(splits[names[sa]][sample_index]),
            )
        )
    return LeakageReport(
        split_sizes={name: len(splits[name]) for name in names},
        near=near,
        threshold=threshold if near else None,
        overlaps=tuple(overlaps),
    )
