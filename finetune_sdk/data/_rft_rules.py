"""The data rules of Amazon Bedrock reinforcement fine-tuning, used by ``validate(..., purpose="reinforcement")``.

An RFT prompt file is JSONL in the OpenAI chat-completions shape (https://docs.aws.amazon.com/bedrock/latest/
userguide/rft-prepare-data.html): ``messages`` (an optional system message and one user message: the prompt;
the model writes the answer during training), ``reference_answer`` (any JSON the grader reads), an optional
``id`` and any other fields (passed to the grader). Text only, single turn, 100 to 20,000 prompts
(rft-nova-models.html). No ``schemaVersion``: that belongs to Nova SFT and distillation data.

Every line is judged on its own; the report has the usual shape (``rule`` ids start with ``rft.``).

Examples:
    >>> from finetune_sdk.data import Dataset
    >>> line = {"messages": [{"role": "user", "content": "2+2?"}], "reference_answer": "4"}
    >>> Dataset.from_records([line] * 100).validate(purpose="reinforcement").ok
    True
    >>> bad = {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}
    >>> sorted(Dataset.from_records([bad] * 100).validate(purpose="reinforcement").counts_by_rule())
    ['rft.assistant_turn', 'rft.reference_missing']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from finetune_sdk.data.records import Conversation, TextRecord
from finetune_sdk.data.report import IssueSink, ValidationReport

__all__ = ["MAX_PROMPTS", "MIN_PROMPTS", "line_problems", "validate_rft_lines"]

#: Bedrock RFT (Nova 2 Lite): 100 to 20,000 prompts.
MIN_PROMPTS = 100
MAX_PROMPTS = 20_000

Severity = Literal["error", "warning"]
#: (path, rule, severity, message, hint)
RftProblem = tuple[str, str, Severity, str, str]

_MESSAGE_KEYS = frozenset({"role", "content", "name"})


def _content_problems(content: Any, path: str) -> list[RftProblem]:
    if isinstance(content, str):
        if not content.strip():
            return [(path, "rft.empty", "error", "empty content", "fill in the prompt text")]
        return []
    if not isinstance(content, list) or not content:
        return [
            (
                path,
                "rft.content",
                "error",
                f"content must be a string or a non-empty list of text parts, got {type(content).__name__}",
                'write "content": "..." or [{"type": "text", "text": "..."}]',
            )
        ]
    out: list[RftProblem] = []
    for j, part in enumerate(content):
        ppath = f"{path}[{j}]"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text" and isinstance(part.get("text"), str):
            if not part["text"].strip():
                out.append((f"{ppath}.text", "rft.empty", "error", "empty text part", "fill it in or drop it"))
        elif kind in ("image_url", "input_audio", "file", "image", "video") or (
            isinstance(part, Mapping) and ("image" in part or "video" in part or "image_url" in part)
        ):
            out.append(
                (
                    ppath,
                    "rft.media",
                    "error",
                    f"content part {j} is {kind or 'media'}; Bedrock reinforcement fine-tuning is text only",
                    "drop the media part or describe it in text",
                )
            )
        else:
            hint = (
                'this is a Bedrock-conversation block; RFT data is OpenAI chat: {"type": "text", "text": ...}'
                if isinstance(part, Mapping) and "text" in part
                else 'use {"type": "text", "text": ...}'
            )
            out.append((ppath, "rft.content", "error", f"content part {j} is not a text part", hint))
    return out


def line_problems(obj: Any) -> list[RftProblem]:
    """The problems of one RFT data line (a parsed JSON value)."""
    if not isinstance(obj, Mapping):
        return [
            (
                "",
                "rft.not_object",
                "error",
                f"the line is a JSON {type(obj).__name__}, not an object",
                'write one object per line: {"messages": [...], "reference_answer": ...}',
            )
        ]
    out: list[RftProblem] = []
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        out.append(
            (
                "messages",
                "rft.messages",
                "error",
                "missing messages" if messages is None else "messages must be a non-empty list",
                'write "messages": [{"role": "system", ...}, {"role": "user", "content": "..."}]',
            )
        )
    else:
        users = 0
        for i, m in enumerate(messages):
            path = f"messages[{i}]"
            if not isinstance(m, Mapping):
                out.append((path, "rft.messages", "error", f"message {i} is not an object", "use {role, content}"))
                continue
            role = m.get("role")
            if role == "assistant":
                out.append(
                    (
                        f"{path}.role",
                        "rft.assistant_turn",
                        "error",
                        f"message {i} is an assistant message; an RFT prompt ends with the user (the model writes "
                        "the answer during training)",
                        "move the expected answer into reference_answer and drop the assistant message",
                    )
                )
            elif role == "system":
                if i != 0:
                    out.append(
                        (
                            f"{path}.role",
                            "rft.single_turn",
                            "error",
                            f"system message at position {i}; only the first message may be a system message",
                            "put the system message first (one per prompt)",
                        )
                    )
            elif role == "user":
                users += 1
            else:
                out.append(
                    (
                        f"{path}.role",
                        "rft.role",
                        "error",
                        f"message {i} has role {role!r}; an RFT prompt holds system and user messages",
                        'use "system" or "user"',
                    )
                )
            out.extend(
                (
                    f"{path}.{key}",
                    "rft.unknown_message_key",
                    "warning",
                    f"message {i} has a key {key!r} the OpenAI chat format does not define",
                    "remove it; put extra data for the grader at the top level of the line",
                )
                for key in m
                if key not in _MESSAGE_KEYS
            )
            if "content" not in m:
                out.append((f"{path}.content", "rft.content", "error", f"message {i} has no content", "add it"))
            else:
                out.extend(_content_problems(m["content"], f"{path}.content"))
        if users > 1:
            out.append(
                (
                    "messages",
                    "rft.single_turn",
                    "error",
                    f"{users} user messages; Bedrock reinforcement fine-tuning takes single-turn prompts",
                    "keep one user message per prompt (join the context into it)",
                )
            )
        elif users == 0:
            out.append(("messages", "rft.messages", "error", "no user message", "add the user's prompt"))
    metadata = obj.get("metadata")
    if "reference_answer" not in obj and not (isinstance(metadata, Mapping) and "reference_answer" in metadata):
        out.append(
            (
                "reference_answer",
                "rft.reference_missing",
                "warning",
                "no reference_answer; the grader receives none for this prompt",
                'add "reference_answer": <what your reward function compares with> (any JSON)',
            )
        )
    if "schemaVersion" in obj:
        out.append(
            (
                "schemaVersion",
                "rft.schema_version",
                "warning",
                "schemaVersion belongs to Nova fine-tuning and distillation data, not to RFT's OpenAI chat format",
                "remove schemaVersion",
            )
        )
    if "id" in obj and not isinstance(obj["id"], str):
        out.append(("id", "rft.id", "error", f"id must be a string, got {type(obj['id']).__name__}", "quote it"))
    return out


def record_to_line(record: Conversation | TextRecord) -> Any:
    """A canonical record as the RFT line it stands for (metadata keys back at the top level)."""
    if isinstance(record, TextRecord):
        return {"text": record.text}
    return {**dict(record.metadata), "messages": record.to_messages()}


def validate_rft_lines(
    lines: Iterable[tuple[int, Any, int]],
    *,
    source: str | None,
    role: Literal["train", "validation"] = "train",
    model: str | None = None,
    carried: Iterable[Any] = (),
) -> ValidationReport:
    """Check ``(line number, parsed value or None for blank, bytes)`` triples as RFT prompts.

    ``carried`` are issues already found reading the lines (malformed JSON); each counts its line invalid.
    """
    sink = IssueSink(source=source)
    bad_lines: set[int] = set()
    for issue in carried:
        sink.add(issue.line, issue.path, issue.rule, issue.message, issue.hint, issue.severity)
        if issue.severity == "error" and issue.line is not None:
            bad_lines.add(issue.line)
    total = valid = blank = size = 0
    ids: dict[str, int] = {}
    for number, value, nbytes in lines:
        total += 1
        size += nbytes
        if value is None:
            if number not in bad_lines:
                blank += 1
            continue
        problems = line_problems(value)
        for path, rule, severity, message, hint in problems:
            sink.add(number, path, rule, message, hint, severity)
        line_id = value.get("id") if isinstance(value, Mapping) else None
        if isinstance(line_id, str):
            if line_id in ids:
                sink.add(
                    number,
                    "id",
                    "rft.id_duplicate",
                    f"id {line_id!r} repeats line {ids[line_id]}",
                    "give every prompt its own id (grader results are matched by id)",
                    "warning",
                )
            else:
                ids[line_id] = number
        if any(p[2] == "error" for p in problems):
            bad_lines.add(number)
        elif number not in bad_lines:
            valid += 1
    records = total - blank
    if role == "train":
        if records < MIN_PROMPTS:
            sink.add(
                None,
                "",
                "rft.min_prompts",
                f"{records} prompts; Bedrock reinforcement fine-tuning needs at least {MIN_PROMPTS}",
                f"add prompts (AWS recommends more than {MIN_PROMPTS}; up to {MAX_PROMPTS:,})",
                "error",
            )
        elif records > MAX_PROMPTS:
            sink.add(
                None,
                "",
                "rft.max_prompts",
                f"{records:,} prompts; Bedrock reinforcement fine-tuning takes at most {MAX_PROMPTS:,}",
                "sample or split the prompts (Dataset.split / a random subset)",
                "error",
            )
    return ValidationReport(
        source=source,
        format="openai_chat",
        model=model,
        total_lines=total,
        valid_records=valid,
        invalid_records=total - valid - blank,
        blank_lines=blank,
        file_bytes=size or None,
        format_counts={"openai_chat": valid} if valid else {},
        issues=tuple(sorted(sink.issues(), key=lambda i: (0 if i.line is None else 1, i.line or 0, i.rule))),
        rule_counts=sink.rule_counts(),
    )


def validate_dataset(
    dataset: Any, *, model: str | None = None, role: Literal["train", "validation"] = "train"
) -> ValidationReport:
    """RFT rules over a :class:`~finetune_sdk.data.Dataset`: its file line by line (streamed, physical line
    numbers), the objects it was built from, or, for canonical records, the lines they stand for."""
    from finetune_sdk.data.io import iter_jsonl

    source = dataset.source
    if dataset._path is not None:
        carried: list[Any] = []

        def from_file() -> Iterable[tuple[int, Any, int]]:
            for jl in iter_jsonl(dataset._path, session=dataset._session, endpoint_url=dataset._endpoint_url):
                carried.extend(jl.issues)
                yield jl.number, jl.value, jl.nbytes

        triples = list(from_file())
        return validate_rft_lines(triples, source=source, role=role, model=model, carried=carried)
    if dataset._raw is not None:
        numbers = dataset._lines
        triples = [((numbers[i] if numbers is not None else i + 1), row, 0) for i, row in enumerate(dataset._raw)]
        return validate_rft_lines(triples, source=source, role=role, model=model)
    triples = [(i + 1, record_to_line(r), 0) for i, r in enumerate(dataset.records)]
    return validate_rft_lines(triples, source=source, role=role, model=model)
