"""What validation and conversion found: :class:`Issue`, :class:`ValidationReport`, :class:`ConversionReport`.

Every issue names the 1-based physical line of the file (``None`` for a file-level issue), the JSON path
inside the record, a stable rule id (see :data:`RULES`), a severity, a message and a hint saying what to do.

A huge, badly broken file must not make the report itself huge: a report keeps the first
``max_issues_per_rule`` issues of each rule (1,000 by default) and the exact count of every rule, so
memory stays flat however many lines are bad. :meth:`ValidationReport.to_text` says when it left issues out.

Examples:
    >>> from finetune_sdk.data.report import Issue, ValidationReport
    >>> issue = Issue(line=3, path="messages[0].role", rule="roles.first_user", severity="error",
    ...               message="the first message must come from the user", hint="start with a user turn")
    >>> report = ValidationReport.from_issues([issue], total_lines=3, valid_records=2, invalid_records=1)
    >>> report.ok, report.counts_by_rule()
    (False, {'roles.first_user': 1})
    >>> print(report.issue_lines()[0])  # doctest: +NORMALIZE_WHITESPACE
    <records>:3: error roles.first_user: messages[0].role: the first message must come from the user
    (start with a user turn)
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from finetune_sdk.errors import DatasetValidationError

__all__ = [
    "DEFAULT_MAX_ISSUES_PER_RULE",
    "RULES",
    "ConversionReport",
    "Issue",
    "IssueSink",
    "RuleCount",
    "Severity",
    "StepReport",
    "ValidationReport",
]

Severity = Literal["error", "warning"]

#: Issues kept per rule in a report; counts stay exact beyond it.
DEFAULT_MAX_ISSUES_PER_RULE = 1000

#: Every rule id the validator emits, with its default severity and what it checks. Ids are stable: scripts
#: and CI filters may rely on them.
RULES: Mapping[str, tuple[Severity, str]] = {
    # reading the file
    "encoding.bom": ("warning", "the file starts with a UTF-8 byte order mark"),
    "encoding.invalid_utf8": ("error", "the line is not valid UTF-8"),
    "encoding.lone_surrogate": ("error", "a string holds a lone UTF-16 surrogate escape"),
    "line.blank": ("warning", "the line is empty or holds only whitespace"),
    "json.malformed": ("error", "the line is not valid JSON"),
    "json.duplicate_key": ("error", "an object repeats a key"),
    "json.not_object": ("error", "the line is JSON but not an object"),
    "json.array_file": ("error", "the file is one JSON array, not JSON Lines"),
    "json.too_deep": ("error", "objects and arrays nest deeper than the shared limit (64 levels)"),
    "line.too_long": ("error", "the line is longer than the line-length limit (read in bounded chunks, skipped)"),
    # formats
    "format.unknown": ("error", "the record matches no known wire format"),
    "format.mismatch": ("error", "the record is in another wire format than the one asked for"),
    "format.wrong_for_model": ("error", "the file's wire format is not the one the model trains on"),
    "format.conversion_loss": ("warning", "writing the records in the target format loses information"),
    "mixed_formats": ("error", "the file mixes wire formats"),
    "schema.missing": ("error", "a required field is missing"),
    "schema.type": ("error", "a field has the wrong JSON type"),
    "schema.unknown_key": ("warning", "a field the format does not define"),
    "schema.version": ("warning", "schemaVersion is missing or not 'bedrock-conversation-2024'"),
    # conversations
    "messages.too_few": ("error", "a conversation needs at least a user and an assistant message"),
    "roles.invalid": ("error", "a role other than the format allows"),
    "roles.first_user": ("error", "the first message is not from the user"),
    "roles.last_assistant": ("error", "the last message is not from the assistant"),
    "roles.alternation": ("error", "user and assistant messages do not alternate"),
    "roles.system_position": ("error", "a system message after the conversation started"),
    "content.empty": ("error", "empty or whitespace-only text"),
    "content.block": ("error", "a content block is not text, image or video"),
    "system.multiple_blocks": ("error", "more than one system block for a model that takes one"),
    "turns.multi_turn": ("error", "a multi-turn conversation for a model that trains on single turns"),
    "reserved_string": ("error", "text contains a string the model reserves"),
    # distillation prompts (validate(..., purpose="distillation"))
    "distillation.messages": ("error", "a distillation prompt holds more than a user message and its answer"),
    "distillation.content": ("error", "a distillation prompt message is not exactly one text block"),
    # media
    "media.not_in_user_turn": ("error", "an image or video outside a user turn"),
    "media.unsupported": ("error", "media for a model that trains on text only"),
    "media.mixed_types": ("error", "the dataset mixes images and videos"),
    "media.too_many_images": ("error", "more images in one record than the model allows"),
    "media.too_many_videos": ("error", "more videos in one record than the model allows"),
    "media.format": ("error", "an image or video format the model does not take"),
    "media.uri": ("error", "a media URI that is not an s3:// URI of allowed characters"),
    "media.bucket": ("error", "media in another S3 bucket than the dataset"),
    # limits
    "tokens.max_per_record": ("error", "a record has more tokens than the model allows"),
    "tokens.max_input": ("error", "the prompt side of a record has more tokens than allowed"),
    "tokens.max_output": ("error", "the response side of a record has more tokens than allowed"),
    "records.empty": ("error", "the dataset holds no records"),
    "records.min_train": ("error", "fewer training records than the model needs"),
    "records.max_train": ("error", "more training records than the model takes"),
    "records.min_validation": ("error", "fewer validation records than the model needs"),
    "records.max_validation": ("error", "more validation records than the model takes"),
    "records.max_total": ("error", "training plus validation records exceed the model's total"),
    "file.size": ("error", "the file is larger than the model takes"),
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Issue(_Frozen):
    """One problem found in a dataset.

    Attributes:
        line: 1-based physical line of the file (for in-memory data, the 1-based record number);
            ``None`` for a file-level issue.
        path: JSON path inside the record (``"messages[2].content"``); ``""`` for the whole line.
        rule: stable rule id, a key of :data:`RULES`.
        severity: ``"error"`` (the service would reject the data) or ``"warning"``.
        message: what is wrong, naming the field and the limit.
        hint: what to do about it.
        source: the file (or dataset) the issue is in; ``None`` when the report has a single source.
    """

    line: int | None
    path: str = ""
    rule: str
    severity: Severity
    message: str
    hint: str = ""
    source: str | None = None

    def format_line(self, default_source: str | None = None) -> str:
        """``PATH:LINE: severity rule: message (hint)``, the line the CLI prints; the message starts with the
        JSON path when there is one, and ``:LINE`` is left out for file-level issues."""
        where = self.source or default_source or "<records>"
        loc = f"{where}:{self.line}" if self.line is not None else where
        message = f"{self.path}: {self.message}" if self.path else self.message
        text = f"{loc}: {self.severity} {self.rule}: {message}"
        return f"{text} ({self.hint})" if self.hint else text


class RuleCount(_Frozen):
    """The exact number of issues of one rule (stored issues may be fewer)."""

    rule: str
    severity: Severity
    count: int


class IssueSink:
    """Collects issues while a file streams: exact counts per rule, at most ``cap`` stored issues per rule.

    Internal helper of the validator; not frozen. ``add`` builds an :class:`Issue` only while the rule is
    under its cap, so a million bad lines cost a counter increment each.
    """

    __slots__ = ("_counts", "_issues", "_kept", "cap", "source")

    def __init__(self, *, cap: int = DEFAULT_MAX_ISSUES_PER_RULE, source: str | None = None) -> None:
        self.cap = cap
        self.source = source
        self._counts: dict[tuple[str, str], int] = {}
        self._kept: dict[str, int] = {}
        self._issues: list[Issue] = []

    def add(
        self,
        line: int | None,
        path: str,
        rule: str,
        message: str,
        hint: str = "",
        severity: Severity | None = None,
    ) -> None:
        sev: Severity = severity or RULES[rule][0]
        key = (rule, sev)
        self._counts[key] = self._counts.get(key, 0) + 1
        kept = self._kept.get(rule, 0)
        if kept < self.cap:
            self._kept[rule] = kept + 1
            self._issues.append(
                Issue.model_construct(
                    line=line,
                    path=path,
                    rule=rule,
                    severity=sev,
                    message=message,
                    hint=hint,
                    source=self.source,
                )
            )

    def add_count(self, rule: str, n: int, severity: Severity | None = None) -> None:
        """Count ``n`` more issues of ``rule`` without keeping them (they are past the cap)."""
        if n > 0:
            key = (rule, severity or RULES[rule][0])
            self._counts[key] = self._counts.get(key, 0) + n

    def drop_rule(self, rule: str) -> int:
        """Forget every issue of ``rule`` (when one file-level issue says it better); returns the count."""
        dropped = 0
        for key in [k for k in self._counts if k[0] == rule]:
            dropped += self._counts.pop(key)
        self._kept.pop(rule, None)
        self._issues = [i for i in self._issues if i.rule != rule]
        return dropped

    @property
    def error_count(self) -> int:
        return sum(n for (_, s), n in self._counts.items() if s == "error")

    def issues(self) -> tuple[Issue, ...]:
        return tuple(self._issues)

    def rule_counts(self) -> tuple[RuleCount, ...]:
        return tuple(
            RuleCount(rule=r, severity=s, count=n)  # type: ignore[arg-type]
            for (r, s), n in sorted(self._counts.items())
        )


def _sort_key(issue: Issue) -> tuple[int, int, str]:
    # File-level issues first, then by line; the validation file after the training file.
    return (0 if issue.line is None else 1, issue.line or 0, issue.rule)


class ValidationReport(_Frozen):
    """The outcome of validating a dataset (and optionally its validation set) for a model.

    ``issues`` holds every kept issue of the training data, of the validation data (their ``source`` says
    which) and the cross-file checks; ``validation`` is the validation data's own report. The line counts
    (``total_lines`` ...) describe the training data: ``valid_records + invalid_records + blank_lines ==
    total_lines``.

    Examples:
        >>> from finetune_sdk.data import Dataset
        >>> r = Dataset.from_records([{"prompt": "2+2?", "completion": "4"}]).validate()
        >>> r.ok, r.format, r.valid_records
        (True, 'prompt_completion', 1)
    """

    source: str | None = None
    format: str | None = None
    model: str | None = None
    total_lines: int = 0
    valid_records: int = 0
    invalid_records: int = 0
    blank_lines: int = 0
    file_bytes: int | None = None
    format_counts: dict[str, int] = Field(default_factory=dict)
    issues: tuple[Issue, ...] = ()
    rule_counts: tuple[RuleCount, ...] = ()
    max_issues_per_rule: int = DEFAULT_MAX_ISSUES_PER_RULE
    validation: ValidationReport | None = None

    @classmethod
    def from_issues(cls, issues: Iterable[Issue], **fields: Any) -> ValidationReport:
        """A report over ``issues`` (counts computed from them); ``fields`` set the other attributes."""
        sink = IssueSink(cap=int(fields.get("max_issues_per_rule", DEFAULT_MAX_ISSUES_PER_RULE)))
        for i in issues:
            sink._counts[(i.rule, i.severity)] = sink._counts.get((i.rule, i.severity), 0) + 1
            if sink._kept.get(i.rule, 0) < sink.cap:
                sink._kept[i.rule] = sink._kept.get(i.rule, 0) + 1
                sink._issues.append(i)
        return cls(
            issues=tuple(sorted(sink.issues(), key=_sort_key)), rule_counts=sink.rule_counts(), **fields
        )

    # -- counts ---------------------------------------------------------------------------------------------

    @property
    def ok(self) -> bool:
        """``True`` when there is no error (warnings allowed)."""
        return self.error_count == 0

    @property
    def error_count(self) -> int:
        """Exact number of errors, including those not kept in ``issues``."""
        return sum(c.count for c in self.rule_counts if c.severity == "error")

    @property
    def warning_count(self) -> int:
        """Exact number of warnings, including those not kept in ``issues``."""
        return sum(c.count for c in self.rule_counts if c.severity == "warning")

    @property
    def errors(self) -> list[Issue]:
        """The kept issues of severity ``error``."""
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        """The kept issues of severity ``warning``."""
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def truncated(self) -> bool:
        """Whether some issues were counted but not kept (more than ``max_issues_per_rule`` of a rule)."""
        return sum(c.count for c in self.rule_counts) > len(self.issues)

    def counts_by_rule(self) -> dict[str, int]:
        """Exact ``{rule: count}`` over every issue found, kept or not."""
        out: dict[str, int] = {}
        for c in self.rule_counts:
            out[c.rule] = out.get(c.rule, 0) + c.count
        return out

    def lines_with(self, rule: str) -> list[int]:
        """The lines of the kept issues of ``rule`` (training data only), for quick checks in notebooks."""
        return [
            i.line for i in self.issues if i.rule == rule and i.line is not None and i.source == self.source
        ]

    def raise_for_errors(self) -> ValidationReport:
        """Return ``self`` when there is no error.

        Raises:
            DatasetValidationError: when there is at least one error; ``exc.report`` is this report.
        """
        if self.ok:
            return self
        raise DatasetValidationError(self.error_message(), report=self)

    def error_message(self, *, first: int = 5) -> str:
        """The summary, then the first ``first`` errors with their lines and hints (what
        :class:`DatasetValidationError` says), and how many more ``exc.report`` holds."""
        errors = self.errors
        lines = [self.summary()]
        if errors:
            lines.append(f"first {min(first, len(errors))} of {self.error_count} errors:")
            lines.extend("  " + i.format_line(self.source) for i in errors[:first])
            more = self.error_count - min(first, len(errors))
            if more:
                lines.append(f"  ... and {more} more (exc.report.issues, or report.to_text(), lists them)")
        return "\n".join(lines)

    # -- renderings -----------------------------------------------------------------------------------------

    def summary(self) -> str:
        """One sentence: what was checked and how many errors and warnings, by rule."""
        what = self.source or "<records>"
        target = f" for {self.model}" if self.model else ""
        fmt = f" ({self.format})" if self.format else ""
        head = (
            f"{what}{fmt}{target}: {self.total_lines} lines, {self.valid_records} valid, "
            f"{self.invalid_records} invalid, {self.blank_lines} blank; "
            f"{self.error_count} errors, {self.warning_count} warnings"
        )
        if self.validation is not None:
            v = self.validation
            head += (
                f"; validation {v.source or '<records>'}: {v.total_lines} lines, {v.valid_records} valid, "
                f"{v.invalid_records} invalid, {v.blank_lines} blank"
            )
        counts = self.counts_by_rule()
        if counts:
            head += (
                " (" + ", ".join(f"{r}: {n}" for r, n in sorted(counts.items(), key=lambda kv: -kv[1])) + ")"
            )
        return head

    def _truncation_notes(self) -> list[str]:
        kept: dict[str, int] = {}
        for i in self.issues:
            kept[i.rule] = kept.get(i.rule, 0) + 1
        notes = []
        for rule, n in sorted(self.counts_by_rule().items()):
            if n > kept.get(rule, 0):
                notes.append(
                    f"... {n - kept.get(rule, 0)} more {rule} issues not shown "
                    f"(a report keeps the first {self.max_issues_per_rule} per rule; counts are exact)"
                )
        return notes

    def issue_lines(self) -> list[str]:
        """One ``PATH:LINE: severity rule: message (hint)`` line per kept issue, file-level issues first."""
        return [i.format_line(self.source) for i in self.issues]

    def to_text(self) -> str:
        """Plain text: one line per kept issue, then truncation notes, then the summary."""
        lines = self.issue_lines()
        lines.extend(self._truncation_notes())
        lines.append(("OK: " if self.ok else "FAILED: ") + self.summary())
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """A Markdown summary and issue table (for PR comments and notebooks)."""
        out = [f"**{'OK' if self.ok else 'FAILED'}**: {self.summary()}", ""]
        if self.issues:
            out += ["| line | severity | rule | path | message | hint |", "|---|---|---|---|---|---|"]
            for i in self.issues:
                cells = [
                    f"{i.source + ':' if i.source and i.source != self.source else ''}{i.line or ''}",
                    i.severity,
                    f"`{i.rule}`",
                    f"`{i.path}`" if i.path else "",
                    i.message,
                    i.hint,
                ]
                out.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
        out.extend(f"\n_{n}_" for n in self._truncation_notes())
        return "\n".join(out)

    def _repr_html_(self) -> str:
        colour = "#2e7d32" if self.ok else "#c62828"
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(c))}</td>"
                for c in (i.line if i.line is not None else "", i.severity, i.rule, i.path, i.message, i.hint)
            )
            + "</tr>"
            for i in self.issues[:200]
        )
        more = len(self.issues) - 200
        notes = self._truncation_notes() + ([f"{more} more kept issues not shown here"] if more > 0 else [])
        return (
            f"<div><p style='color:{colour}'><b>{'OK' if self.ok else 'FAILED'}</b>: "
            f"{html.escape(self.summary())}</p>"
            + (
                "<table><thead><tr><th>line</th><th>severity</th><th>rule</th><th>path</th><th>message</th>"
                f"<th>hint</th></tr></thead><tbody>{rows}</tbody></table>"
                if rows
                else ""
            )
            + "".join(f"<p><i>{html.escape(n)}</i></p>" for n in notes)
            + "</div>"
        )

    def to_json(self, *, indent: int | None = None) -> str:
        """The whole report as JSON (round-trips through :meth:`from_json`)."""
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> ValidationReport:
        """Rebuild a report written by :meth:`to_json`."""
        return cls.model_validate_json(text)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        # Short whatever the number of issues: the full list is in .issues and to_text().
        return (
            f"ValidationReport(source={self.source!r}, format={self.format!r}, model={self.model!r}, "
            f"ok={self.ok}, lines={self.total_lines}, valid={self.valid_records}, invalid={self.invalid_records}, "
            f"errors={self.error_count}, warnings={self.warning_count}, issues_kept={len(self.issues)}"
            + (", validation=..." if self.validation is not None else "")
            + ")"
        )


class ConversionReport(_Frozen):
    """What converting records into a wire format lost.

    ``losses`` counts records affected per loss kind (``multi_turn_flattened``, ``media_dropped``,
    ``system_merged_into_prompt``, ...); ``examples`` keeps the first few record numbers of each kind.
    ``dropped`` counts records that could not be written at all (each also counted in ``losses``).

    Examples:
        >>> from finetune_sdk.data import Dataset
        >>> from finetune_sdk.data.records import Conversation
        >>> ds = Dataset.from_records([Conversation.from_pairs("a", "b", "c", "d")])
        >>> ds.convert("prompt_completion").last_report.losses
        {'multi_turn_flattened': 1}
    """

    source_format: str | None = None
    target_format: str
    records_in: int = 0
    records_out: int = 0
    dropped: int = 0
    losses: dict[str, int] = Field(default_factory=dict)
    examples: dict[str, tuple[int, ...]] = Field(default_factory=dict)
    path: str | None = None

    @property
    def lossless(self) -> bool:
        """``True`` when nothing was lost or dropped."""
        return not self.losses and not self.dropped

    def summary(self) -> str:
        """One line: counts and each loss kind."""
        src = self.source_format or "canonical records"
        text = f"{src} -> {self.target_format}: {self.records_in} records in, {self.records_out} written"
        if self.dropped:
            text += f", {self.dropped} dropped"
        if self.losses:
            text += "; losses: " + ", ".join(f"{k} x{v}" for k, v in sorted(self.losses.items()))
        else:
            text += "; nothing lost"
        return text

    def to_text(self) -> str:
        """The summary plus the first record numbers of each loss kind."""
        lines = [self.summary()]
        for kind, recs in sorted(self.examples.items()):
            more = " ..." if self.losses[kind] > len(recs) else ""
            lines.append(f"  {kind}: records {', '.join(map(str, recs))}{more}")
        return "\n".join(lines)

    def to_json(self, *, indent: int | None = None) -> str:
        """The report as JSON."""
        return self.model_dump_json(indent=indent)

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.to_text())}</pre>"

    def __str__(self) -> str:
        return self.to_text()


class StepReport(_Frozen):
    """The record of a simple step (``map``, ``filter``, ``head``, loading) in a Dataset's history."""

    step: str
    records_in: int | None = None
    records_out: int
    detail: str = ""

    def __str__(self) -> str:
        before = "?" if self.records_in is None else str(self.records_in)
        return (
            f"{self.step}: {before} -> {self.records_out} records{'; ' + self.detail if self.detail else ''}"
        )
