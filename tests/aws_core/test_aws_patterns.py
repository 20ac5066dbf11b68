"""The one pattern engine (``finetune_sdk._aws.patterns``) used by the runtime request checks and by
the AWS emulation: every pattern of every service the SDK calls translates, constructs behave as in Java,
matching stays linear, and at run time an unreadable pattern is skipped rather than blocking a request."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import botocore.session
import pytest

from finetune_sdk._aws import patterns
from finetune_sdk._aws.patterns import JavaPattern, UnsupportedPattern, pattern_matches

#: every service the SDK (or its emulation) calls
SERVICES = ("bedrock", "bedrock-runtime", "sagemaker", "sagemaker-runtime", "s3", "iam", "sts", "logs")


def _patterns(service: str) -> dict[str, str]:
    model = botocore.session.get_session().get_service_model(service)
    found: dict[str, str] = {}
    for name in model.shape_names:
        pattern = model.shape_for(name).metadata.get("pattern")
        if pattern is not None:
            found.setdefault(pattern, name)
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_pattern_of_the_installed_botocore_translates(service: str) -> None:
    found = _patterns(service)
    failures = []
    for pattern, shape in found.items():
        try:
            JavaPattern(pattern)
        except UnsupportedPattern as exc:
            failures.append(f"{service}:{shape}: {exc}")
    assert not failures, "\n".join(failures)
    if service in ("bedrock", "sagemaker", "iam"):
        assert len(found) > 10  # the walk really saw the model's patterns


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        (r"[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*", "my-job.v1", "my_job"),  # no underscore in job names
        (r"\w+", "abc_1", "héllo"),  # Java's \w is ASCII-only
        (r"\s+", " \t", "\u2003"),  # and so is \s
        (r"\p{Alpha}+\p{Digit}", "abc1", "abc"),
        (r"[\p{Upper}_]+", "AB_C", "AbC"),
        (r"\P{Digit}+", "abc", "a1"),
        (r"[\P{Alpha}x]+", "1x-", "a"),
        (r"[a-z&&[^aeiou]]+", "xyz", "xaz"),
        (r"[\p{Alpha}\d]+", "ab12", "a-b"),
        (r"[\p{L}\p{M}\p{N}_ ]+", "he\u0301llo 1_", "a#b"),  # newest botocore's Unicode categories
        (r"\Qa.b\E", "a.b", "axb"),
        (r"\Q.*\E+x", ".**x", ".*.*x"),
        (r"a*+b", "aaab", "aac"),  # possessive quantifier
        (r"(^ab$)|(^cd$)", "cd", "abcd"),
        (r"[\w-.]+", "a-b.c", "a b"),
        (r"(?<name>a)b{2,3}", "abbb", "abbbb"),
        (r"x\u0041\x42\x{43}", "xABC", "xabc"),
        (r"ab\z", "ab", "abc"),
        (r"\h\H", "\tx", "\t\t"),
        (r"[]a]+", "]a]", "b"),
        (r".+", "a\tb", "a\nb"),
        # look-around (SageMaker, IAM and SageMaker Runtime models use all four kinds)
        (r"(?!\s*$).+", "  a", "   "),
        (r"[a-z]([a-z-]){0,62}(?<!-)", "my-ep", "my-ep-"),
        (r"(?=.{1,32}$)[a-zA-Z0-9](-*[a-zA-Z0-9])*", "a" * 32, "a" * 33),
        (r"^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$", "my-alias", "my--alias"),
        (r"^(?!.*\..*\.)[a-zA-Z0-9][a-zA-Z0-9-_\.]*$", "a.b", "a.b.c"),
        (r"^(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+$", "out/x", "s3:x"),
        (r"a(?<=a)b", "ab", "b"),
        (r"(?=a(?!b))\w+", "ac", "ab"),
        # word boundaries
        (r"((25[0-5]|(2[0-4]|1\d|[1-9]|)\d)\.?\b){4}", "10.0.0.255", "10.0.0.256"),
        (r"a\Bb", "ab", "a b"),
        # a surrogate pair written as two escapes is one supplementary code point, as in Java
        (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "a\U0001f600\tb", "a\x01"),
    ],
)
def test_constructs_behave_as_in_java(pattern: str, yes: str, no: str) -> None:
    compiled = JavaPattern(pattern)
    assert compiled.fullmatch(yes)
    assert not compiled.fullmatch(no)


@pytest.mark.parametrize("pattern", [r"\p{IsLatin}", r"(a)\1", r"(?i)abc", r"(?>a)"])
def test_unknown_constructs_are_refused_not_guessed(pattern: str) -> None:
    with pytest.raises(UnsupportedPattern):
        JavaPattern(pattern)


def test_agrees_with_python_re_where_re_is_correct() -> None:
    cases = ["ok-name", "bad_name", "a.b+c", "-lead", "x" * 63, "double--dash", "model_1", "m__1", ""]
    for pattern in (r"[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*", r"([0-9a-zA-Z][_-]?){1,63}", r"(?!-)[a-z-]+(?<!-)"):
        for case in cases:
            assert JavaPattern(pattern).fullmatch(case) == (re.fullmatch(pattern, case) is not None), (
                pattern,
                case,
            )


@pytest.mark.parametrize(
    "pattern",
    [r"[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*", r"(?=.{1,63}$)[a-zA-Z0-9](-*[a-zA-Z0-9])*(?<!-)"],
)
def test_matching_is_linear_where_python_re_backtracks(pattern: str) -> None:
    compiled = JavaPattern(pattern)
    compiled.fullmatch("warm-up")
    start = time.perf_counter()
    assert not compiled.fullmatch("a" + "-" * 20_000 + "_")
    assert time.perf_counter() - start < 2.0  # Python's re takes ~0.5 s at 22 dashes, doubling per dash


def test_an_unreadable_pattern_never_blocks_a_request(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger=patterns.__name__):
        assert pattern_matches(r"(?i)job-\p{IsLatin}+", "anything at all")
    assert "skipping a pattern check" in caplog.text


def test_the_runtime_checks_and_the_emulation_share_the_engine(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from finetune_sdk.backends.bedrock.checks import find_request_problems
    from finetune_sdk.testing._shapes import service_model, validate

    # a blank SageMaker name breaks only the look-ahead of its pattern; both sides see it
    shape = service_model("sagemaker").shape_for("NonEmptyString64")
    assert [v.rule for v in validate(shape, "   ")] == ["pattern"]
    assert validate(shape, "ok") == []
    assert [
        p.field for p in find_request_problems("bedrock", "StopModelCustomizationJob", {"jobIdentifier": "a_b"})
    ] == ["jobIdentifier"]

    # the same unreadable construct is skipped on both sides, with a debug log
    def refuse(pattern: str) -> Any:
        raise UnsupportedPattern(f"pretend {pattern!r} uses a new construct")

    monkeypatch.setattr(patterns, "compile_java_pattern", refuse)
    with caplog.at_level(logging.DEBUG, logger=patterns.__name__):
        assert find_request_problems("bedrock", "StopModelCustomizationJob", {"jobIdentifier": "a_b"}) == []
        assert validate(shape, "   ") == []
    assert caplog.text.count("skipping a pattern check") == 2
