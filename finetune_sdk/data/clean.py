"""Text cleaning for datasets: Unicode NFC, whitespace, control characters, empty records, PII redaction.

:func:`clean_records` rewrites every text field of every record (the system prompt, each text part of each
turn, the text of a :class:`~finetune_sdk.data.records.TextRecord`); media parts and metadata are left
alone. It returns the cleaned records and a :class:`CleanReport` that counts what changed, so a cleaning
step in a pipeline is auditable.

What each option does:

- ``strip_control``: removes C0/C1 control characters except tab and newline, lone surrogates (they
  cannot be written as UTF-8), the byte-order mark, zero-width space, word joiner and the bidirectional
  embedding/override/isolate controls (the "Trojan Source" characters). Carriage returns, vertical tabs,
  form feeds and NEL become newlines, so lines are not glued together.
- ``normalize_unicode``: NFC, so visually identical strings compare and hash equal.
- ``normalize_whitespace``: CRLF/CR become LF; Unicode space separators become a plain space; trailing
  spaces and tabs are removed from each line; runs of two or more spaces/tabs after text collapse to one
  space (indentation at the start of a line is kept, so code survives); three or more newlines become one
  blank line; the text is stripped at both ends.
- ``drop_empty``: drops records with no content left: a text record with empty text, or a conversation
  whose turns hold neither text nor media (a system prompt alone teaches nothing).
- ``redact_pii``: replaces e-mail addresses, phone numbers, payment card numbers (only digit runs that
  pass the Luhn check) and AWS access key ids (``AKIA``/``ASIA``...) with ``[EMAIL]``, ``[PHONE]``,
  ``[CREDIT_CARD]`` and ``[AWS_ACCESS_KEY_ID]``; and secrets: AWS secret access keys (labelled, or a
  40-character key on the same line as a key id), AWS session tokens, PEM private keys, JWTs, GitHub, Slack,
  Stripe, Google and OpenAI token formats, and the password of a connection URL (``scheme://user:[PASSWORD]@host``;
  the label, user and host are kept). ``True`` means every kind in :data:`PII_KINDS`; a collection of names
  picks some.

Examples:
    >>> from finetune_sdk.data.clean import clean_records
    >>> from finetune_sdk.data.records import Conversation, TextRecord
    >>> records = [
    ...     Conversation.from_pairs("Mail  me at ann@example.com ", "Sure.\\r\\n"),
    ...     TextRecord(text="  \\x00 "),
    ... ]
    >>> cleaned, report = clean_records(records, redact_pii=True)
    >>> cleaned[0].turns[0].text, cleaned[0].turns[1].text
    ('Mail me at [EMAIL]', 'Sure.')
    >>> report.dropped_indexes, report.pii_counts["email"]
    ((1,), 1)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping
from html import escape

from pydantic import BaseModel, ConfigDict, Field

from finetune_sdk.data.records import MediaPart, Record, TextPart, TextRecord, Turn
from finetune_sdk.errors import ConfigurationError

__all__ = ["PII_KINDS", "PII_PLACEHOLDERS", "CleanReport", "clean_records", "luhn_valid"]

#: the kinds of personal data and secrets :func:`clean_records` can redact, in the order they are applied
#: (secrets first: a password in ``postgres://u:pw@host.com`` must go before the e-mail pattern sees it)
PII_KINDS: tuple[str, ...] = (
    "private_key",
    "connection_password",
    "aws_secret_access_key",
    "aws_session_token",
    "jwt",
    "github_token",
    "slack_token",
    "stripe_key",
    "google_credential",
    "openai_key",
    "aws_access_key_id",
    "email",
    "credit_card",
    "phone",
)

#: what each kind is replaced with
PII_PLACEHOLDERS: Mapping[str, str] = {
    "private_key": "[PRIVATE_KEY]",
    "connection_password": "[PASSWORD]",
    "aws_secret_access_key": "[AWS_SECRET_ACCESS_KEY]",
    "aws_session_token": "[AWS_SESSION_TOKEN]",
    "jwt": "[JWT]",
    "github_token": "[GITHUB_TOKEN]",
    "slack_token": "[SLACK_TOKEN]",
    "stripe_key": "[STRIPE_KEY]",
    "google_credential": "[GOOGLE_CREDENTIAL]",
    "openai_key": "[OPENAI_KEY]",
    "aws_access_key_id": "[AWS_ACCESS_KEY_ID]",
    "email": "[EMAIL]",
    "credit_card": "[CREDIT_CARD]",
    "phone": "[PHONE]",
}

# --- control characters -------------------------------------------------------------------------------

_LINE_BREAK_CONTROLS = "\r\x0b\x0c\x85"
_INVISIBLE_FORMAT = "\u200b\u2060\ufeff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_CONTROL_TABLE: dict[int, str | None] = {
    cp: None
    for cp in [*range(0x00, 0x20), *range(0x7F, 0xA0), *range(0xD800, 0xE000)]
    if cp not in (0x09, 0x0A)
}
_CONTROL_TABLE.update({ord(c): "\n" for c in _LINE_BREAK_CONTROLS})
_CONTROL_TABLE.update({ord(c): None for c in _INVISIBLE_FORMAT})
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff" + _INVISIBLE_FORMAT + "]")

# --- whitespace ---------------------------------------------------------------------------------------

_SPACE_TABLE: dict[int, str] = {
    cp: " " for cp in (0xA0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000)
}
_SPACE_TABLE.update({0x2028: "\n", 0x2029: "\n"})
_TRAILING_RE = re.compile(r"[ \t]+(?=\n)")
_INNER_RUN_RE = re.compile(r"(?<=[^\s])[ \t]{2,}")
_BLANK_LINES_RE = re.compile(r"\n{3,}")

# --- personal data ------------------------------------------------------------------------------------

_AWS_KEY_RE = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])")
_EMAIL_RE = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])"
)
# Card numbers as people write them: 13-19 digits in one run, 4-4-4-(1..7) groups, or Amex/Diners 4-6-4/5,
# each with one consistent separator. Arbitrary digit soup is not matched, which keeps maths data intact.
_CARD_RE = re.compile(
    r"(?<![\w.,-])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{4,5})(?![\w]|[.,-]\d)"
)
# Phone numbers need structure: a leading "+" (international, 8-15 digits) or the North American
# 3-3-4 shape with separators. Bare digit runs are numbers, not phones.
_PHONE_RE = re.compile(
    r"(?<![\w+.,-])(?:"
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"
    r"|(?:1[ .-])?(?:\(\d{3}\)[ .]?|\d{3}[ .-])\d{3}[ .-]\d{4}"
    r")(?![\w]|[.,-]\d)"
)
_NON_DIGIT_RE = re.compile(r"\D")

# --- secrets ------------------------------------------------------------------------------------------
# Patterns with a group named "secret" replace only that group (the label, user name and host stay).

_B = r"(?<![A-Za-z0-9_-])"  # a token starts here
_E = r"(?![A-Za-z0-9_-])"  # and ends here
_PEM_RE = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s:,-]*)"
)
_CONN_PASSWORD_RE = re.compile(
    r"(?<![\w.+-])[A-Za-z][A-Za-z0-9+.-]{1,30}://[^\s:/@?#'\"<>]{0,128}:(?P<secret>[^\s@/?#'\"<>]{1,256})@"
    r"(?=[A-Za-z0-9\[])"
)
_AWS_SECRET_40 = r"(?=[A-Za-z0-9/+]{0,39}[a-z])(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[0-9/+])" \
    r"[A-Za-z0-9/+]{40}"
_AWS_SECRET_RE = re.compile(
    # labelled: aws_secret_access_key = ..., "SecretAccessKey": "...", AWS_SECRET_ACCESS_KEY=...
    r"(?i:(?:aws)?[_ .-]?secret[_ .-]?(?:access)?[_ .-]?key(?:[_ .-]?id)?)[\"']?\s*[:=]\s*[\"']?"
    r"(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
    # beside a key id (either order, on one line, up to 80 characters apart)
    r"|(?<=(?:AKIA|ASIA)[A-Z0-9]{16})(?P<gap1>[^\n]{1,80}?)(?<![A-Za-z0-9/+=])"
    r"(?P<secret2>" + _AWS_SECRET_40 + r")"
    r"(?![A-Za-z0-9/+=])"
    r"|(?<![A-Za-z0-9/+=])(?P<secret3>" + _AWS_SECRET_40 + r")(?![A-Za-z0-9/+=])"
    r"(?=[^\n]{1,80}?(?:AKIA|ASIA)[A-Z0-9]{16})"
)
_AWS_SESSION_TOKEN_RE = re.compile(
    r"(?i:(?:aws)?[_ .-]?session[_ .-]?token|x-amz-security-token|security[_ .-]?token)[\"']?\s*[:=]\s*[\"']?"
    r"(?P<secret>[A-Za-z0-9/+=%]{40,})"
    r"|(?<![A-Za-z0-9/+=])(?:IQoJb3JpZ2luX2|FwoGZXIvYXdz|FQoGZXIvYXdz)[A-Za-z0-9/+=]{40,}"
)
_JWT_RE = re.compile(_B + r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}" + _E)
_GITHUB_RE = re.compile(_B + r"(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})" + _E)
_SLACK_RE = re.compile(
    _B + r"(?:xox[abposre]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,})" + _E
    + r"|https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{20,}"
)
_STRIPE_RE = re.compile(
    _B + r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}" + _E + "|" + _B + r"whsec_[A-Za-z0-9]{24,}" + _E
)
_GOOGLE_RE = re.compile(
    _B + r"(?:AIza[0-9A-Za-z_-]{35}|GOCSPX-[A-Za-z0-9_-]{28}|ya29\.[0-9A-Za-z_-]{20,})" + _E
)
_OPENAI_RE = re.compile(
    _B + r"(?:sk-(?:proj|svcacct|admin|ant(?:-api\d\d)?)-[A-Za-z0-9_-]{20,}|sk-[A-Za-z0-9]{32,})" + _E
)


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn checksum used by payment card numbers.

    Examples:
        >>> luhn_valid("4111111111111111"), luhn_valid("4111111111111112")
        (True, False)
    """
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


