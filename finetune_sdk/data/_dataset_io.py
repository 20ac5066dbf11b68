"""The ``Dataset.from_*`` constructors (files, S3, records, pandas, Hugging Face, invocation logs, CSV and
the AQuA-RAT / TAT-QA converters), as a mixin :class:`~finetune_sdk.data.dataset.Dataset` inherits.

Private: import ``Dataset`` (and ``DEFAULT_CSV_COLUMNS``) from :mod:`finetune_sdk.data.dataset` or
:mod:`finetune_sdk.data`.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Collection, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

from finetune_sdk.data import formats as _formats
from finetune_sdk.data.io import check_regular_file, is_s3_uri, iter_jsonl, open_regular_file
from finetune_sdk.data.records import Conversation, Record, TextRecord
from finetune_sdk.data.report import IssueSink, ValidationReport
from finetune_sdk.errors import DataError, DatasetValidationError

if TYPE_CHECKING:
    from finetune_sdk.data.dataset import Dataset, OnError

#: The default ``columns`` of :meth:`Dataset.from_csv`: format field -> CSV column.
DEFAULT_CSV_COLUMNS: Mapping[str, str] = MappingProxyType({"prompt": "question", "completion": "answer"})

_AQUA_ANSWER_LINE = re.compile(
    r"(?:^|\n)[ \t]*(?:the[ \t]+)?(?:correct[ \t]+)?(?:answer|ans)[ \t]*(?:is|:|-|=)?[ \t]*(?:option[ \t]*)?"
    r"\(?[A-Ea-e]\)?[ \t]*\.?[ \t]*$",
    re.IGNORECASE,
)
_PANDAS_HINT = "Dataset.from_pandas needs pandas: pip install 'finetune-sdk[pandas]'"


def _ds(cls: type[_DatasetConstructors]) -> type[Dataset]:
    """``cls`` as the Dataset class it is (the mixin is only ever used as a base of ``Dataset``)."""
    return cast("type[Dataset]", cls)


class _DatasetConstructors:
    """The ``from_*`` classmethods of :class:`~finetune_sdk.data.dataset.Dataset`."""

    __slots__ = ()

    @classmethod
    def from_jsonl(
        cls,
        path: str | os.PathLike[str],
        *,
        format: str | None = None,
        on_error: OnError = "raise",
        session: Any = None,
        endpoint_url: str | None = None,
    ) -> Dataset:
        """A Dataset over a JSONL file (or ``s3://`` object), read lazily.

        Args:
            format: the wire format; ``None`` detects it per line.
            on_error: when records are materialised, ``"raise"`` (default) stops with every unreadable
                line in a :class:`DatasetValidationError`; ``"skip"`` leaves them out, logs a warning and
                keeps the load report in ``history``. ``validate()`` always reports them.
            session, endpoint_url: boto3 session and endpoint for ``s3://`` paths.

        Raises:
            DataError: the local file does not exist or is a directory.
            ConfigurationError: ``format`` is unknown.

        Examples:
            >>> import tempfile, pathlib
            >>> from finetune_sdk.data import Dataset
            >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.jsonl"
            >>> _ = p.write_text('{"prompt": "a", "completion": "b"}\\n\\n{"prompt": "c"}\\n')
            >>> report = Dataset.from_jsonl(p).validate()
            >>> [(i.line, i.rule) for i in report.issues]
            [(2, 'line.blank'), (3, 'schema.missing')]
        """
        if format is not None:
            _formats.get(format)
        text = os.fspath(path)
        if is_s3_uri(text):
            return _ds(cls).from_s3(text, format=format, session=session, endpoint_url=endpoint_url, on_error=on_error)
        # refused at once (InputFileError): missing, a directory, a FIFO or device, a symlink loop
        check_regular_file(text)  # stat only: the file is read when its records are
        return _ds(cls)._lazy(text, format=format, on_error=on_error)

    @classmethod
    def from_json(
        cls,
        path: str | os.PathLike[str],
        *,
        format: str | None = None,
        on_error: OnError = "raise",
    ) -> Dataset:
        """A Dataset from a ``.json`` file holding one JSON array of records (``[{...}, {...}]``), the shape
        many exports use; a JSON Lines file is read as :meth:`from_jsonl` does. Issue lines of an array are
        the records' 1-based positions in it.

        Raises:
            DataError: the file is missing, is not JSON, or is not an array of objects (the message says
                where).

        Examples:
            >>> import json, tempfile, pathlib
            >>> from finetune_sdk.data import Dataset
            >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.json"
            >>> _ = p.write_text(json.dumps([{"prompt": "2+2?", "completion": "4"}], indent=2))
            >>> ds = Dataset.from_json(p)
            >>> len(ds), ds.format, ds.validate().ok
            (1, 'prompt_completion', True)
        """
        from finetune_sdk.data.io import open_binary
        from finetune_sdk.data.validate import looks_like_json_array

        text = os.fspath(path)
        with open_binary(text) as fh:
            array = looks_like_json_array(fh.readline(), fh.readline())
        if not array:
            return _ds(cls).from_jsonl(text, format=format, on_error=on_error)
        try:
            with open(text, encoding="utf-8-sig") as fh:
                rows = json.load(fh)
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read {text!r}: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise DataError(f"{text!r} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
        if not isinstance(rows, list):
            raise DataError(f"{text!r} holds a JSON {type(rows).__name__}, not an array of records")
        ds = _ds(cls)._from_raw(rows, format=format, source=text)
        ds._on_error = on_error
        return ds

    @classmethod
    def from_s3(
        cls,
        uri: str,
        *,
        format: str | None = None,
        session: Any = None,
        endpoint_url: str | None = None,
        on_error: OnError = "raise",
    ) -> Dataset:
        """A Dataset over an ``s3://bucket/key.jsonl`` object, streamed with boto3 (imported only here).

        Media URIs in the records must then be in the same bucket (rule ``media.bucket``).

        Raises:
            DataError: ``uri`` is not an ``s3://bucket/key`` URI (reading errors surface when it is read).
        """
        from finetune_sdk.data.io import parse_s3_uri

        parse_s3_uri(uri)
        if format is not None:
            _formats.get(format)
        return _ds(cls)._lazy(uri, format=format, on_error=on_error, session=session, endpoint_url=endpoint_url)

    @classmethod
    def from_records(
        cls,
        items: Iterable[Mapping[str, Any] | Record],
        *,
        format: str | None = None,
        source: str | None = None,
    ) -> Dataset:
        """A Dataset from canonical records or wire-format dicts (kept as given; ``validate()`` checks
        them, and materialising parses them).

        Raises:
            DataError: an item is neither a record nor a dict, or (for a mix of both) a dict cannot be read.
            ConfigurationError: ``format`` is unknown.
        """
        if format is not None:
            _formats.get(format)
        rows = list(items)
        kinds = {
            ("record" if isinstance(r, (Conversation, TextRecord)) else "dict" if isinstance(r, Mapping) else "other")
            for r in rows
        }
        if "other" in kinds:
            i, bad = next((i, r) for i, r in enumerate(rows) if not isinstance(r, (Conversation, TextRecord, Mapping)))
            raise DataError(f"item {i} is a {type(bad).__name__}; pass Conversation/TextRecord values or dicts")
        if kinds == {"dict"}:
            return _ds(cls)._from_raw(rows, format=format, source=source)
        if kinds == {"record", "dict"}:
            raw = _ds(cls)._from_raw([r for r in rows if isinstance(r, Mapping)], format=format, source=source)
            parsed = iter(raw.records)
            records: list[Record] = [r if isinstance(r, (Conversation, TextRecord)) else next(parsed) for r in rows]
            return _ds(cls)(records, format=format, source=source)
        return _ds(cls)(rows, format=format, source=source)  # type: ignore[arg-type]

    @classmethod
    def from_pandas(cls, df: Any, *, format: str | None = None) -> Dataset:
        """A Dataset from a pandas DataFrame whose columns are a wire format's fields (``prompt`` and
        ``completion``, ``messages``...). Missing cells (NaN) are left out of their row.

        Raises:
            ModuleNotFoundError: pandas is not installed (``pip install 'finetune-sdk[pandas]'``).
        """
        try:
            import pandas as pd
        except ModuleNotFoundError as exc:
            raise ModuleNotFoundError(_PANDAS_HINT) from exc
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"from_pandas takes a pandas DataFrame, got {type(df).__name__}")
        rows = [
            {str(k): _plain(v) for k, v in row.items() if not _is_missing(v)} for row in df.to_dict(orient="records")
        ]
        return _ds(cls)._from_raw(rows, format=format, source="pandas.DataFrame")

    @classmethod
    def from_hf(cls, hf_dataset: Any, *, split: str | None = None, format: str | None = None) -> Dataset:
        """A Dataset from a Hugging Face ``datasets.Dataset`` (or ``DatasetDict`` with ``split=``) whose
        columns are a wire format's fields. ``datasets`` itself is not imported.

        Raises:
            DataError: a ``DatasetDict`` was passed without ``split``, or ``split`` is not in it.
        """
        data = hf_dataset
        if split is not None:
            try:
                data = hf_dataset[split]
            except KeyError as exc:
                raise DataError(f"split {split!r} is not in the dataset; splits: {', '.join(hf_dataset)}") from exc
        elif isinstance(data, Mapping):  # a DatasetDict (a dict of splits)
            raise DataError(f"pass split= to pick one of the splits: {', '.join(map(str, data))}")
        rows = [_plain(dict(row)) for row in data]
        name = getattr(hf_dataset, "builder_name", None) or type(hf_dataset).__name__
        return _ds(cls)._from_raw(rows, format=format, source=f"hf:{name}" + (f"[{split}]" if split else ""))

    @classmethod
    def from_invocation_logs(
        cls,
        s3_uri: str,
        *,
        session: Any = None,
        endpoint_url: str | None = None,
        model_id: str | Collection[str] | None = None,
        start: Any = None,
        end: Any = None,
        metadata_filter: Any = None,
        use_responses: bool = False,
    ) -> Dataset:
        """Prompts (and optionally the logged responses) from Bedrock model invocation logs in S3 or a folder.

        Reads the ``ModelInvocationLog`` records Bedrock writes for Converse and InvokeModel calls of the main
        families, keeps those matching ``model_id``, the ``start``/``end`` time range and ``metadata_filter``
        (a :class:`~finetune_sdk.backends.base.MetadataFilter`). Entries that cannot be used are counted per reason
        in the read report, available as ``.last_report``; none is silently dropped.

        Raises:
            ConfigurationError: the URI is malformed. AccessDeniedError: the logs cannot be read.
        """
        from finetune_sdk.data.logs import read_invocation_logs

        records, report = read_invocation_logs(
            s3_uri,
            session=session,
            endpoint_url=endpoint_url,
            model_id=model_id,
            start=start,
            end=end,
            metadata_filter=metadata_filter,
            use_responses=use_responses,
        )
        return _ds(cls)(records, source=s3_uri, history=(report,))

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike[str],
        *,
        columns: Mapping[str, str] = DEFAULT_CSV_COLUMNS,
        format: str | None = None,
    ) -> Dataset:
        """A Dataset from a CSV file with a header, mapping format fields to CSV columns.

        ``columns`` maps fields to column names: ``{"prompt": ..., "completion": ...}`` (prompt/completion,
        the default ``question``/``answer``), ``{"input": ...}`` (text), ``{"instruction", "context",
        "response"}`` (JumpStart), or ``{"user", "assistant"}`` plus an optional ``"system"`` (messages).
        Issue lines are the CSV's physical lines (the header is line 1).

        Raises:
            DataError: the file is missing, or a mapped column is not in the header.

        Examples:
            >>> import tempfile, pathlib
            >>> from finetune_sdk.data import Dataset
            >>> p = pathlib.Path(tempfile.mkdtemp()) / "qa.csv"
            >>> _ = p.write_text("question,answer\\nWhat is 2+2?,4\\n")
            >>> Dataset.from_csv(p).records[0].reference
            '4'
        """
        fields = set(columns)
        shapes: list[tuple[set[str], set[str]]] = [
            ({"prompt", "completion"}, set()),
            ({"input"}, set()),
            ({"instruction", "response"}, {"context"}),
            ({"user", "assistant"}, {"system"}),
        ]
        if not any(req <= fields <= req | opt for req, opt in shapes):
            raise DataError(
                f"columns maps fields {sorted(fields)}; use prompt+completion, input, instruction+response"
                "(+context) or user+assistant(+system)"
            )
        rows: list[Any] = []
        lines: list[int] = []
        try:
            fh = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise DataError(f"cannot open CSV file {os.fspath(path)!r}: {exc.strerror}") from exc
        with fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in columns.values() if c not in header]
            if missing:
                raise DataError(f"CSV columns {missing} are not in the header {header}; set columns={{field: column}}")
            prev = reader.line_num
            for row in reader:
                lines.append(prev + 1)
                prev = reader.line_num
                values = {f: row[c] or "" for f, c in columns.items()}
                if "user" in values:
                    msg: dict[str, Any] = {
                        "messages": [
                            {"role": "user", "content": values["user"]},
                            {"role": "assistant", "content": values["assistant"]},
                        ]
                    }
                    if values.get("system"):
                        msg["system"] = values["system"]
                    rows.append(msg)
                else:
                    rows.append(values)
        return _ds(cls)._from_raw(rows, format=format, source=os.fspath(path), lines=lines)

    @classmethod
    def from_aqua(cls, path: str | os.PathLike[str]) -> Dataset:
        """AQuA-RAT (``question``, ``options``, ``rationale``, ``correct`` per line) as conversations: the
        user asks the question with its lettered options, the assistant gives the rationale ending with
        ``Answer: X``; ``metadata["answer"]`` is the letter.

        Raises:
            DataError: the file is missing; DatasetValidationError: lines that are not AQuA records.

        Examples:
            >>> import tempfile, pathlib, json
            >>> from finetune_sdk.data import Dataset
            >>> p = pathlib.Path(tempfile.mkdtemp()) / "aqua.json"
            >>> _ = p.write_text(json.dumps({"question": "1+1?", "options": ["A)2", "B)3"],
            ...                              "rationale": "1+1=2", "correct": "A"}) + "\\n")
            >>> r = Dataset.from_aqua(p)[0]
            >>> print(r.reference)
            1+1=2
            Answer: A
        """
        source = os.fspath(path)
        sink = IssueSink(source=source)
        records: list[Record] = []
        total = 0
        for jl in iter_jsonl(source):
            total += 1
            for i in jl.issues:
                if i.severity == "error":
                    sink.add(i.line, i.path, i.rule, i.message, i.hint)
            if jl.value is None:
                continue
            obj = jl.value
            q, opts, rat, ans = (
                obj.get("question"),
                obj.get("options"),
                obj.get("rationale"),
                obj.get("correct"),
            )
            if not (isinstance(q, str) and isinstance(opts, list) and isinstance(rat, str) and isinstance(ans, str)):
                sink.add(
                    jl.number,
                    "",
                    "schema.missing",
                    "not an AQuA-RAT record (question, options, rationale, correct)",
                    "check the file is AQuA-RAT JSONL",
                )
                continue
            user = f"{q.strip()}\n\nOptions:\n" + "\n".join(str(o) for o in opts)
            # Rationales end in many spellings ("Answer : A", "ANSWER:B", "Answer is A."): one form for all.
            rationale = _AQUA_ANSWER_LINE.sub("", rat.strip()).rstrip()
            final = f"Answer: {ans.strip()}"
            assistant = f"{rationale}\n{final}" if rationale else final
            records.append(Conversation.from_pairs(user, assistant, metadata={"answer": ans.strip()}))
        _raise_if(sink, source, total)
        return _ds(cls)(records, source=f"aqua:{source}")

    @classmethod
    def from_tatqa(cls, path: str | os.PathLike[str], *, include_table: bool = True) -> Dataset:
        """TAT-QA (a JSON array of contexts with a table, paragraphs and questions) as one conversation per
        question: the user turn holds the table as text (unless ``include_table=False``), the paragraphs
        and the question; the assistant gives the answer (list answers joined with ``", "``, the scale
        appended). ``metadata`` has ``answer`` (as in the file), ``answer_type``, ``scale``, ``uid`` and
        ``table_uid`` (the context: ``split(group_by="table_uid")`` keeps a table's questions together).

        Raises:
            DataError: the file is missing or not a TAT-QA JSON array.
        """
        source = os.fspath(path)
        try:
            with open_regular_file(source, what="TAT-QA file") as fh:  # refuses FIFOs, devices, loops
                contexts = json.load(fh)
        except OSError as exc:
            raise DataError(f"cannot open TAT-QA file {source!r}: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise DataError(f"{source!r} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
        if not isinstance(contexts, list):
            raise DataError(f"{source!r} is not a TAT-QA file: expected a JSON array of contexts")
        records: list[Record] = []
        for n, ctx in enumerate(contexts):
            try:
                table = ctx["table"]["table"] if include_table else []
                paragraphs = sorted(ctx.get("paragraphs", []), key=lambda p: p.get("order", 0))
                questions = ctx["questions"]
            except (KeyError, TypeError) as exc:
                raise DataError(f"context {n} of {source!r} lacks {exc}; is this a TAT-QA file?") from exc
            parts: list[str] = []
            if table:
                rows = [[str(c).strip() for c in row] for row in table]
                parts.append("Table:\n" + "\n".join(" | ".join(r).strip() for r in rows if any(r)))
            if paragraphs:
                parts.append("Paragraphs:\n" + "\n".join(str(p.get("text", "")).strip() for p in paragraphs))
            head = "\n\n".join(parts)
            for q in sorted(questions, key=lambda q: q.get("order", 0)):
                user = f"{head}\n\nQuestion: {q['question'].strip()}" if head else q["question"].strip()
                records.append(
                    Conversation.from_pairs(
                        user,
                        _tatqa_answer(q.get("answer"), q.get("scale") or ""),
                        metadata={
                            "answer": q.get("answer"),
                            "answer_type": q.get("answer_type"),
                            "scale": q.get("scale") or "",
                            "uid": q.get("uid"),
                            "table_uid": (ctx.get("table") or {}).get("uid"),
                        },
                    )
                )
        return _ds(cls)(records, source=f"tatqa:{source}")


# -- helpers ------------------------------------------------------------------------------------------------


def _tatqa_answer(answer: Any, scale: str) -> str:
    text = ", ".join(_num(a) for a in answer) if isinstance(answer, list) else _num(answer)
    return f"{text} {scale}" if scale else text


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value).strip()


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _plain(value: Any) -> Any:
    """Python values from numpy/pandas/arrow cells (arrays become lists, numpy scalars Python scalars)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return _plain(tolist())
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    return value


def _raise_if(sink: IssueSink, source: str, total: int) -> None:
    if sink.error_count:
        report = ValidationReport(
            source=source,
            total_lines=total,
            issues=sink.issues(),
            rule_counts=sink.rule_counts(),
            invalid_records=sink.error_count,
        )
        raise DatasetValidationError(
            f"{sink.error_count} line(s) of {source} cannot be read (first: {report.issues[0].format_line(source)})",
            report=report,
        )
