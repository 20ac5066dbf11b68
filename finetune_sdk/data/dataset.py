"""``Dataset``: training data in canonical form, with where it came from and what was done to it.

A Dataset holds :mod:`canonical records <finetune_sdk.data.records>` (conversations, or text for
continued pre-training). It is built from JSONL (local or ``s3://``; read lazily, so ``validate()``
streams files larger than memory), in-memory records or dicts, pandas, Hugging Face ``datasets``, CSV, or
the two public datasets the project ships converters for (AQuA-RAT, TAT-QA). It validates against a
model's limits, converts between wire formats with a report of what was lost, and writes JSONL.

Steps that return a new Dataset (``convert``, ``clean``, ``dedupe``, ``map``, ``filter``, ``head``) keep
their report as ``.last_report`` and append it to ``.history``.

Examples:
    >>> from finetune_sdk.data import Dataset
    >>> ds = Dataset.from_records([
    ...     {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]},
    ...     {"messages": [{"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "6"}]},
    ... ])
    >>> len(ds), ds.format, ds[0].reference
    (2, 'bedrock_messages', '4')
    >>> report = ds.validate(for_model="anthropic.claude-3-haiku-20240307-v1:0:200k")
    >>> report.ok, report.counts_by_rule()
    (False, {'records.min_train': 1})
    >>> ds.convert("prompt_completion").records[1].prompt_text
    '3+3?'
"""

from __future__ import annotations

import contextlib
import gc
import html
import json
import logging
import os
import tempfile
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from finetune_sdk.data import formats as _formats
from finetune_sdk.data._collector import quiet_producer
from finetune_sdk.data._dataset_io import DEFAULT_CSV_COLUMNS, _DatasetConstructors
from finetune_sdk.data.contexts import CONTEXT_GROUP
from finetune_sdk.data.distillation import Purpose
from finetune_sdk.data.formats import Converter, detect_format
from finetune_sdk.data.io import (
    FileBytes,
    check_name_part,
    is_s3_uri,
    iter_jsonl,
    open_regular_file,
    write_atomic,
    write_jsonl,
)
from finetune_sdk.data.records import Conversation, Record, TextRecord
from finetune_sdk.data.report import ConversionReport, IssueSink, StepReport, ValidationReport
from finetune_sdk.data.validate import (
    combine_reports,
    resolve_model,
    validate_jsonl,
    validate_objects,
    validate_records,
)
from finetune_sdk.errors import ConfigurationError, DataError, DatasetValidationError

if TYPE_CHECKING:
    from finetune_sdk.catalog import BaseModelInfo
    from finetune_sdk.data.dedupe import LeakageReport
    from finetune_sdk.data.stats import DatasetStats
    from finetune_sdk.data.tokens import TokenCounter

__all__ = ["DEFAULT_CSV_COLUMNS", "Dataset", "DatasetSplits", "OnError"]

logger = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]