class CleanReport(BaseModel):
    """What :func:`clean_records` changed.

    Change counts are numbers of records (a record counts once per kind however many of its fields
    changed); ``pii_counts`` counts redacted occurrences per kind.

    Attributes:
        input_records: records read.
        output_records: records returned (input minus dropped).
        modified_records: returned records with at least one change.
        unicode_normalized: records changed by NFC normalisation.
        whitespace_normalized: records changed by whitespace normalisation.
        control_removed: records that had control or invisible characters removed.
        pii_redacted: records with at least one redaction.
        dropped_empty: records dropped because nothing was left in them.
        dropped_indexes: 0-based input positions of the dropped records.
        pii_counts: redactions per PII kind, for each kind that was asked for (zeros included).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_records: int
    output_records: int
    modified_records: int
    unicode_normalized: int = 0
    whitespace_normalized: int = 0
    control_removed: int = 0
    pii_redacted: int = 0
    dropped_empty: int = 0
    dropped_indexes: tuple[int, ...] = ()
    pii_counts: dict[str, int] = Field(default_factory=dict)

    @property
    def changes(self) -> dict[str, int]:
        """Records changed per kind: ``unicode``, ``whitespace``, ``control``, ``pii``, ``dropped_empty``."""
        return {
            "unicode": self.unicode_normalized,
            "whitespace": self.whitespace_normalized,
            "control": self.control_removed,
            "pii": self.pii_redacted,
            "dropped_empty": self.dropped_empty,
        }

    def _rows(self) -> list[tuple[str, str]]:
        rows = [
            ("records in", str(self.input_records)),
            ("records out", str(self.output_records)),
            ("records modified", str(self.modified_records)),
            ("Unicode normalised (NFC)", str(self.unicode_normalized)),
            ("whitespace normalised", str(self.whitespace_normalized)),
            ("control characters removed", str(self.control_removed)),
            ("records with PII redacted", str(self.pii_redacted)),
            ("empty records dropped", str(self.dropped_empty)),
        ]
        rows.extend((f"PII redacted: {kind}", str(n)) for kind, n in self.pii_counts.items())
        return rows

    def _dropped_summary(self, limit: int = 20) -> str:
        shown = ", ".join(str(i) for i in self.dropped_indexes[:limit])
        more = len(self.dropped_indexes) - limit
        return shown + (f" … and {more} more" if more > 0 else "")

    def to_markdown(self) -> str:
        """A markdown table of the counts, followed by the dropped record indexes."""
        lines = ["| change | records |", "|---|---:|"]
        lines.extend(f"| {name} | {value} |" for name, value in self._rows())
        if self.dropped_indexes:
            lines.extend(["", f"Dropped record indexes (0-based): {self._dropped_summary()}"])
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in self._rows())
        return f"<table><thead><tr><th>change</th><th>records</th></tr></thead><tbody>{rows}</tbody></table>"

    def __str__(self) -> str:
        parts = [
            f"cleaned {self.input_records} records: {self.output_records} kept, "
            f"{self.modified_records} modified, {self.dropped_empty} empty dropped"
        ]
        detail = [f"{k} {v}" for k, v in self.changes.items() if v and k != "dropped_empty"]
        if detail:
            parts.append("changed: " + ", ".join(detail))
        redacted = [f"{k} {v}" for k, v in self.pii_counts.items() if v]
        if redacted:
            parts.append("PII redacted: " + ", ".join(redacted))
        if self.dropped_indexes:
            parts.append(f"dropped indexes: {self._dropped_summary()}")
        return "; ".join(parts)


def _resolve_pii(redact_pii: bool | Collection[str]) -> tuple[str, ...]:
    if redact_pii is True:
        return PII_KINDS
    if redact_pii is False:
        return ()
    wanted = [redact_pii] if isinstance(redact_pii, str) else list(redact_pii)
    unknown = sorted({k for k in wanted if k not in PII_KINDS})
    if unknown:
        raise ConfigurationError(
            f"redact_pii: unknown PII kind(s) {', '.join(map(repr, unknown))}; valid kinds are "
            f"{', '.join(PII_KINDS)}. Pass redact_pii=True for all of them."
        )
    return tuple(k for k in PII_KINDS if k in wanted)


class _Cleaner:
    """Applies the chosen steps to one string at a time and remembers which steps changed it."""

    def __init__(
        self,
        *,
        normalize_unicode: bool,
        normalize_whitespace: bool,
        strip_control: bool,
        pii_kinds: tuple[str, ...],
    ) -> None:
        self.normalize_unicode = normalize_unicode
        self.normalize_whitespace = normalize_whitespace
        self.strip_control = strip_control
        self.pii_kinds = pii_kinds
        self.pii_counts: dict[str, int] = dict.fromkeys(pii_kinds, 0)
        self.touched: set[str] = set()  # change kinds seen in the current record
        self._redactors: list[tuple[str, re.Pattern[str], Callable[[re.Match[str]], str]]] = [
            (kind, _PATTERNS[kind], self._replacer(kind)) for kind in pii_kinds
        ]

    def _replacer(self, kind: str) -> Callable[[re.Match[str]], str]:
        placeholder = PII_PLACEHOLDERS[kind]

        def replace(match: re.Match[str]) -> str:
            text = match.group(0)
            if kind == "credit_card" and not luhn_valid(_NON_DIGIT_RE.sub("", text)):
                return text
            if kind == "phone" and text.startswith("+") and not 8 <= len(_NON_DIGIT_RE.sub("", text)) <= 15:
                return text
            self.pii_counts[kind] += 1
            for group in ("secret", "secret2", "secret3"):  # keep the label, user and host around a secret
                if group in match.re.groupindex and match.group(group) is not None:
                    start, end = match.start(group) - match.start(), match.end(group) - match.start()
                    return text[:start] + placeholder + text[end:]
            return placeholder

        return replace

    def clean(self, text: str) -> str:
        if self.strip_control and _CONTROL_RE.search(text):
            new = text.replace("\r\n", "\n").translate(_CONTROL_TABLE)
            if new != text:
                self.touched.add("control")
                text = new
        if self.normalize_unicode and not text.isascii() and not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
            self.touched.add("unicode")
        if self.normalize_whitespace:
            new = _normalize_whitespace(text)
            if new != text:
                self.touched.add("whitespace")
                text = new
        for kind, pattern, replace in self._redactors:
            needles = _NEEDLES.get(kind)
            if needles is not None and not any(n in text for n in needles):
                continue  # cheap substring filter: the regex cannot match without one of these
            new = pattern.sub(replace, text)
            if new != text:
                self.touched.add("pii")
                text = new
        return text


#: substrings a text must hold for a kind's pattern to be able to match (skips the regex on most texts)
_NEEDLES: Mapping[str, tuple[str, ...]] = {
    "private_key": ("PRIVATE KEY",),
    "connection_password": ("://",),
    "aws_secret_access_key": ("AKIA", "ASIA", "ecret", "ECRET"),
    "aws_session_token": ("oken", "OKEN", "IQoJb3JpZ2luX2", "FwoGZXIvYXdz", "FQoGZXIvYXdz"),
    "jwt": ("eyJ",),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "slack_token": ("xox", "xapp-", "hooks.slack.com"),
    "stripe_key": ("_live_", "_test_", "whsec_"),
    "google_credential": ("AIza", "GOCSPX-", "ya29."),
    "openai_key": ("sk-",),
    "aws_access_key_id": ("AKIA", "ASIA"),
}

_PATTERNS: Mapping[str, re.Pattern[str]] = {
    "private_key": _PEM_RE,
    "connection_password": _CONN_PASSWORD_RE,
    "aws_secret_access_key": _AWS_SECRET_RE,
    "aws_session_token": _AWS_SESSION_TOKEN_RE,
    "jwt": _JWT_RE,
    "github_token": _GITHUB_RE,
    "slack_token": _SLACK_RE,
    "stripe_key": _STRIPE_RE,
    "google_credential": _GOOGLE_RE,
    "openai_key": _OPENAI_RE,
    "aws_access_key_id": _AWS_KEY_RE,
    "email": _EMAIL_RE,
    "credit_card": _CARD_RE,
    "phone": _PHONE_RE,
}


def _normalize_whitespace(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii():
        text = text.translate(_SPACE_TABLE)
    if "\n" in text:
        text = _TRAILING_RE.sub("", text)
        text = _BLANK_LINES_RE.sub("\n\n", text)
    text = _INNER_RUN_RE.sub(" ", text)
    return text.strip()


def _clean_turn(turn: Turn, cleaner: _Cleaner) -> Turn:
    parts: list[TextPart | MediaPart] = []
    changed = False
    for part in turn.content:
        if isinstance(part, TextPart):
            new = cleaner.clean(part.text)
            if new != part.text:
                changed = True
                part = part.model_copy(update={"text": new})
        parts.append(part)
    return turn.model_copy(update={"content": tuple(parts)}) if changed else turn


def _clean_record(record: Record, cleaner: _Cleaner) -> Record:
    if isinstance(record, TextRecord):
        new = cleaner.clean(record.text)
        return record if new == record.text else record.model_copy(update={"text": new})
    system = cleaner.clean(record.system) if record.system is not None else None
    turns = tuple(_clean_turn(t, cleaner) for t in record.turns)
    if system == record.system and all(a is b for a, b in zip(turns, record.turns, strict=True)):
        return record
    return record.model_copy(update={"system": system or None, "turns": turns})


def _is_empty(record: Record) -> bool:
    if isinstance(record, TextRecord):
        return not record.text.strip()
    return not any(
        (isinstance(p, TextPart) and p.text.strip()) or isinstance(p, MediaPart)
        for turn in record.turns
        for p in turn.content
    )


def clean_records(
    records: Iterable[Record],
    *,
    normalize_unicode: bool = True,
    normalize_whitespace: bool = True,
    strip_control: bool = True,
    drop_empty: bool = True,
    redact_pii: bool | Collection[str] = False,
) -> tuple[list[Record], CleanReport]:
    """Clean the text of every record; see the module docstring for what each option does.

    Records are values, so unchanged records are returned as the same objects and changed ones as
    copies; the input is never modified. Relative order is kept.

    Args:
        records: the records to clean (read once).
        normalize_unicode: apply Unicode NFC.
        normalize_whitespace: normalise line endings, spaces and blank lines (indentation is kept).
        strip_control: remove control and invisible formatting characters (tab and newline are kept).
        drop_empty: drop records left without content, reporting their 0-based input indexes.
        redact_pii: ``True`` for every kind in :data:`PII_KINDS`, or a collection of kind names
            (``{"email", "phone"}``); a single name as a string works too.

    Returns:
        The cleaned records and a :class:`CleanReport`.

    Raises:
        ConfigurationError: ``redact_pii`` names a kind that is not in :data:`PII_KINDS`.

    Examples:
        >>> from finetune_sdk.data.records import TextRecord
        >>> text = "Card 4111 1111 1111 1111, not 4111 1111 1111 1112"
        >>> out, report = clean_records([TextRecord(text=text)], redact_pii={"credit_card"})
        >>> out[0].text
        'Card [CREDIT_CARD], not 4111 1111 1111 1112'
        >>> report.pii_counts
        {'credit_card': 1}
    """
    cleaner = _Cleaner(
        normalize_unicode=normalize_unicode,
        normalize_whitespace=normalize_whitespace,
        strip_control=strip_control,
        pii_kinds=_resolve_pii(redact_pii),
    )
    counts = dict.fromkeys(("unicode", "whitespace", "control", "pii"), 0)
    out: list[Record] = []
    dropped: list[int] = []
    modified = 0
    n = 0
    for index, record in enumerate(records):
        n += 1
        cleaner.touched = set()
        cleaned = _clean_record(record, cleaner)
        if drop_empty and _is_empty(cleaned):
            dropped.append(index)
            continue
        for kind in cleaner.touched:
            counts[kind] += 1
        if cleaned is not record:
            modified += 1
        out.append(cleaned)
    report = CleanReport(
        input_records=n,
        output_records=len(out),
        modified_records=modified,
        unicode_normalized=counts["unicode"],
        whitespace_normalized=counts["whitespace"],
        control_removed=counts["control"],
        pii_redacted=counts["pii"],
        dropped_empty=len(dropped),
        dropped_indexes=tuple(dropped),
        pii_counts=dict(cleaner.pii_counts),
    )
    return out, report
