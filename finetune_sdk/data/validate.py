"""Validate datasets against their wire format and a target model's catalog limits, streaming.

Every record is checked with hand-written code on the raw ``dict`` (no pydantic per record), in one pass,
with memory bounded by the issue cap of the report, so a 1 GB file validates in flat memory. The rules,
by id (see :data:`finetune_sdk.data.report.RULES` for the full list):

- reading: ``encoding.bom``, ``encoding.invalid_utf8``, ``line.blank``, ``json.malformed``,
  ``json.duplicate_key``, ``json.not_object`` (see :mod:`finetune_sdk.data.io`);
- format: ``format.unknown``, ``format.mismatch``, ``mixed_formats`` (counted over all lines, not
  sampled), ``format.wrong_for_model`` (with the conversion to run), ``schema.*``;
- conversations: ``messages.too_few``, ``roles.invalid``, ``roles.first_user``, ``roles.last_assistant``,
  ``roles.alternation``, ``roles.system_position``, ``content.empty``, ``content.block``;
- model: ``reserved_string``, ``system.multiple_blocks`` (Llama 3.2/3.3), ``turns.multi_turn``,
  ``media.*`` (support, counts, formats, URIs, same bucket, no images and videos in one dataset),
  ``tokens.max_per_record``, ``tokens.max_input``, ``tokens.max_output``;
- dataset: ``records.empty``, ``records.min_train``, ``records.max_train``, ``records.min_validation``,
  ``records.max_validation``, ``records.max_total`` (training + validation), ``file.size``.

Most users call :meth:`finetune_sdk.data.Dataset.validate`; these functions are its engine.

Examples:
    >>> import io
    >>> from finetune_sdk.data.validate import validate_jsonl
    >>> data = io.BytesIO(b'{"messages": [{"role": "user", "content": "hi"}]}\\n')
    >>> report = validate_jsonl(data, model="anthropic.claude-3-haiku-20240307-v1:0:200k")
    >>> [(i.line, i.rule) for i in report.issues]
    [(None, 'records.min_train'), (1, 'messages.too_few')]
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from finetune_sdk.data import _validate_rules as _rules
from finetune_sdk.data import formats as _formats
from finetune_sdk.data._validate_rules import _FIRST_LINES, _accepted_formats, _fmt_int, _n
from finetune_sdk.data.distillation import (
    PURPOSES,
    Purpose,
    prompt_problems,
)
from finetune_sdk.data.formats import (
    CONVERT_HINT,
    DROP_KINDS,
    Converter,
    Facts,
    Problem,
    WireFormat,
    accepts,
    detect_format,
    natural_format,
)
from finetune_sdk.data.formats._base import FastRules, reserved_groups
from finetune_sdk.data.io import (
    BOM,
    MAX_JSON_DEPTH,
    JsonLine,
    Source,
    dumps_line,
    fast_codec,
    has_big_int,
    is_s3_uri,
    iter_lines,
    may_be_too_deep,
    open_binary,
    parse_line,
    parse_s3_uri,
    source_size,
    too_deep,
)
from finetune_sdk.data.records import Record, TextRecord
from finetune_sdk.data.report import (
    DEFAULT_MAX_ISSUES_PER_RULE,
    RULES,
    Issue,
    IssueSink,
    RuleCount,
    ValidationReport,
)
from finetune_sdk.errors import ConfigurationError

if TYPE_CHECKING:
    from finetune_sdk.catalog import BaseModelInfo
    from finetune_sdk.data.tokens import TokenCounter

__all__ = [
    "Role",
    "StreamValidator",
    "array_file_issue",
    "combine_reports",
    "dataset_bucket",
    "looks_like_json_array",
    "resolve_model",
    "validate_jsonl",
    "validate_objects",
    "validate_records",
]

Role = Literal["train", "validation"]


def resolve_model(model: str | BaseModelInfo | None) -> BaseModelInfo | None:
    """The catalog entry for ``model`` (an id, a unique fragment, or an entry).

    Raises:
        CatalogError: the id is not in the catalog.
    """
    if model is None or not isinstance(model, str):
        return model
    from finetune_sdk import catalog  # the catalog loads on first use, not at import

    return catalog.get(model)


class StreamValidator:
    """Validates one stream of records (a training or a validation file) line by line.

    Feed it :class:`~finetune_sdk.data.io.JsonLine` values (:meth:`feed_line`) or raw objects
    (:meth:`feed_object`), then call :meth:`finish`. State is O(1) apart from the capped issues.
    """

    def __init__(
        self,
        *,
        model: BaseModelInfo | None = None,
        format: str | None = None,
        token_counter: TokenCounter | None = None,
        role: Role = "train",
        source: str | None = None,
        dataset_bucket: str | None = None,
        max_issues_per_rule: int = DEFAULT_MAX_ISSUES_PER_RULE,
        count_bytes: bool = False,
        purpose: Purpose = "fine_tuning",
    ) -> None:
        if format is not None:
            _formats.get(format)  # fail early on unknown names
        if model is not None:
            model.require_data_support()
        self.distill = _check_purpose(purpose, format) == "distillation"
        if self.distill:
            format = "bedrock_conversation"
        self.model = model
        self.forced = format
        self.role = role
        self.source = source
        self.dataset_bucket = dataset_bucket
        self.sink = IssueSink(cap=max_issues_per_rule, source=source)
        self.allowed: tuple[str, ...] | None = (
            (format,) if format is not None else (_accepted_formats(model) if model is not None else None)
        )
        self.primary = format or (model.format if model is not None else None)
        self._primary_module: WireFormat | None = _formats.get(self.primary) if self.primary else None
        self._primary_count = 0  # clean records of the primary format (the fast path counts them here)
        self._primary_first: list[int] = []
        self.total = 0
        self.valid = 0
        self.invalid = 0
        self.blank = 0
        self.nbytes = 0
        self.count_bytes = count_bytes
        self.array_file = False  # the file is one JSON array: only that is reported
        self.format_counts: dict[str, int] = {}
        self.first_lines: dict[str, list[int]] = {}
        self._bm_plain = 0  # bedrock_messages lines without top-level system (also valid openai_chat)
        self.first_image: int | None = None
        self.first_video: int | None = None
        self._modules: dict[str, WireFormat] = {name: _formats.get(name) for name in _formats.FORMATS}
        # Model rules, flattened into attributes for the hot loop.
        limits = model.limits if model is not None else None
        self.reserved: tuple[str, ...] = limits.reserved_strings if limits else ()
        self._reserved_groups = reserved_groups(self.reserved)
        self.max_tokens = limits.max_tokens_per_record if limits else None
        self.max_input = limits.max_input_tokens if limits else None
        self.max_output = limits.max_output_tokens if limits else None
        self.single_system_block = bool(limits and limits.single_system_block)
        self.multi_turn = limits.multi_turn if limits else True
        self.check_tokens = bool(self.max_tokens or self.max_input or self.max_output)
        from finetune_sdk.data.tokens import HeuristicCounter, counter_for

        counter = token_counter if token_counter is not None else (counter_for(model) if model else None)
        self.counter = counter
        self.cpt: float | None = counter.chars_per_token if type(counter) is HeuristicCounter else None
        self.counter_desc = (
            f"estimated at {self.cpt:g} characters per token"
            if self.cpt is not None
            else "counted by the token counter"
        )
        self.strict_schema = model is not None and model.family.startswith("llama")
        make_fast = getattr(self._primary_module, "fast_validator", None)
        self._fast: Callable[[Mapping[str, Any]], int] | None = None
        if make_fast is not None and (self.cpt is not None or not self.check_tokens):
            self._fast = make_fast(
                FastRules(
                    reserved=self.reserved,
                    chars_per_token=self.cpt,
                    max_tokens=self.max_tokens,
                    max_input=self.max_input,
                    max_output=self.max_output,
                    multi_turn=self.multi_turn,
                    single_system_block=self.single_system_block,
                )
            )
        if self.distill:
            self._fast = None  # the prompt rules differ from the fine-tuning ones the fast checks enforce
        # The raw-line path of feed_binary: the format's key check, the reserved words as they are written in
        # JSON, and the line length up to which no record can break a token limit.
        make_keys = getattr(self._primary_module, "key_validator", None)
        self._keys: Callable[[Mapping[str, Any]], int] | None = None
        if make_keys is not None and self._fast is not None:
            self._keys = make_keys(FastRules(
                reserved=self.reserved,
                chars_per_token=self.cpt,
                max_tokens=self.max_tokens,
                max_input=self.max_input,
                max_output=self.max_output,
                multi_turn=self.multi_turn,
                single_system_block=self.single_system_block,
            ))
        self._raw_reserved = tuple(json.dumps(w, ensure_ascii=False)[1:-1].encode() for w in self.reserved)
        # Reserved words as they appear in a line without any backslash (words holding "\n" cannot), split by
        # whether they hold a colon (they cannot occur when the line has no colon beyond its keys).
        plain = [w for w in self._raw_reserved if b"\\" not in w]
        self._plain_colon_words = tuple(w for w in plain if b":" in w)
        self._plain_other_words = tuple(w for w in plain if b":" not in w)
        token_limits = [x for x in (self.max_tokens, self.max_input, self.max_output) if x is not None]
        self._raw_limit = (
            int((min(token_limits) - 2) * self.cpt) if token_limits and self.cpt is not None else 1 << 62
        )

    # -- feeding --------------------------------------------------------------------------------------------

    def feed_binary(self, fh: Iterable[bytes]) -> None:
        """Feed every physical line of a binary file: the hot loop of file validation.

        Lines that orjson parses into an object without duplicate keys (see
        :func:`~finetune_sdk.data.io.parse_line` for the colon test) go straight to the record checks,
        and records the format's ``fast_validator`` passes are only counted; every other line goes
        through ``parse_line`` and the full checks, which produce the same verdicts with the issues.
        """
        number = self.total
        nbytes = 0
        clean = 0
        first = self._primary_first
        fast = self._fast
        keys = self._keys
        raw_reserved = self._raw_reserved
        colon_words = self._plain_colon_words
        other_words = self._plain_other_words
        raw_limit = self._raw_limit
        record = self._record
        feed_line = self._feed_line
        codec = fast_codec()
        try:
            if codec is None:
                for raw in fh:
                    number += 1
                    feed_line(parse_line(raw, number))
                return
            loads, dumps = codec
            for raw in fh:
                number += 1
                try:
                    obj = loads(raw)
                except Exception:
                    obj = None
                # a BOM is only looked for on line 1; deep nesting is parse_line's to report
                if type(obj) is not dict or number == 1 or may_be_too_deep(raw):
                    feed_line(parse_line(raw, number))
                    continue
                # The raw-line path, for lines too short to break a token limit: the record's structure fixes
                # how many keys it holds (k). Each key ends in '":', and so does nothing else in a line without
                # backslashes (a '"' inside a string is escaped), so k such pairs prove no key is extra or
                # repeated; as many colons in all prove the strings hold none (and no reserved word with one).
                # Single-byte scans (memchr) are cheap; substring searches cost about as much as parsing.
                if keys is not None and len(raw) <= raw_limit:
                    k = keys(obj)
                    if k >= 0:
                        if b"\\" not in raw:
                            if raw.count(b":") == k:
                                ok = True
                                for w in other_words:
                                    if w in raw:
                                        ok = False
                                        break
                            elif raw.count(b'":') == k:
                                ok = True
                                for w in colon_words + other_words:
                                    if w in raw:
                                        ok = False
                                        break
                            else:
                                ok = False
                        else:  # escapes: no \u (it can hide anything), and the reserved words as JSON writes them
                            ok = b"\\u" not in raw and raw.count(b'":') == k
                            if ok:
                                for w in raw_reserved:
                                    if w in raw:
                                        ok = False
                                        break
                        if ok:
                            nbytes += len(raw)
                            clean += 1
                            if len(first) < _FIRST_LINES:
                                first.append(number)
                            continue
                if fast is not None:
                    colons = fast(obj)
                    if colons >= 0 and raw.count(b":") == colons and b"\\u003" not in raw:
                        nbytes += len(raw)
                        clean += 1
                        if len(first) < _FIRST_LINES:
                            first.append(number)
                        continue
                if raw.count(b":") != dumps(obj).count(b":") or b"\\u003" in raw or has_big_int(raw):
                    feed_line(parse_line(raw, number))  # maybe a duplicate key or a huge int: json decides
                    continue
                nbytes += len(raw)
                record(number, obj)
        finally:
            self.total = number
            self.nbytes += nbytes
            self.valid += clean
            self._primary_count += clean

    def feed_line(self, jl: JsonLine) -> None:
        """Account for one physical line."""
        self.total += 1
        self._feed_line(jl)

    def _feed_line(self, jl: JsonLine) -> None:
        self.nbytes += jl.nbytes
        if jl.issues:
            add = self.sink.add
            for i in jl.issues:
                add(jl.number, i.path, i.rule, i.message, i.hint, i.severity)
            if jl.kind == "blank":
                self.blank += 1
                return
            if jl.kind == "invalid":
                self.invalid += 1
                return
        self._record(jl.number, jl.value)  # type: ignore[arg-type]

    def feed_object(self, number: int, obj: Any) -> None:
        """Account for one in-memory record (``number`` is its 1-based position or source line)."""
        self.total += 1
        if isinstance(obj, Mapping) and too_deep(obj):  # the limit every later serialisation relies on
            self.sink.add(number, "", "json.too_deep",
                          f"objects and arrays are nested more than {MAX_JSON_DEPTH} levels deep",
                          f"flatten the record to at most {MAX_JSON_DEPTH} levels; no model input needs more")
            self.invalid += 1
            return
        if self.count_bytes:
            self.nbytes += len(dumps_line(obj))
        fast = self._fast
        if fast is not None and type(obj) is dict and fast(obj) >= 0:
            self.valid += 1
            self._primary_count += 1
            if len(self._primary_first) < _FIRST_LINES:
                self._primary_first.append(number)
            return
        if not isinstance(obj, Mapping):
            self.sink.add(
                number,
                "",
                "json.not_object",
                f"the record is a {type(obj).__name__}, not an object",
                "each record must be a JSON object (a dict)",
            )
            self.invalid += 1
            return
        self._record(number, obj)

    def feed_problem(self, number: int, problem: Problem) -> None:
        """Account for a record that could not be turned into a wire object at all (counted invalid)."""
        self.total += 1
        path, rule, message, hint, severity = problem
        self.sink.add(number, path, rule, message, hint, severity)
        self.invalid += 1

    def _record(self, number: int, obj: Mapping[str, Any]) -> None:
        if self.distill:
            self._distill_record(number, obj)
            return
        primary = self._primary_module
        fmt: str | None
        if primary is not None:
            # Fast path: check in the expected format first; detection runs only for records with problems.
            facts, problems = primary.check(obj)
            if not problems and facts is not None:
                self._primary_count += 1
                if len(self._primary_first) < _FIRST_LINES:
                    self._primary_first.append(number)
                if facts.media:
                    self._media(number, facts, problems)
                if self.model is not None:
                    self._model_rules(facts, problems)
                if problems:
                    self._add(number, problems)
                else:
                    self.valid += 1
                return
            name = self.primary
            assert name is not None
            detected = detect_format(obj)
            if detected is None or detected == name or accepts(name, detected, obj):
                self._finish_record(number, name, facts, problems)
                return
            primary_result: tuple[Facts | None, list[Problem]] | None = (facts, problems)
        else:
            detected = detect_format(obj)
            primary_result = None
        allowed = self.allowed
        if allowed is None:
            fmt = detected
            if fmt is None:
                keys = ", ".join(repr(k) for k in list(obj)[:6]) or "none"
                self._count_format("unknown", number)
                self._add(
                    number,
                    [
                        (
                            "",
                            "format.unknown",
                            f"the record matches no known format (keys: {keys})",
                            f"use one of: {', '.join(_formats.FORMATS)}",
                            None,
                        )
                    ],
                )
                return
            if fmt == "bedrock_messages" and "system" not in obj:
                self._bm_plain += 1
        elif detected in allowed:
            fmt = detected
        else:
            fmt = next((a for a in allowed if accepts(a, detected, obj)), None)
            if fmt is None:
                # The file's format was decided once (the model's, or the one asked for): a line is reported
                # as another format only when it is a sound record of that format; otherwise it is a broken
                # record of the file's format, and its advice is that format's, never another's.
                assert detected is not None  # accepts() takes every unrecognisable record
                _, other = self._modules[detected].check(obj)
                if not any((sev or RULES[rule][0]) == "error" for _, rule, _, _, sev in other):
                    mismatch: Problem = (
                        "",
                        "format.mismatch",
                        f"the record is {detected}, not {self.primary}",
                        CONVERT_HINT.format(fmt=self.primary),
                        None,
                    )
                    self._finish_record(number, detected, None, [mismatch])
                    return
                assert self.primary is not None
                if primary_result is None:
                    primary_result = self._modules[self.primary].check(obj)
                self._finish_record(number, self.primary, *primary_result)
                return
        assert fmt is not None
        facts, problems = self._modules[fmt].check(obj)
        self._finish_record(number, fmt, facts, problems)

    def _distill_record(self, number: int, obj: Mapping[str, Any]) -> None:
        """One distillation prompt: the ``bedrock_conversation`` check adapted by the prompt rules."""
        detected = detect_format(obj)
        if detected is not None and detected != "bedrock_conversation":
            _, other = self._modules[detected].check(obj)
            if not any((sev or RULES[rule][0]) == "error" for _, rule, _, _, sev in other):
                mismatch: Problem = (
                    "",
                    "format.mismatch",
                    f"the record is {detected}, not a bedrock_conversation distillation prompt",
                    CONVERT_HINT.format(fmt="bedrock_conversation"),
                    None,
                )
                self._finish_record(number, detected, None, [mismatch])
                return
        _, problems = self._modules["bedrock_conversation"].check(obj)
        self._count_format("bedrock_conversation", number)
        problems = prompt_problems(obj, problems)
        if problems:
            self._add(number, problems)
        else:
            self.valid += 1

    def _finish_record(self, number: int, fmt: str, facts: Facts | None, problems: list[Problem]) -> None:
        self._count_format(fmt, number)
        if facts is not None:
            if facts.media:
                self._media(number, facts, problems)
            if self.model is not None:
                self._model_rules(facts, problems)
        if problems:
            self._add(number, problems)
        else:
            self.valid += 1

    def _count_format(self, fmt: str, number: int) -> None:
        n = self.format_counts.get(fmt)
        if n is None:
            self.format_counts[fmt] = 1
            self.first_lines[fmt] = [number]
        else:
            self.format_counts[fmt] = n + 1
            first = self.first_lines[fmt]
            if len(first) < self.sink.cap:
                first.append(number)

    def _add(self, number: int, problems: list[Problem]) -> None:
        bad = False
        add = self.sink.add
        for path, rule, message, hint, severity in problems:
            if rule == "schema.version" and self.strict_schema:
                severity = "error"
            sev = severity or RULES[rule][0]
            if sev == "error":
                bad = True
            add(number, path, rule, message, hint, sev)
        if bad:
            self.invalid += 1
        else:
            self.valid += 1

    # -- model rules ----------------------------------------------------------------------------------------

    # The per-record model rules and the file-level rules live in _validate_rules (functions of the validator,
    # bound here as methods: no extra call in the hot loop).
    _media = _rules.media
    _model_rules = _rules.model_rules

    # -- finishing ------------------------------------------------------------------------------------------

    @property
    def records(self) -> int:
        """Non-blank lines: what the service would count as records."""
        return self.total - self.blank

    _finish_formats = _rules.finish_formats
    _prompt_limits = _rules.prompt_limits

    def finish(self, *, file_bytes: int | None = None) -> ValidationReport:
        """Run the file-level checks and return the report of this stream."""
        return _rules.finish(self, file_bytes=file_bytes)


def looks_like_json_array(first_line: bytes, second_line: bytes = b"") -> bool:
    """Whether a file starting with these lines is one JSON array of records (a ``.json`` file) rather than
    JSON Lines: the first line is ``[`` alone, the start of an array that continues on the next lines, or a
    whole array holding objects with nothing after it. A JSONL line that is an array (of numbers, or
    followed by more lines) is left to ``json.not_object``."""
    head = first_line.removeprefix(BOM).strip()
    if not head.startswith(b"["):
        return False
    if head == b"[":
        return True
    try:
        value = json.loads(head)
    except ValueError:
        return True  # '[{"a": 1},' : the first line of a pretty-printed or wrapped array
    return type(value) is list and any(type(v) is dict for v in value) and not second_line.strip()


def array_file_issue(source: str | None) -> Issue:
    """The one file-level issue of a JSON-array file, at line 1, with the conversion to run."""
    where = source or "PATH"
    return Issue(
        line=1,
        rule="json.array_file",
        severity="error",
        message="the file is one JSON array ([{...}, {...}]), not JSON Lines; Bedrock reads one JSON object per "
        "line, so no line of this file is a record",
        hint=f"convert it: Dataset.from_json({where!r}).to_jsonl('train.jsonl'), or "
        f"`finetune data convert {where} --to FORMAT -o train.jsonl` (raw AQuA-RAT or TAT-QA files: "
        f"`finetune data import aqua|tatqa {where} -o train.jsonl`)",
        source=source,
    )


def _check_purpose(purpose: str, format: str | None) -> str:
    if purpose not in PURPOSES:
        raise ConfigurationError(f"purpose must be one of {', '.join(PURPOSES)}, got {purpose!r}")
    if purpose == "distillation" and format not in (None, "bedrock_conversation"):
        raise ConfigurationError(
            f"distillation prompts are bedrock_conversation records, not {format}; drop format= or convert "
            "the data with Dataset.convert('bedrock_conversation')"
        )
    return purpose


def dataset_bucket(source: str | None) -> str | None:
    """The S3 bucket of an ``s3://`` dataset source (media must live there), else ``None``."""
    if source is not None and is_s3_uri(source):
        try:
            return parse_s3_uri(source)[0]
        except Exception:
            return None
    return None


def validate_jsonl(
    source: Source,
    *,
    model: str | BaseModelInfo | None = None,
    format: str | None = None,
    token_counter: TokenCounter | None = None,
    role: Role = "train",
    max_issues_per_rule: int = DEFAULT_MAX_ISSUES_PER_RULE,
    session: Any = None,
    endpoint_url: str | None = None,
    purpose: Purpose = "fine_tuning",
) -> ValidationReport:
    """Validate a JSONL file (path, ``s3://`` URI or binary file object), streaming.

    Returns:
        The :class:`ValidationReport` of the file.

    Raises:
        DataError: the file cannot be opened.
        CatalogError: ``model`` is not in the catalog.
        ConfigurationError: ``format`` is not a known format name.
    """
    info = resolve_model(model)
    name = str(source) if not hasattr(source, "read") else getattr(source, "name", None)
    v = StreamValidator(
        model=info,
        format=format,
        token_counter=token_counter,
        role=role,
        source=name if isinstance(name, str) else None,
        dataset_bucket=dataset_bucket(name if isinstance(name, str) else None),
        max_issues_per_rule=max_issues_per_rule,
        purpose=purpose,
    )
    with open_binary(source, session=session, endpoint_url=endpoint_url) as fh:
        lines = iter_lines(fh)  # bounded line reads: a huge line is reported, not loaded
        first = next(lines, b"")
        second = next(lines, b"") if first.lstrip(BOM).lstrip().startswith(b"[") else b""
        if second:
            first_lines: tuple[bytes, ...] = (first, second)
        else:
            first_lines = (first,) if first else ()
        if looks_like_json_array(first, second):
            # One clear issue instead of an error per line (and record counts that count lines).
            count = len(first_lines) + sum(1 for _ in lines)
            v.sink.add(1, "", "json.array_file", (i := array_file_issue(v.source)).message, i.hint)
            v.total = v.invalid = count
            v.array_file = True
        else:
            v.feed_binary(itertools.chain(first_lines, lines))
    size = source_size(source, session=session, endpoint_url=endpoint_url) if v.total else None
    return v.finish(file_bytes=size)


def validate_objects(
    objects: Iterable[Any],
    *,
    model: str | BaseModelInfo | None = None,
    format: str | None = None,
    token_counter: TokenCounter | None = None,
    role: Role = "train",
    source: str | None = None,
    lines: Iterable[int] | None = None,
    max_issues_per_rule: int = DEFAULT_MAX_ISSUES_PER_RULE,
    purpose: Purpose = "fine_tuning",
) -> ValidationReport:
    """Validate in-memory wire records (dicts). Issue ``line`` is the 1-based position, or the matching
    entry of ``lines`` (e.g. CSV line numbers) when given.

    Raises:
        CatalogError: ``model`` is not in the catalog.
        ConfigurationError: ``format`` is not a known format name.
    """
    info = resolve_model(model)
    v = _in_memory_validator(info, format, token_counter, role, source, max_issues_per_rule, purpose)
    numbers = iter(lines) if lines is not None else None
    for i, obj in enumerate(objects, 1):
        v.feed_object(next(numbers, i) if numbers is not None else i, obj)
    return v.finish()


def _in_memory_validator(
    info: BaseModelInfo | None,
    format: str | None,
    token_counter: TokenCounter | None,
    role: Role,
    source: str | None,
    max_issues_per_rule: int,
    purpose: Purpose = "fine_tuning",
) -> StreamValidator:
    """A validator for objects or records held in memory: file sizes are counted only when the model limits them."""
    return StreamValidator(
        model=info,
        format=format,
        token_counter=token_counter,
        role=role,
        source=source,
        dataset_bucket=dataset_bucket(source),
        max_issues_per_rule=max_issues_per_rule,
        count_bytes=purpose == "distillation"
        or bool(info and (info.limits.max_train_file_bytes or info.limits.max_validation_file_bytes)),
        purpose=purpose,
    )


def validate_records(
    records: Iterable[Record],
    *,
    model: str | BaseModelInfo | None = None,
    format: str | None = None,
    token_counter: TokenCounter | None = None,
    role: Role = "train",
    source: str | None = None,
    max_issues_per_rule: int = DEFAULT_MAX_ISSUES_PER_RULE,
    purpose: Purpose = "fine_tuning",
) -> ValidationReport:
    """Validate canonical records as they would be written: each is rendered in ``format`` (default: the
    model's format, else the lossless ``bedrock_conversation``/``text``) and the wire dict is checked.
    What rendering loses is one ``format.conversion_loss`` warning; a record the format cannot hold at all
    is a ``format.mismatch`` error at its position.

    Raises:
        CatalogError: ``model`` is not in the catalog.
        ConfigurationError: ``format`` is not a known format name.
    """
    info = resolve_model(model)
    accepted = _accepted_formats(info) if info is not None else ()
    v = _in_memory_validator(info, format, token_counter, role, source, max_issues_per_rule, purpose)
    converters: dict[str, Converter] = {}
    for i, record in enumerate(records, 1):
        if format is not None:
            fmt = format
        elif v.distill:
            fmt = "bedrock_conversation"
        elif info is not None:  # the model's format; text records as text where the model takes it (CPT)
            fmt = "text" if isinstance(record, TextRecord) and "text" in accepted else info.format
        else:
            fmt = natural_format(record)
        conv = converters.get(fmt) or converters.setdefault(fmt, Converter(fmt))
        obj = conv.render(record, i)
        if obj is None:
            kind = "text record" if isinstance(record, TextRecord) else "record"
            v.feed_problem(
                i,
                (
                    "",
                    "format.mismatch",
                    f"a {kind} cannot be written as {fmt}",
                    "drop it, or pick a format that holds it",
                    None,
                ),
            )
        else:
            v.feed_object(i, obj)
    for conv in converters.values():
        losses = conv.report()
        # Records that cannot be written at all are errors at their line already.
        kept = {k: n for k, n in losses.losses.items() if k not in DROP_KINDS}
        if kept:
            v.sink.add(
                None,
                "",
                "format.conversion_loss",
                f"writing these records as {conv.target} loses information: "
                + ", ".join(
                    f"{k} ({_n(n, 'record')}, e.g. {', '.join(map(str, losses.examples[k]))})"
                    for k, n in sorted(kept.items())
                ),
                "check Dataset.convert(...).last_report, or pick a format that keeps it",
            )
    return v.finish()


def combine_reports(
    train: ValidationReport, validation: ValidationReport | None, *, model: BaseModelInfo | None
) -> ValidationReport:
    """The training report with the validation report nested and merged in, plus cross-file checks
    (training + validation records against the model's total)."""
    if validation is None:
        return train
    extra: list[Issue] = []
    limits = model.limits if model is not None else None
    total = (train.total_lines - train.blank_lines) + (validation.total_lines - validation.blank_lines)
    if limits is not None and limits.max_total_records is not None and total > limits.max_total_records:
        assert model is not None
        extra.append(
            Issue(
                line=None,
                rule="records.max_total",
                severity="error",
                message=f"{_fmt_int(total)} training + validation records; {model.name} takes at most "
                f"{_fmt_int(limits.max_total_records)} in all",
                hint="shrink the training or the validation set",
                source=train.source,
            )
        )
    # Validation issues carry their own source so a merged list still says which file they are in.
    val_source = validation.source or "<validation>"
    val_issues = tuple(
        i if i.source else i.model_copy(update={"source": val_source}) for i in validation.issues
    )
    nested = validation.model_copy(update={"issues": val_issues, "source": val_source})
    counts: dict[tuple[str, str], int] = {}
    for c in (*train.rule_counts, *validation.rule_counts):
        counts[(c.rule, c.severity)] = counts.get((c.rule, c.severity), 0) + c.count
    for i in extra:
        counts[(i.rule, i.severity)] = counts.get((i.rule, i.severity), 0) + 1
    return train.model_copy(
        update={
            "issues": tuple(extra) + train.issues + val_issues,
            "rule_counts": tuple(
                RuleCount(rule=r, severity=s, count=n)  # type: ignore[arg-type]
                for (r, s), n in sorted(counts.items())
            ),
            "validation": nested,
        }
    )
