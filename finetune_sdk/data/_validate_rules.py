"""The rules :class:`~finetune_sdk.data.validate.StreamValidator` applies beyond a record's wire format: the
model's per-record limits (reserved strings, system blocks, turns, media, tokens) and the file-level checks
(format mix, record counts, file size) that build the report.

Private: these are functions of the validator, bound as its methods in :mod:`finetune_sdk.data.validate`
(which owns the streaming, the fast paths and the public functions); import from there.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from finetune_sdk.data.distillation import MAX_PROMPT_FILE_BYTES, MAX_PROMPTS, MIN_PROMPTS
from finetune_sdk.data.formats import CONVERT_HINT, Facts, Problem
from finetune_sdk.data.formats._base import find_reserved
from finetune_sdk.data.report import Issue, ValidationReport

if TYPE_CHECKING:
    from finetune_sdk.catalog import BaseModelInfo
    from finetune_sdk.data.validate import StreamValidator

_FIRST_LINES = 5


def _accepted_formats(model: BaseModelInfo) -> tuple[str, ...]:
    fmts = [model.format]
    if "CONTINUED_PRE_TRAINING" in model.customizations and "text" not in fmts:
        fmts.append("text")
    return tuple(fmts)


def _fmt_int(n: int) -> str:
    return f"{n:,}"


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _lines(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:_FIRST_LINES]))


def _sort_key(issue: Issue) -> tuple[int, int]:
    return (0 if issue.line is None else 1, issue.line or 0)


def media(self: StreamValidator, number: int, facts: Facts, problems: list[Problem]) -> None:
    images = videos = 0
    for path, _role, kind, _fmt, uri in facts.media:
        if kind == "image":
            images += 1
        else:
            videos += 1
        if self.dataset_bucket and uri.startswith("s3://"):
            bucket = uri[5:].split("/", 1)[0]
            if bucket != self.dataset_bucket:
                problems.append(
                    (
                        f"{path}.source.s3Location.uri",
                        "media.bucket",
                        f"media is in bucket {bucket!r}, the dataset in {self.dataset_bucket!r}",
                        "copy the media into the dataset's bucket; Bedrock reads media from there",
                        None,
                    )
                )
    if images and videos:
        problems.append(
            (
                facts.media[0][0],
                "media.mixed_types",
                f"the record holds {_n(images, 'image')} and {_n(videos, 'video')}",
                "keep images or a video in one record, not both (Bedrock takes one kind per dataset)",
                None,
            )
        )
    if images and self.first_image is None:
        self.first_image = number
    if videos and self.first_video is None:
        self.first_video = number
    model = self.model
    if model is None:
        return
    limits = model.limits
    first_path = facts.media[0][0]
    if (images and not limits.supports_images) or (videos and not limits.supports_video):
        kinds = "images" if images and not limits.supports_images else "videos"
        problems.append(
            (
                first_path,
                "media.unsupported",
                f"{model.name} does not train on {kinds}",
                "drop the media, or pick a model that takes it (e.g. Nova Lite or Pro)",
                None,
            )
        )
        return
    if images > limits.max_images_per_record:
        problems.append(
            (
                first_path,
                "media.too_many_images",
                f"{images} images; {model.name} takes at most {limits.max_images_per_record} per record",
                "split the record or drop images",
                None,
            )
        )
    if videos > limits.max_videos_per_record:
        problems.append(
            (
                first_path,
                "media.too_many_videos",
                f"{videos} videos; {model.name} takes at most {limits.max_videos_per_record} per record",
                "split the record or drop videos",
                None,
            )
        )

def model_rules(self: StreamValidator, facts: Facts, problems: list[Problem]) -> None:
    model = self.model
    assert model is not None
    texts = facts.texts
    k = facts.output_from
    n = len(texts)
    # One string per side: NUL-joined so a reserved string cannot straddle two texts, and of the same
    # length as the newline-joined text the token estimate is defined on.
    if n == 1:
        inp, out = (texts[0][2], "") if k else ("", texts[0][2])
    else:
        inp = "\x00".join([t[2] for t in texts[:k]]) if k else ""
        out = "\x00".join([t[2] for t in texts[k:]]) if k < n else ""
    groups = self._reserved_groups
    if groups and (find_reserved(inp, groups) or find_reserved(out, groups)):
        for path, _role, text in texts:
            for word in find_reserved(text, groups):
                problems.append(
                    (
                        path,
                        "reserved_string",
                        f"{word!r} is reserved by {model.name} and appears in the text",
                        f"rephrase or remove {word!r}; the job fails if it is present",
                        None,
                    )
                )
    if facts.system_blocks > 1 and self.single_system_block:
        problems.append(
            (
                "system",
                "system.multiple_blocks",
                f"{facts.system_blocks} system blocks; {model.name} takes exactly one",
                "join the system blocks into one",
                None,
            )
        )
    if facts.turns > 2 and not self.multi_turn:
        problems.append(
            (
                "messages",
                "turns.multi_turn",
                f"{facts.turns} turns; {model.name} trains on single exchanges",
                "split the conversation into single user/assistant pairs",
                None,
            )
        )
    if not self.check_tokens:
        return
    cpt = self.cpt
    if cpt is not None:
        tin = math.ceil(len(inp) / cpt)
        tout = math.ceil(len(out) / cpt)
    else:
        assert self.counter is not None
        tin = self.counter.count(inp.replace("\x00", "\n")) if inp else 0
        tout = self.counter.count(out.replace("\x00", "\n")) if out else 0
    total = tin + tout
    if self.max_tokens is not None and total > self.max_tokens:
        problems.append(
            (
                "",
                "tokens.max_per_record",
                f"{_fmt_int(total)} tokens ({self.counter_desc}); {model.name} takes at most "
                f"{_fmt_int(self.max_tokens)} per record",
                "shorten or split the record, or plug in an exact tokenizer with token_counter=",
                None,
            )
        )
    if self.max_input is not None and tin > self.max_input:
        problems.append(
            (
                "",
                "tokens.max_input",
                f"the prompt has {_fmt_int(tin)} tokens ({self.counter_desc}); {model.name} takes "
                f"at most {_fmt_int(self.max_input)}",
                "shorten the prompt",
                None,
            )
        )
    if self.max_output is not None and tout > self.max_output:
        problems.append(
            (
                "",
                "tokens.max_output",
                f"the response has {_fmt_int(tout)} tokens ({self.counter_desc}); {model.name} takes "
                f"at most {_fmt_int(self.max_output)}",
                "shorten the response",
                None,
            )
        )


def finish_formats(self: StreamValidator) -> str | None:
    counts = self.format_counts
    if self._primary_count:
        assert self.primary is not None
        counts[self.primary] = counts.get(self.primary, 0) + self._primary_count
        self.first_lines[self.primary] = sorted(
            self.first_lines.get(self.primary, []) + self._primary_first
        )
        self._primary_count = 0
        self._primary_first = []
    if (
        self.allowed is None
        and "openai_chat" in counts
        and counts.get("bedrock_messages", 0) == self._bm_plain > 0
    ):  # records without a system prompt are valid in both: the file is openai_chat
        counts["openai_chat"] += counts.pop("bedrock_messages")
        self.first_lines["openai_chat"] = sorted(
            self.first_lines["openai_chat"] + self.first_lines.pop("bedrock_messages")
        )[: self.sink.cap]
    known = {f: n for f, n in counts.items() if f != "unknown"}
    majority = max(known, key=lambda f: known[f]) if known else None
    sink = self.sink
    if len(known) > 1:
        parts = [
            f"{f} {_n(n, 'line')} (first at {_lines(self.first_lines[f])})"
            for f, n in sorted(known.items(), key=lambda kv: -kv[1])
        ]
        sink.add(
            None,
            "",
            "mixed_formats",
            f"the file mixes wire formats: {'; '.join(parts)}",
            f"convert every record to one format; {CONVERT_HINT.format(fmt=self.primary or majority)}",
        )
        if self.allowed is None and majority is not None:
            # Point at every minority line too (first `cap` of each), counted exactly. Warnings: the
            # lines were judged in their own format already, and mixed_formats is the error.
            for f, n in known.items():
                if f == majority:
                    continue
                lines = self.first_lines[f]
                for ln in lines:
                    sink.add(
                        ln,
                        "",
                        "format.mismatch",
                        f"the record is {f}; most of the file is {majority}",
                        CONVERT_HINT.format(fmt=majority),
                        "warning",
                    )
                sink.add_count("format.mismatch", n - len(lines), "warning")
    model = self.model
    if self.allowed is not None and known:
        outside = {f: n for f, n in known.items() if f not in self.allowed}
        if outside and not any(f in self.allowed for f in known):
            # Every record is in another format: one file-level issue says it better than one per line.
            sink.drop_rule("format.mismatch")
            found = ", ".join(f"{f} ({_n(n, 'line')})" for f, n in outside.items())
            if model is not None and not self.distill:
                sink.add(
                    None,
                    "",
                    "format.wrong_for_model",
                    f"{model.id} trains on {' or '.join(self.allowed)} records; this file is {found}",
                    CONVERT_HINT.format(fmt=self.primary),
                )
            else:
                sink.add(
                    None,
                    "",
                    "format.mismatch",
                    f"{'distillation prompts are' if self.distill else 'asked for'} {self.primary}; "
                    f"this file is {found}",
                    CONVERT_HINT.format(fmt=self.primary),
                )
        elif outside and model is not None and not self.distill:
            found = ", ".join(f"{f} ({_n(n, 'line')})" for f, n in outside.items())
            sink.add(
                None,
                "",
                "format.wrong_for_model",
                f"{model.id} trains on {' or '.join(self.allowed)} records; {found} are not",
                CONVERT_HINT.format(fmt=self.primary),
            )
    if (
        self.forced is not None
        and model is not None
        and not self.distill
        and self.forced not in _accepted_formats(model)
    ):
        sink.add(
            None,
            "",
            "format.wrong_for_model",
            f"{model.id} trains on {' or '.join(_accepted_formats(model))} records, not {self.forced}",
            CONVERT_HINT.format(fmt=model.format),
        )
    if self.forced is not None:
        return self.forced
    return majority or (model.format if model is not None else None)

def prompt_limits(self: StreamValidator, records: int, size: int | None) -> None:
    sink = self.sink
    if records < MIN_PROMPTS:
        sink.add(
            None,
            "",
            "records.min_train",
            f"Bedrock distillation needs at least {_fmt_int(MIN_PROMPTS)} prompts, got {_fmt_int(records)}",
            "add prompts, or fine-tune on the teacher's answers instead (Distiller method='fine_tune')",
        )
    if records > MAX_PROMPTS:
        sink.add(
            None,
            "",
            "records.max_train",
            f"Bedrock distillation takes at most {_fmt_int(MAX_PROMPTS)} prompts, got {_fmt_int(records)}",
            "sample or split the prompts",
        )
    if size is not None and size > MAX_PROMPT_FILE_BYTES:
        sink.add(
            None,
            "",
            "file.size",
            f"the prompt file is {_fmt_int(size)} bytes; Bedrock distillation takes under "
            f"{_fmt_int(MAX_PROMPT_FILE_BYTES)} (1 GiB)",
            "sample the prompts or shorten them",
        )


def finish(self: StreamValidator, *, file_bytes: int | None = None) -> ValidationReport:
    """The body of :meth:`StreamValidator.finish`: the file-level checks and the report of the stream."""
    sink = self.sink
    if self.array_file:
        return ValidationReport(
            source=self.source,
            model=self.model.id if self.model is not None else None,
            total_lines=self.total,
            invalid_records=self.invalid,
            file_bytes=file_bytes,
            issues=sink.issues(),
            rule_counts=sink.rule_counts(),
            max_issues_per_rule=sink.cap,
        )
    fmt = self._finish_formats()
    if self.first_image is not None and self.first_video is not None:
        sink.add(
            None,
            "",
            "media.mixed_types",
            f"the dataset mixes images (first at line {self.first_image}) and videos "
            f"(first at line {self.first_video})",
            "use images or videos in one dataset, not both",
        )
    size = file_bytes if file_bytes is not None else (self.nbytes or None)
    model = self.model
    records = self.records
    if records == 0:
        sink.add(
            None,
            "",
            "records.empty",
            f"the {self.role} data holds no records",
            "check the path; a dataset needs at least one JSON object per line",
        )
    elif self.distill:
        self._prompt_limits(records, size)
    elif model is not None:
        limits = model.limits
        if self.role == "train":
            lo, hi, lo_rule, hi_rule = (
                limits.min_train_records,
                limits.max_train_records,
                "records.min_train",
                "records.max_train",
            )
            max_bytes = limits.max_train_file_bytes
        else:
            lo, hi, lo_rule, hi_rule = (
                limits.min_validation_records,
                limits.max_validation_records,
                "records.min_validation",
                "records.max_validation",
            )
            max_bytes = limits.max_validation_file_bytes
        if lo is not None and records < lo:
            sink.add(
                None,
                "",
                lo_rule,
                f"{_n(records, self.role + ' record')}; {model.name} needs at least {_fmt_int(lo)}",
                "add records (or duplicate a small set) before training",
            )
        if hi is not None and records > hi:
            sink.add(
                None,
                "",
                hi_rule,
                f"{_n(records, self.role + ' record')}; {model.name} takes at most {_fmt_int(hi)}",
                "sample or split the data (Dataset.split / head)",
            )
        if max_bytes is not None and size is not None and size > max_bytes:
            sink.add(
                None,
                "",
                "file.size",
                f"the {self.role} file is {_fmt_int(size)} bytes; {model.name} takes "
                f"at most {_fmt_int(max_bytes)}",
                "sample the data or shorten records",
            )
    return ValidationReport(
        source=self.source,
        format=fmt,
        model=model.id if model is not None else None,
        total_lines=self.total,
        valid_records=self.valid,
        invalid_records=self.invalid,
        blank_lines=self.blank,
        file_bytes=size,
        format_counts=dict(self.format_counts),
        issues=tuple(sorted(sink.issues(), key=_sort_key)),
        rule_counts=sink.rule_counts(),
        max_issues_per_rule=sink.cap,
    )
