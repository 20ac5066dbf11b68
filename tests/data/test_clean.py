"""clean_records: Unicode, whitespace, control characters, empty records and PII redaction."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from finetune_sdk.data.clean import PII_KINDS, CleanReport, clean_records, luhn_valid
from finetune_sdk.data.records import Conversation, MediaPart, TextPart, TextRecord, Turn
from finetune_sdk.errors import ConfigurationError

# Published test card numbers (all pass Luhn).
VALID_CARDS = {
    "visa": "4111111111111111",
    "mastercard": "5555555555554444",
    "amex": "378282246310005",
    "discover": "6011111111111117",
    "visa13": "4222222222222",
}


def _flip_last_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def _text(records: list[TextRecord | Conversation]) -> list[str]:
    out = []
    for r in records:
        out.append(r.text if isinstance(r, TextRecord) else "\n".join(t.text for t in r.turns))
    return out


# --- Unicode, control characters, whitespace ------------------------------------------------------------


def test_nfc_composes_and_is_counted() -> None:
    decomposed = "cafe\u0301"
    out, report = clean_records([TextRecord(text=decomposed), TextRecord(text="plain")])
    assert out[0].text == "caf\u00e9"
    assert unicodedata.is_normalized("NFC", out[0].text)
    assert report.unicode_normalized == 1
    assert report.modified_records == 1
    kept, off = clean_records([TextRecord(text=decomposed)], normalize_unicode=False)
    assert kept[0].text == decomposed and off.unicode_normalized == 0


def test_control_characters_removed_but_tab_and_newline_kept() -> None:
    dirty = "\ufeffa\x00b\x07c\u200bd\u202eE\tF\nG\x1bH"
    out, report = clean_records([TextRecord(text=dirty)], normalize_whitespace=False)
    assert out[0].text == "abcdE\tF\nGH"
    assert report.control_removed == 1
    kept, _ = clean_records([TextRecord(text=dirty)], strip_control=False, normalize_whitespace=False)
    assert kept[0].text == dirty


def test_carriage_returns_become_newlines_not_glued_lines() -> None:
    out, _ = clean_records([TextRecord(text="line1\r\nline2\rline3\x0cline4")], normalize_whitespace=False)
    assert out[0].text == "line1\nline2\nline3\nline4"


def test_lone_surrogates_are_removed() -> None:
    out, report = clean_records([TextRecord(text="ok\ud800ay")])
    assert out[0].text == "okay"
    out[0].text.encode("utf-8")  # writable as UTF-8 again
    assert report.control_removed == 1


def test_whitespace_normalisation_keeps_indentation_and_paragraphs() -> None:
    text = "  Intro   text\u00a0with\t\tgaps.   \r\n\r\n\r\n\r\ndef f(x):\n    return  x\t\n\n  \n"
    out, report = clean_records([TextRecord(text=text)])
    assert out[0].text == "Intro text with gaps.\n\ndef f(x):\n    return x"
    assert report.whitespace_normalized == 1


def test_single_tab_inside_a_line_is_kept() -> None:
    out, report = clean_records([TextRecord(text="a\tb")])
    assert out[0].text == "a\tb"
    assert report.modified_records == 0


def test_all_text_fields_of_a_conversation_are_cleaned_and_media_metadata_untouched() -> None:
    media = MediaPart(type="image", format="png", uri="s3://b/x  y.png")
    conv = Conversation(
        system="  Be  brief. ",
        turns=(
            Turn(role="user", content=(TextPart(text="Look\x00 at   this"), media)),
            Turn.of("assistant", "A  cat."),
        ),
        metadata={"note": "  keep   me  "},
    )
    out, report = clean_records([conv])
    cleaned = out[0]
    assert isinstance(cleaned, Conversation)
    assert cleaned.system == "Be brief."
    assert cleaned.turns[0].text == "Look at this"
    assert cleaned.turns[0].media == (media,)
    assert cleaned.turns[1].text == "A cat."
    assert cleaned.metadata == {"note": "  keep   me  "}
    assert report.modified_records == 1 and report.whitespace_normalized == 1 and report.control_removed == 1
    # the input is a value and was not touched
    assert conv.system == "  Be  brief. "


def test_system_prompt_of_only_whitespace_becomes_none() -> None:
    out, _ = clean_records([Conversation.from_pairs("q", "a", system="   ")])
    assert isinstance(out[0], Conversation) and out[0].system is None


def test_unchanged_records_are_the_same_objects() -> None:
    records = [TextRecord(text="clean text"), Conversation.from_pairs("q", "a", system="s")]
    out, report = clean_records(records, redact_pii=True)
    assert all(a is b for a, b in zip(out, records))
    assert report.modified_records == 0
    assert report.output_records == report.input_records == 2


# --- empty records ---------------------------------------------------------------------------------------


def test_empty_records_are_dropped_with_their_indexes() -> None:
    records = [
        TextRecord(text="keep"),
        TextRecord(text=" \x00\u200b "),
        Conversation.from_pairs("", "  ", system="only a system prompt"),
        Conversation(
            turns=(Turn(role="user", content=(MediaPart(type="image", format="png", uri="s3://b/k"),)),)
        ),
        Conversation.from_pairs("q", ""),
    ]
    out, report = clean_records(records)
    assert report.dropped_indexes == (1, 2)
    assert report.dropped_empty == 2
    assert report.output_records == 3 and len(out) == 3
    assert out[0] is records[0]
    # a media-only turn is content; a conversation with one non-empty turn is not empty
    assert out[1] is records[3] and out[2] is records[4]
    kept, report_keep = clean_records(records, drop_empty=False)
    assert len(kept) == 5 and report_keep.dropped_indexes == ()


def test_input_can_be_a_generator() -> None:
    out, report = clean_records(TextRecord(text=f" r{i} ") for i in range(3))
    assert [r.text for r in out] == ["r0", "r1", "r2"]
    assert report.input_records == 3


# --- PII -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VALID_CARDS))
def test_luhn_valid_cards_are_redacted_and_invalid_ones_are_not(name: str) -> None:
    number = VALID_CARDS[name]
    bad = _flip_last_digit(number)
    assert luhn_valid(number) and not luhn_valid(bad)
    out, report = clean_records([TextRecord(text=f"pay with {number} or {bad}")], redact_pii=True)
    assert out[0].text == f"pay with [CREDIT_CARD] or {bad}"
    assert report.pii_counts["credit_card"] == 1


@pytest.mark.parametrize(
    "written",
    ["4111 1111 1111 1111", "4111-1111-1111-1111", "3782 822463 10005", "5555-5555-5555-4444"],
)
def test_grouped_card_numbers_are_redacted(written: str) -> None:
    out, _ = clean_records([TextRecord(text=f"card: {written}.")], redact_pii={"credit_card"})
    assert out[0].text == "card: [CREDIT_CARD]."


def test_digit_runs_that_fail_luhn_or_are_not_card_shaped_are_kept() -> None:
    text = "order 1234567890123456, ids 1 2 3 4 5 6 7 8 9 0 1 2 3, pi 3.14159265358979"
    assert not luhn_valid("1234567890123456")
    out, report = clean_records([TextRecord(text=text)], redact_pii=True)
    assert out[0].text == text
    assert report.pii_redacted == 0


@pytest.mark.parametrize(
    "phone",
    [
        "+1 (555) 123-4567",
        "555-123-4567",
        "(555) 123 4567",
        "555.123.4567",
        "1-800-555-0199",
        "+44 20 7946 0958",
        "+4915112345678",
    ],
)
def test_phone_numbers_are_redacted(phone: str) -> None:
    out, report = clean_records([TextRecord(text=f"Call {phone} today")], redact_pii={"phone"})
    assert out[0].text == "Call [PHONE] today"
    assert report.pii_counts == {"phone": 1}


@pytest.mark.parametrize(
    "number",
    ["2024-01-15", "1234567", "12 345 678", "3.1415926", "+5", "x = 10 - 3", "ISBN 978-3-16-148410-0"],
)
def test_numbers_that_are_not_phones_are_kept(number: str) -> None:
    out, report = clean_records([TextRecord(text=f"value {number} here")], redact_pii=True)
    assert out[0].text == f"value {number} here"
    assert report.pii_redacted == 0


def test_emails_and_aws_keys_are_redacted_with_counts() -> None:
    text = (
        "Write to jane.doe+ft@mail.example.co.uk or OPS@example.com; key AKIAIOSFODNN7EXAMPLE, "
        "temp ASIAY34FZKBOKMUTVV7A, not a key AKIA123 nor xAKIAIOSFODNN7EXAMPLE; user@localhost stays."
    )
    out, report = clean_records([TextRecord(text=text)], redact_pii=True)
    assert out[0].text == (
        "Write to [EMAIL] or [EMAIL]; key [AWS_ACCESS_KEY_ID], temp [AWS_ACCESS_KEY_ID], not a key AKIA123 "
        "nor xAKIAIOSFODNN7EXAMPLE; user@localhost stays."
    )
    assert {k: v for k, v in report.pii_counts.items() if v} == {"aws_access_key_id": 2, "email": 2}
    assert set(report.pii_counts) == set(PII_KINDS)
    assert report.pii_redacted == 1


def test_only_the_requested_kinds_are_redacted() -> None:
    text = "a@b.io 555-123-4567 4111111111111111 AKIAIOSFODNN7EXAMPLE"
    out, report = clean_records([TextRecord(text=text)], redact_pii=["email", "phone"])
    assert out[0].text == "[EMAIL] [PHONE] 4111111111111111 AKIAIOSFODNN7EXAMPLE"
    assert set(report.pii_counts) == {"email", "phone"}
    single, _ = clean_records([TextRecord(text=text)], redact_pii="email")
    assert single[0].text.startswith("[EMAIL] 555-123-4567")
    untouched, none = clean_records([TextRecord(text=text)])
    assert untouched[0].text == text and none.pii_counts == {}


def test_unknown_pii_kind_is_a_configuration_error_listing_the_valid_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown PII kind.*'ssn'") as info:
        clean_records([TextRecord(text="x")], redact_pii={"email", "ssn"})
    for kind in PII_KINDS:
        assert kind in str(info.value)


def test_pii_in_system_and_turns_is_counted_per_occurrence() -> None:
    conv = Conversation.from_pairs("mail a@b.io", "or c@d.io and e@f.io", system="admin: g@h.io")
    out, report = clean_records([conv], redact_pii={"email"})
    assert isinstance(out[0], Conversation)
    assert out[0].system == "admin: [EMAIL]"
    assert report.pii_counts == {"email": 4}
    assert report.pii_redacted == 1


def test_no_pii_false_positives_on_real_aqua_maths_problems(shared_datasets: Path) -> None:
    records: list[TextRecord | Conversation] = []
    for name in ("dev.json", "test.json"):
        for line in (shared_datasets / "aqua" / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            records.append(
                Conversation.from_pairs(row["question"] + "\n" + "\n".join(row["options"]), row["rationale"])
            )
    assert len(records) == 508
    _, report = clean_records(records, redact_pii=True)
    assert report.pii_redacted == 0, report.pii_counts
    assert report.dropped_empty == 0


# --- report ----------------------------------------------------------------------------------------------


def test_report_renders_and_is_frozen() -> None:
    _, report = clean_records(
        [TextRecord(text="a@b.io"), TextRecord(text=""), TextRecord(text="x  y")], redact_pii={"email"}
    )
    assert isinstance(report, CleanReport)
    md = report.to_markdown()
    assert "| records in | 3 |" in md and "| PII redacted: email | 1 |" in md
    assert "Dropped record indexes (0-based): 1" in md
    text = str(report)
    assert "3 records" in text and "email 1" in text and "dropped indexes: 1" in text
    assert report.changes == {"unicode": 0, "whitespace": 1, "control": 0, "pii": 1, "dropped_empty": 1}
    assert "<table>" in report._repr_html_()
    with pytest.raises(ValidationError):
        report.input_records = 0  # type: ignore[misc]


# --- properties ------------------------------------------------------------------------------------------

_ALPHABET = st.sampled_from(
    [*"ab Z9@.-+()\t\n\r ", "\x00", "\x07", "\u00a0", "\u200b", "e\u0301", "\ufeff", "\u3000", "AKIA"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=60).map("".join))
def test_cleaning_is_idempotent_and_leaves_no_noise(text: str) -> None:
    once, _ = clean_records([TextRecord(text=text)], drop_empty=False, redact_pii=True)
    twice, report = clean_records(once, drop_empty=False, redact_pii=True)
    assert twice[0].text == once[0].text
    assert report.modified_records == 0
    cleaned = once[0].text
    assert cleaned == cleaned.strip()
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u200b\ufeff\r]", cleaned)
    assert not re.search(r"[ \t]\n|\S[ \t]{2,}|\n{3,}", cleaned)
    assert unicodedata.is_normalized("NFC", cleaned)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_output_never_contains_control_characters_other_than_tab_and_newline(text: str) -> None:
    out, _ = clean_records([TextRecord(text=text)], drop_empty=False, normalize_whitespace=False)
    assert all(ch in "\t\n" or unicodedata.category(ch) not in ("Cc", "Cs") for ch in out[0].text)