class Dataset(_DatasetConstructors):
    """Records in canonical form plus their source, wire format and processing history.

    Build one with the ``from_*`` constructors (or ``Dataset(records)``). Files are read lazily: only
    ``validate()``, ``to_jsonl()`` and iteration stream them; ``len()``, indexing, ``.records`` and the
    steps read the whole file into memory once.

    Attributes:
        source: where the records came from (a path, an ``s3://`` URI, ``"aqua:..."``...), or ``None``.
        history: the reports of the steps that produced this Dataset, oldest first.
    """

    def __init__(
        self,
        records: Iterable[Record] = (),
        *,
        format: str | None = None,
        source: str | None = None,
        history: tuple[Any, ...] = (),
    ) -> None:
        if format is not None:
            _formats.get(format)
        recs = list(records)
        for i, r in enumerate(recs):
            if not isinstance(r, (Conversation, TextRecord)):
                raise DataError(
                    f"record {i} is a {type(r).__name__}; Dataset(records) takes Conversation or TextRecord "
                    "values (use Dataset.from_records for dicts)"
                )
        self._records: list[Record] | None = recs
        self._raw: list[Any] | None = None
        self._lines: list[int] | None = None
        self._path: str | None = None
        self._bytes: bytes | None = None  # the file's bytes, once _read_once() has read them
        self._session: Any = None
        self._endpoint_url: str | None = None
        self._on_error: OnError = "raise"
        self._format = format
        self._detected: str | None = None
        self.source = source
        self.history: tuple[Any, ...] = tuple(history)

    # -- constructors ---------------------------------------------------------------------------------------

    @classmethod
    def _lazy(
        cls,
        path: str,
        *,
        format: str | None,
        on_error: OnError,
        session: Any = None,
        endpoint_url: str | None = None,
    ) -> Dataset:
        ds = cls(format=format, source=path)
        ds._records = None
        ds._path = path
        ds._session = session
        ds._endpoint_url = endpoint_url
        ds._on_error = on_error
        return ds

    @classmethod
    def _from_raw(
        cls,
        rows: list[Any],
        *,
        format: str | None,
        source: str | None,
        lines: list[int] | None = None,
        history: tuple[Any, ...] = (),
    ) -> Dataset:
        ds = cls(format=format, source=source, history=history)
        ds._records = None
        ds._raw = rows
        ds._lines = lines
        return ds

    # -- reading --------------------------------------------------------------------------------------------

    @property
    def is_lazy(self) -> bool:
        """Whether the records are still only in the file (nothing has materialised them)."""
        return self._records is None and self._raw is None

    @property
    def format(self) -> str | None:
        """The wire format: the one given, else the one detected (most common; for an unread file, that of
        its first record), else ``None`` for canonical records. ``validate()`` counts formats over every
        line and reports mixing."""
        if self._format is not None:
            return self._format
        if self._detected is None:
            if self._raw is not None:
                counts: dict[str, int] = {}
                for row in self._raw:
                    f = detect_format(row) if isinstance(row, Mapping) else None
                    if f is not None:
                        counts[f] = counts.get(f, 0) + 1
                self._detected = max(counts, key=lambda f: counts[f]) if counts else None
            elif self._path is not None and self._records is None:
                for jl in iter_jsonl(self._source(), session=self._session, endpoint_url=self._endpoint_url):
                    if jl.value is not None and (f := detect_format(jl.value)) is not None:
                        self._detected = f
                        break
        return self._detected

    @property
    def records(self) -> list[Record]:
        """Every record, in canonical form (reads the whole file once).

        Raises:
            DatasetValidationError: lines that cannot be read as records (unless ``on_error="skip"``);
                ``exc.report`` lists them.
        """
        if self._records is None:
            self._records = self._materialize()
        return self._records

    @property
    def last_report(self) -> Any:
        """The report of the step that made this Dataset (``None`` for a freshly loaded one)."""
        return self.history[-1] if self.history else None

    def _parse_rows(self, rows: Iterable[tuple[int, Any, Sequence[Any]]]) -> Iterator[Record]:
        """Records from ``(line, obj or None, reading issues)``; unreadable rows are collected and raised
        at the end (or skipped with ``on_error="skip"``)."""
        sink = IssueSink(source=self.source)
        counts: dict[str, int] = {}
        total = 0
        for number, obj, issues in rows:
            total += 1
            for i in issues:
                if i.severity == "error":
                    sink.add(number, i.path, i.rule, i.message, i.hint)
            if obj is None:
                continue
            if not isinstance(obj, Mapping):
                sink.add(
                    number,
                    "",
                    "json.not_object",
                    f"the record is a {type(obj).__name__}, not an object",
                    "each record must be a JSON object",
                )
                continue
            fmt = self._format or detect_format(obj)
            if fmt is None:
                sink.add(
                    number,
                    "",
                    "format.unknown",
                    f"the record matches no known format (keys: {', '.join(map(repr, list(obj)[:6]))})",
                    f"use one of: {', '.join(_formats.FORMATS)}",
                )
                continue
            record, problems = _formats.get(fmt).parse(obj, number)
            if record is None:
                for i in problems:
                    if i.severity == "error":
                        sink.add(number, i.path, i.rule, i.message, i.hint)
                continue
            counts[fmt] = counts.get(fmt, 0) + 1
            yield record
        if counts and self._detected is None:
            self._detected = max(counts, key=lambda f: counts[f])
        if sink.error_count:
            report = ValidationReport(
                source=self.source,
                format=self._format or self._detected,
                total_lines=total,
                issues=sink.issues(),
                rule_counts=sink.rule_counts(),
                invalid_records=sink.error_count,
            )
            if self._on_error == "raise":
                shown = [i.format_line(self.source) for i in sorted(report.issues, key=lambda i: i.line or 0)[:3]]
                raise DatasetValidationError(
                    f"{sink.error_count} line(s) of {self.source or 'the records'} cannot be read as records "
                    f"(first: {'; '.join(shown)}). Fix them, or load with "
                    "on_error='skip' to leave them out; validate() lists every problem.",
                    report=report,
                )
            logger.warning("skipped %d unreadable record(s) of %s", sink.error_count, self.source)
            self.history = (*self.history, report)

    def _rows(self) -> Iterator[tuple[int, Any, Sequence[Any]]]:
        if self._raw is not None:
            lines = self._lines
            for i, row in enumerate(self._raw):
                yield (lines[i] if lines is not None else i + 1), row, ()
        elif self._path is not None:
            self._refuse_array_file()
            for jl in iter_jsonl(self._source(), session=self._session, endpoint_url=self._endpoint_url):
                if jl.kind != "blank":
                    yield jl.number, jl.value, jl.issues

    def _refuse_array_file(self) -> None:
        from finetune_sdk.data.io import open_binary
        from finetune_sdk.data.validate import array_file_issue, looks_like_json_array

        assert self._path is not None
        with open_binary(self._source(), session=self._session, endpoint_url=self._endpoint_url) as fh:
            if not looks_like_json_array(fh.readline(), fh.readline()):
                return
        issue = array_file_issue(self.source)
        raise DatasetValidationError(
            f"{self.source}:1: {issue.message} ({issue.hint})",
            report=ValidationReport.from_issues([issue], source=self.source, total_lines=1, invalid_records=1),
        )

    def _source(self) -> str | FileBytes:
        assert self._path is not None
        return self._path if self._bytes is None else FileBytes(self._bytes, self._path)

    def _read_once(self) -> Dataset:
        """This Dataset, or for an unread local file a copy holding the file's bytes, read in one open: its
        format detection, validation (physical line numbers, file size) and records all come from those bytes,
        so a job reads its data file once (issue 12). The caller's Dataset stays lazy."""
        if self._path is None or self._records is not None or self._bytes is not None or is_s3_uri(self._path):
            return self
        ds = Dataset._lazy(self._path, format=self._format, on_error=self._on_error)
        ds.source, ds.history = self.source, self.history
        with open_regular_file(self._path) as fh:
            ds._bytes = fh.read()
        return ds

    def _materialize(self) -> list[Record]:
        with _gc_paused():
            return list(self._parse_rows(self._rows()))

    def __iter__(self) -> Iterator[Record]:
        """Yield canonical records; an unread file is streamed, not kept in memory. Records built from
        in-memory rows (``from_records`` of dicts, ``from_pandas``, ``convert``...) are parsed once and kept, so
        iterating again costs a list walk, not a parse."""
        if self._records is not None:
            return iter(self._records)
        if self._raw is not None:
            return iter(self.records)
        return self._stream()

    def _stream(self) -> Iterator[Record]:
        # Runs from the first next(), after list(ds) has asked len(ds) (which reads the file): reuse that.
        if self._records is not None:
            yield from self._records
            return
        yield from quiet_producer(self._parse_rows(self._rows()))  # cycle-free records: see _collector

    def __len__(self) -> int:
        return len(self.records)

    @overload
    def __getitem__(self, index: int) -> Record: ...

    @overload
    def __getitem__(self, index: slice) -> Dataset: ...

    def __getitem__(self, index: int | slice) -> Record | Dataset:
        if isinstance(index, slice):
            return Dataset(
                self.records[index],
                format=self._format or self.format,
                source=self.source,
                history=self.history,
            )
        return self.records[index]

    def head(self, n: int = 5) -> Dataset:
        """The first ``n`` records as a new Dataset (an unread file is read only that far)."""
        out: list[Record] = []
        if n > 0:
            for r in self:
                out.append(r)
                if len(out) >= n:
                    break
        return self._derive(out, StepReport(step=f"head({n})", records_out=len(out)))

    def _derive(self, records: list[Record], report: Any, *, format: str | None = None) -> Dataset:
        return Dataset(
            records,
            format=format or self._format or self._detected,
            source=self.source,
            history=(*self.history, report),
        )

    def map(self, fn: Callable[[Record], Record]) -> Dataset:
        """A new Dataset of ``fn(record)`` for each record.

        Raises:
            DataError: ``fn`` returned something other than a Conversation or TextRecord.
        """
        out: list[Record] = []
        for i, r in enumerate(self.records):
            new = fn(r)
            if not isinstance(new, (Conversation, TextRecord)):
                raise DataError(
                    f"map function returned {type(new).__name__} for record {i}; return a record "
                    "(e.g. record.with_metadata(...) or record.model_copy(update=...))"
                )
            out.append(new)
        return self._derive(out, StepReport(step="map", records_in=len(self.records), records_out=len(out)))

    def filter(self, fn: Callable[[Record], bool]) -> Dataset:
        """A new Dataset of the records for which ``fn(record)`` is true."""
        recs = self.records
        out = [r for r in recs if fn(r)]
        return self._derive(
            out,
            StepReport(
                step="filter",
                records_in=len(recs),
                records_out=len(out),
                detail=f"{len(recs) - len(out)} removed",
            ),
        )

    # -- validation and conversion --------------------------------------------------------------------------

    def validate(
        self,
        for_model: str | BaseModelInfo | None = None,
        *,
        format: str | None = None,
        validation: Dataset | str | os.PathLike[str] | None = None,
        token_counter: TokenCounter | None = None,
        purpose: Purpose | Literal["reinforcement"] = "fine_tuning",
    ) -> ValidationReport:
        """Check every record against its wire format and, with ``for_model``, the model's catalog limits
        (record counts, tokens, reserved strings, media, file size). An unread file is streamed.

        With ``purpose="distillation"`` the records are checked as Bedrock distillation prompts instead
        (``bedrock_conversation``, ``schemaVersion`` required, at most a user message and its answer, one
        text block per message, one system block, no extra keys, 100 to 15,000 prompts; see
        :mod:`finetune_sdk.data.distillation`).

        With ``purpose="reinforcement"`` the lines are checked as Bedrock reinforcement fine-tuning prompts
        instead (OpenAI chat + ``reference_answer``, single turn, text only, 100 to 20,000 prompts; see
        :mod:`finetune_sdk.data._rft_rules`).

        Args:
            for_model: a catalog model id (or unique fragment); ``None`` checks the format only.
            format: the wire format the records must be in (default: the Dataset's, else the model's).
            validation: the validation set (a Dataset or a JSONL path), checked against the validation
                limits and, with this one, against the model's training + validation total.
            token_counter: anything with ``count(text) -> int``; default: the model's characters-per-token
                estimate.
            purpose: ``"fine_tuning"`` (default), ``"distillation"`` or ``"reinforcement"``.

        Returns:
            The :class:`ValidationReport`; it does not raise on bad data (call ``.raise_for_errors()``).

        Raises:
            CatalogError: ``for_model`` is not in the catalog.
            ConfigurationError: ``format`` or ``purpose`` is unknown, or a validation set was given for
                distillation (Bedrock distillation takes none).
            DataError: a file cannot be opened.
        """
        model = resolve_model(for_model)
        if purpose == "reinforcement":  # issue 17: the RFT rule set lives in its own module
            from finetune_sdk.data._rft_rules import validate_dataset

            model_id = model.id if model is not None else None
            rft = validate_dataset(self, model=model_id)
            if validation is None:
                return rft
            val = validation if isinstance(validation, Dataset) else Dataset.from_jsonl(validation)
            return rft.model_copy(update={"validation": validate_dataset(val, model=model_id, role="validation")})
        if purpose == "distillation" and validation is not None:
            raise ConfigurationError(
                "Bedrock distillation takes no validation set; drop validation= (or validate it separately)"
            )
        report = self._validate(
            model, format=format, token_counter=token_counter, role="train", purpose=purpose
        )
        if validation is None:
            return report
        val = validation if isinstance(validation, Dataset) else Dataset.from_jsonl(validation)
        val_report = val._validate(
            model, format=format or self._format, token_counter=token_counter, role="validation"
        )
        return combine_reports(report, val_report, model=model)

    def _validate(
        self,
        model: BaseModelInfo | None,
        *,
        format: str | None,
        token_counter: TokenCounter | None,
        role: Literal["train", "validation"],
        purpose: Purpose = "fine_tuning",
    ) -> ValidationReport:
        fmt = format or self._format
        if purpose == "distillation" and fmt != "bedrock_conversation":
            fmt = format  # a Dataset's own format is checked against the prompt format, not forced on it
        # Validate what the data came from (the file, the dicts), so issue lines stay physical lines.
        if self._path is not None:
            return validate_jsonl(
                self._source(),
                model=model,
                format=fmt,
                token_counter=token_counter,
                role=role,
                session=self._session,
                endpoint_url=self._endpoint_url,
                purpose=purpose,
            )
        if self._raw is not None:
            return validate_objects(
                self._raw,
                model=model,
                format=fmt,
                token_counter=token_counter,
                role=role,
                source=self.source,
                lines=self._lines,
                purpose=purpose,
            )
        return validate_records(
            self.records,
            model=model,
            format=fmt,
            token_counter=token_counter,
            role=role,
            source=self.source,
            purpose=purpose,
        )

    def convert(self, format: str) -> Dataset:
        """The records rendered in wire format ``format``, as a new Dataset whose ``last_report`` is the
        :class:`ConversionReport` (what was lost, by kind, e.g. multi-turn flattened, media dropped).
        Records that cannot be written in the format (text records in a conversational format) are left
        out and counted in ``dropped``.

        Raises:
            ConfigurationError: ``format`` is unknown.
            DatasetValidationError: lines of the source cannot be read as records.

        Examples:
            >>> from finetune_sdk.data.records import Conversation
            >>> ds = Dataset([Conversation.from_pairs("q", "a", system="Be brief.")])
            >>> out = ds.convert("bedrock_messages")
            >>> out.format, out.last_report.lossless
            ('bedrock_messages', True)
        """
        conv = Converter(format, source_format=self.format)
        with _gc_paused():
            rows = [d for d in (conv.render(r) for r in self) if d is not None]
        return Dataset._from_raw(
            rows, format=format, source=self.source, history=(*self.history, conv.report())
        )

    def to_jsonl(
        self, path: str | os.PathLike[str], *, format: str | None = None, overwrite: bool = True
    ) -> ConversionReport:
        """Write the records as JSONL in ``format`` (default: the Dataset's format), atomically, streaming
        an unread file. For ``jumpstart_instruction`` a ``template.json`` is written beside the file.

        Every file is written to a temporary file and renamed into place (never through a symlink planted at
        the path or at ``template.json``), with the usual ``0o666 & ~umask`` mode. ``overwrite=False`` refuses
        to replace an existing file (the ``finetune data`` commands refuse unless ``--force``); the default
        keeps this method's earlier behaviour of replacing it.

        Returns:
            The :class:`ConversionReport` of what the format could not hold.

        Raises:
            DataError: no format was given and none is known, the file cannot be written, or it exists and
                ``overwrite`` is false.
            DatasetValidationError: lines of the source cannot be read as records.
        """
        target = format or self.format
        if target is None:
            raise DataError(
                f"these records have no wire format yet; pass format= (one of: {', '.join(_formats.FORMATS)})"
            )
        conv = Converter(target, source_format=self.format)
        out = os.fspath(path)
        if self._raw is not None and self._records is None and self._format == target:
            rows: Iterable[Any] = self._raw  # already in the target format: write exactly what was validated
            conv.records_in = conv.records_out = len(self._raw)
        else:
            rows = (d for d in (conv.render(r) for r in self) if d is not None)
        sidecar = Path(out).parent / "template.json"
        if target == "jumpstart_instruction" and not overwrite and (sidecar.exists() or sidecar.is_symlink()):
            raise DataError(f"{str(sidecar)!r} already exists; pass overwrite=True (CLI: --force) to replace it")
        write_jsonl(out, rows, overwrite=overwrite)
        if target == "jumpstart_instruction":
            from finetune_sdk.data.formats.jumpstart_instruction import TEMPLATE

            # atomic rename: a symlink planted at template.json is replaced, never written through
            write_atomic(sidecar, [(json.dumps(TEMPLATE, indent=2) + "\n").encode("utf-8")])
        return conv.report(path=out)

    # -- steps delegated to clean / dedupe / split / stats / upload ----------------------------------------

    def clean(
        self,
        *,
        normalize_unicode: bool = True,
        normalize_whitespace: bool = True,
        strip_control: bool = True,
        drop_empty: bool = True,
        redact_pii: bool | Collection[str] = False,
    ) -> Dataset:
        """A cleaned copy (see :func:`finetune_sdk.data.clean.clean_records`); ``last_report`` is the
        ``CleanReport``."""
        from finetune_sdk.data.clean import clean_records

        records, report = clean_records(
            self.records,
            normalize_unicode=normalize_unicode,
            normalize_whitespace=normalize_whitespace,
            strip_control=strip_control,
            drop_empty=drop_empty,
            redact_pii=redact_pii,
        )
        return self._derive(list(records), report)

    def dedupe(self, *, near: bool = False, threshold: float = 0.85, number_aware: bool = True) -> Dataset:
        """A copy without duplicates (exact, or near-duplicates by MinHash with ``near=True``; records whose
        numbers differ, or that only share a context such as a table, are not near duplicates); see
        :func:`finetune_sdk.data.dedupe.dedupe_records`. ``last_report`` is the ``DedupeReport``."""
        from finetune_sdk.data.dedupe import dedupe_records

        records, report = dedupe_records(self.records, near=near, threshold=threshold, number_aware=number_aware)
        return self._derive(list(records), report)

    def split(
        self,
        ratios: Mapping[str, float] | None = None,
        *,
        counts: Mapping[str, int] | None = None,
        seed: int = 0,
        stratify_by: Callable[[Record], Hashable] | str | None = None,
        group_by: Callable[[Record], Hashable] | str | None = None,
    ) -> DatasetSplits:
        """Split into named parts (see :func:`finetune_sdk.data.split.split_records`). ``stratify_by`` and
        ``group_by`` take a function of the record or a ``metadata`` key that every record has;
        ``group_by="@context"`` keeps records that share a context (a TAT-QA table, a document; see
        :mod:`finetune_sdk.data.contexts`) in one split, so no test question's table is in training.

        Raises:
            ConfigurationError: a record lacks the ``stratify_by``/``group_by`` metadata key, or the ratios or
                counts are invalid.

        Returns:
            :class:`DatasetSplits`, a mapping of name to Dataset with ``.train``/``.validation``/``.test``.

        Raises:
            ConfigurationError: a split name is not a plain file-name part (``../x``, a newline...), or the
                ratios/counts are invalid.
        """
        from finetune_sdk.data.split import split_records

        for name in (*(ratios or {}), *(counts or {})):
            check_name_part(name)  # split names become file names (<stem>.<split>.jsonl): no '../', no newlines
        parts = split_records(
            self.records,
            ratios=ratios,
            counts=counts,
            seed=seed,
            stratify_by=_key_fn(stratify_by, self.records, "stratify_by"),
            group_by=_key_fn(group_by, self.records, "group_by"),
        )
        fmt = self._format or self._detected
        return DatasetSplits(
            {
                name: Dataset(recs, format=fmt, source=self.source, history=self.history)
                for name, recs in parts.items()
            }
        )

    def stats(
        self,
        *,
        for_model: str | BaseModelInfo | None = None,
        epochs: int | None = None,
        token_counter: TokenCounter | None = None,
    ) -> DatasetStats:
        """Token and length statistics (see :func:`finetune_sdk.data.stats.compute_stats`)."""
        from finetune_sdk.data.stats import compute_stats

        return compute_stats(self, model=resolve_model(for_model), epochs=epochs, token_counter=token_counter)

    def upload(
        self, s3_uri: str, *, format: str | None = None, session: Any = None, endpoint_url: str | None = None
    ) -> str:
        """Write the records as JSONL and upload them under the ``s3_uri`` prefix (content-addressed, see
        :func:`finetune_sdk.data.upload.upload_file`).

        Returns:
            The ``s3://`` URI of the uploaded object.
        """
        from finetune_sdk.data.upload import upload_file

        with tempfile.TemporaryDirectory(prefix="finetune-upload-") as tmp:
            path = Path(tmp) / "data.jsonl"
            self.to_jsonl(path, format=format)
            return upload_file(path, s3_uri, session=session, endpoint_url=endpoint_url)

    # -- display --------------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        size = (
            "not read yet"
            if self.is_lazy
            else str(len(self.records) if self._records is not None else len(self._raw or ()))
        )
        return f"Dataset(source={self.source!r}, format={self._format or self._detected!r}, records={size})"

    def _repr_html_(self) -> str:
        rows = [("source", self.source or ""), ("format", self._format or self._detected or "canonical")]
        if self.is_lazy:
            rows.append(("records", "not read yet (validate() streams the file)"))
            preview: list[Record] = []
        else:
            rows.append(("records", str(len(self))))
            preview = self.records[:3]
        if self.history:
            rows.append(
                (
                    "last step",
                    str(
                        self.last_report.summary()
                        if hasattr(self.last_report, "summary")
                        else self.last_report
                    ),
                )
            )
        table = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in rows
        )
        items = "".join(
            f"<li><pre style='white-space:pre-wrap'>{html.escape(_preview(r))}</pre></li>" for r in preview
        )
        return f"<div><b>Dataset</b><table>{table}</table>{'<ol>' + items + '</ol>' if items else ''}</div>"


