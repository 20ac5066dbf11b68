"""Prompt templates: defaults, system override, instruction placement, few-shot, fingerprints."""

from __future__ import annotations

from finetune_sdk.data.records import Conversation, TextRecord, Turn
from finetune_sdk.evaluation import PromptTemplate


def test_default_template_sends_the_record_unchanged() -> None:
    rec = Conversation(
        system="Be brief.",
        turns=(
            Turn.of("user", "Hi"),
            Turn.of("assistant", "Hello"),
            Turn.of("user", "2+2?"),
            Turn.of("assistant", "4"),
        ),
    )
    system, turns = PromptTemplate().render(rec)
    assert system == "Be brief."
    assert [t.text for t in turns] == ["Hi", "Hello", "2+2?"]  # the gold answer is never sent


def test_system_override_and_empty_system() -> None:
    rec = Conversation.from_pairs("q", "a", system="record system")
    assert PromptTemplate(system="shared").render(rec)[0] == "shared"
    assert PromptTemplate(system="").render(rec)[0] is None


def test_instruction_placeholder_and_prefix() -> None:
    rec = Conversation.from_pairs("What is 2+2?", "4")
    assert PromptTemplate(instruction="Q: {prompt}\nA:").render(rec)[1][-1].text == "Q: What is 2+2?\nA:"
    assert (
        PromptTemplate(instruction="Answer briefly.").render(rec)[1][-1].text
        == "Answer briefly.\n\nWhat is 2+2?"
    )
    assert (
        PromptTemplate(instruction="Continue:").render(TextRecord(text="Once"))[1][0].text
        == "Continue:\n\nOnce"
    )


def test_few_shot_examples_come_first() -> None:
    shot = Conversation.from_pairs("1+1?", "2")
    t = PromptTemplate(few_shot=(shot,), instruction="Q: {prompt}")
    _, turns = t.render(Conversation.from_pairs("3+3?", "6"))
    assert [(x.role, x.text) for x in turns] == [("user", "Q: 1+1?"), ("assistant", "2"), ("user", "Q: 3+3?")]


def test_fingerprint_changes_with_content_and_round_trips() -> None:
    a = PromptTemplate(instruction="x")
    assert (
        a.fingerprint
        == PromptTemplate(instruction="x").fingerprint
        != PromptTemplate(instruction="y").fingerprint
    )
    assert PromptTemplate.model_validate_json(a.model_dump_json()) == a
    assert "default v1" in str(a)
