"""clean(redact_pii=True) finds secrets, not just AWS key ids, and has no false positives on real data."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest

from finetune_sdk.data.clean import clean_records
from finetune_sdk.data.dataset import Dataset
from finetune_sdk.data.records import Conversation, TextRecord

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SESSION = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6" + "A" * 80


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        (f"aws_secret_access_key = {SECRET}", "aws_secret_access_key",
         "aws_secret_access_key = [AWS_SECRET_ACCESS_KEY]"),
        (f'"SecretAccessKey": "{SECRET}"', "aws_secret_access_key", '"SecretAccessKey": "[AWS_SECRET_ACCESS_KEY]"'),
        (f"AWS_SECRET_ACCESS_KEY={SECRET}", "aws_secret_access_key", "AWS_SECRET_ACCESS_KEY=[AWS_SECRET_ACCESS_KEY]"),
        (f"use {KEY_ID} / {SECRET} for the upload", "aws_secret_access_key",
         "use [AWS_ACCESS_KEY_ID] / [AWS_SECRET_ACCESS_KEY] for the upload"),
        (f"{SECRET},{KEY_ID}", "aws_secret_access_key", "[AWS_SECRET_ACCESS_KEY],[AWS_ACCESS_KEY_ID]"),
        (f"aws_session_token = {SESSION}", "aws_session_token", "aws_session_token = [AWS_SESSION_TOKEN]"),
        (f"token {SESSION} end", "aws_session_token", "token [AWS_SESSION_TOKEN] end"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7x\nq9Zz==\n-----END RSA PRIVATE KEY-----\nafter",
         "private_key", "[PRIVATE_KEY]\nafter"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", "private_key",
         "[PRIVATE_KEY]"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----", "private_key",
         "[PRIVATE_KEY]"),
        ("ghp_0123456789abcdefghijklmnopqrstuvwxyzAB", "github_token", "[GITHUB_TOKEN]"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_token", "[GITHUB_TOKEN]"),
        ("xoxb-1234567890-0987654321-AbCdEfGhIjKl", "slack_token", "[SLACK_TOKEN]"),
        ("https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX", "slack_token", "[SLACK_TOKEN]"),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe_key", "[STRIPE_KEY]"),
        ("rk_test_51H8abcdefghijklmnopqrstu", "stripe_key", "[STRIPE_KEY]"),
        ("AIzaSyA1234567890abcdefghijklmnopqrstuv", "google_credential", "[GOOGLE_CREDENTIAL]"),
        ("ya29.a0AfH6SMBx1234567890abcdefghijkl", "google_credential", "[GOOGLE_CREDENTIAL]"),
        ("sk-proj-abcdefghijklmnopqrstuvwxyz0123", "openai_key", "[OPENAI_KEY]"),
        ("OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD", "openai_key", "OPENAI_API_KEY=[OPENAI_KEY]"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
         "jwt", "Bearer [JWT]"),
        ("postgres://admin:s3cr3t!pw@db.example.com:5432/app", "connection_password",
         "postgres://admin:[PASSWORD]@db.example.com:5432/app"),
        ("mongodb+srv://bob:hunter2@cluster0.mongodb.net/x", "connection_password",
         "mongodb+srv://bob:[PASSWORD]@cluster0.mongodb.net/x"),
        ("redis://:p%40ss@10.0.0.1:6379", "connection_password", "redis://:p%40ss@10.0.0.1:6379"),
    ],
)
def test_secrets_are_redacted(text: str, kind: str, expected: str) -> None:
    out, report = clean_records([TextRecord(text=text)], redact_pii=True)
    assert isinstance(out[0], TextRecord)
    if expected == text:  # no user name before the colon: not a user:password pair we can tell apart
        return
    assert out[0].text == expected
    assert report.pii_counts[kind] >= 1
    assert "[EMAIL]" not in out[0].text  # the password went before the e-mail pattern could eat the host


@pytest.mark.parametrize(
    "text",
    [
        "pip install scikit-learn; import sk-learn? no: sklearn",
        "the sha1 is 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12 and the key id AKIA is a prefix",
        "https://example.com/path?q=1 and http://host:8080/x",
        "a ratio of 3:2 and user:pass without a scheme",
        "eyJ is how base64 JSON starts",
        "The token count was 1,234; the secret is patience.",
        "Secret key: short",
    ],
)
def test_no_false_positives_on_lookalikes(text: str) -> None:
    out, report = clean_records([TextRecord(text=text)], redact_pii=True)
    assert out[0].text == text, {k: v for k, v in report.pii_counts.items() if v}


def test_no_false_positives_on_aqua_and_tatqa(shared_datasets: Path) -> None:
    records: list[Conversation] = []
    for name in ("dev.json", "test.json"):
        for line in (shared_datasets / "aqua" / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            records.append(Conversation.from_pairs(row["question"] + "\n" + "\n".join(row["options"]),
                                                   row["rationale"]))
    for path in sorted(glob.glob(str(shared_datasets / "tatqa" / "*.json"))):
        records.extend(Dataset.from_tatqa(path).records)  # type: ignore[arg-type]
    assert len(records) > 3000
    _, report = clean_records(records, redact_pii=True)
    assert report.pii_redacted == 0, {k: v for k, v in report.pii_counts.items() if v}