class DatasetSplits(Mapping[str, Dataset]):
    """Named parts of a split: a read-only mapping with attribute access (``splits.train``).

    Examples:
        >>> from finetune_sdk.data.records import Conversation
        >>> s = DatasetSplits({"train": Dataset([Conversation.from_pairs("q", "a")]), "test": Dataset()})
        >>> len(s.train), sorted(s)
        (1, ['test', 'train'])
    """

    def __init__(self, parts: Mapping[str, Dataset]) -> None:
        self._parts = dict(parts)

    def __getitem__(self, name: str) -> Dataset:
        return self._parts[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parts)

    def __len__(self) -> int:
        return len(self._parts)

    def __getattr__(self, name: str) -> Dataset:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._parts[name]
        except KeyError:
            raise AttributeError(f"no split named {name!r}; splits: {', '.join(self._parts)}") from None

    def leakage(self, *, near: bool = False, threshold: float = 0.85, contexts: bool = True) -> LeakageReport:
        """Records, and contexts such as TAT-QA tables, shared between splits (see
        :func:`finetune_sdk.data.dedupe.check_leakage`)."""
        from finetune_sdk.data.dedupe import check_leakage

        return check_leakage(
            {k: v.records for k, v in self._parts.items()}, near=near, threshold=threshold, contexts=contexts
        )

    def __repr__(self) -> str:
        return "DatasetSplits(" + ", ".join(f"{k}={len(v)}" for k, v in self._parts.items()) + ")"

    def _repr_html_(self) -> str:
        return (
            "<table>"
            + "".join(
                f"<tr><th>{html.escape(k)}</th><td>{len(v)} records</td></tr>" for k, v in self._parts.items()
            )
            + "</table>"
        )


# -- helpers ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many records: they hold no reference cycles,
    and the collector's repeated passes over the growing list otherwise double the time to load a file."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _key_fn(
    key: Callable[[Record], Hashable] | str | None, records: Sequence[Record], argument: str
) -> Callable[[Record], Hashable] | None:
    """A key function from a function, a metadata key (every record must have it) or, for ``group_by``,
    :data:`~finetune_sdk.data.contexts.CONTEXT_GROUP` (records sharing a context form one group).

    Raises:
        ConfigurationError: a record lacks the metadata key (the message names the first and the keys it has).
    """
    if key is None or callable(key):
        return key
    name = key
    if name == CONTEXT_GROUP and argument == "group_by":
        return _context_groups(records)
    for i, record in enumerate(records):
        if name not in record.metadata:
            have = ", ".join(sorted(record.metadata)) or "none"
            hint = (
                f"; or group_by={CONTEXT_GROUP!r} to keep records that share a table or document together"
                if argument == "group_by"
                else ""
            )
            raise ConfigurationError(
                f"{argument}={name!r}: record {i} has no metadata key {name!r} (its keys: {have}); every record "
                f"needs it to {'stratify' if argument == 'stratify_by' else 'group'} by it. Pass a function "
                f"of the record, or a key all records have{hint}"
            )

    def by_metadata(record: Record) -> Hashable:
        value = record.metadata.get(name)
        return value if isinstance(value, Hashable) else repr(value)

    return by_metadata


def _context_groups(records: Sequence[Record]) -> Callable[[Record], Hashable]:
    """Group key: records linked by shared contexts (transitively) get one key; others their own."""
    from finetune_sdk.data.contexts import shared_contexts

    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, keys in enumerate(shared_contexts(records)):
        for k in keys:
            j = owner.setdefault(k, i)
            ri, rj = find(i), find(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
    group = {id(r): find(i) for i, r in enumerate(records)}
    return lambda record: group[id(record)]


def _preview(record: Record, limit: int = 300) -> str:
    if isinstance(record, TextRecord):
        text = record.text
    else:
        lines = [f"system: {record.system}"] if record.system else []
        lines += [
            f"{t.role}: {t.text}" + (f" [+{len(t.media)} media]" if t.media else "") for t in record.turns
        ]
        text = "\n".join(lines)
    return text if len(text) <= limit else text[:limit] + "..."
