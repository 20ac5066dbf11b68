"""Shared helpers for the evaluation tests: records built from the shared datasets, and emulated models."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from finetune_sdk.backends.base import ChatResponse, InferenceConfig
from finetune_sdk.data.records import Conversation, Turn

LETTERS = "ABCDE"


def aqua_records(path: Path) -> list[Conversation]:
    """AQuA-RAT lines as conversations: user = question + options; metadata answer = the correct letter."""
    records = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        row = json.loads(line)
        user = (
            f"{row['question']}\n\nOptions:\n"
            + "\n".join(row["options"])
            + "\n\nAnswer with the letter of the correct option."
        )
        records.append(
            Conversation.from_pairs(
                user, metadata={"answer": row["correct"], "options": row["options"], "line": i}
            )
        )
    return records


def tatqa_records(path: Path, limit: int) -> list[Conversation]:
    """The first ``limit`` TAT-QA questions: user = table + text + question, reference = gold answer."""
    contexts = json.loads(path.read_text(encoding="utf-8"))
    records = []
    for ctx in contexts:
        for q in ctx["questions"]:
            answer = q["answer"]
            reference = ", ".join(str(a) for a in answer) if isinstance(answer, list) else str(answer)
            table = "\n".join(" | ".join(cell for cell in row) for row in ctx["table"]["table"])
            text = "\n".join(p["text"] for p in ctx["paragraphs"])
            prompt = f"Table:\n{table}\n\nText:\n{text}\n\nQuestion: {q['question']}"
            records.append(
                Conversation.from_pairs(
                    prompt,
                    reference,
                    metadata={
                        "answer": answer,
                        "answer_type": q["answer_type"],
                        "scale": q["scale"],
                        "uid": q["uid"],
                    },
                )
            )
            if len(records) == limit:
                return records
    return records


class OracleChat:
    """A deterministic fake chat model: ``answer(index, record)`` decides the reply to each record.

    It finds the record from the prompt text (the last user turn), counts calls per record, can sleep a
    random time per call, and can raise ``crash`` once it has answered ``crash_after`` requests.
    """

    def __init__(
        self,
        model_id: str,
        records: Sequence[Conversation],
        answer: Callable[[int, Conversation], str],
        *,
        delay: float = 0.0,
        seed: int = 0,
        crash_after: int | None = None,
        crash: type[BaseException] = KeyboardInterrupt,
        output_tokens: Callable[[str], int] | None = None,
        pricing_model_id: str | None = None,
    ) -> None:
        self.id = model_id
        self.name = model_id
        self.pricing_model_id = pricing_model_id
        self._by_prompt: dict[str, int] = {}
        for i, r in enumerate(records):
            assert r.prompt_text not in self._by_prompt, (
                f"records {self._by_prompt[r.prompt_text]} and {i} share a prompt"
            )
            self._by_prompt[r.prompt_text] = i
        self.records = list(records)
        self.answer = answer
        self.delay = delay
        self._rng = random.Random(seed)
        self.crash_after = crash_after
        self.crash = crash
        self.output_tokens = output_tokens or (lambda text: len(text.split()))
        self.calls: Counter[int] = Counter()
        self.configs: list[InferenceConfig | None] = []
        self.systems: list[str | None] = []
        self._lock = threading.Lock()

    def index_of(self, text: str) -> int:
        """The record whose prompt is ``text``, or is inside it (a template may wrap the prompt)."""
        if text in self._by_prompt:
            return self._by_prompt[text]
        inside = [p for p in self._by_prompt if p in text]
        return self._by_prompt[max(inside, key=len)]

    def chat(
        self,
        messages: str | Sequence[Mapping[str, Any]] | None = None,
        *,
        system: str | None = None,
        turns: Sequence[Turn] | None = None,
        config: InferenceConfig | None = None,
    ) -> ChatResponse:
        assert turns is not None
        index = self.index_of(turns[-1].text)
        with self._lock:
            if self.crash_after is not None and sum(self.calls.values()) >= self.crash_after:
                raise self.crash()  # the process dies before this request is sent
            delay = self._rng.random() * self.delay
        if delay:
            time.sleep(delay)
        text = self.answer(index, self.records[index])
        with self._lock:
            self.calls[index] += 1
            self.configs.append(config)
            self.systems.append(system)
        return ChatResponse(
            text=text,
            input_tokens=len(turns[-1].text.split()),
            output_tokens=self.output_tokens(text),
            latency_s=0.001 + delay,
            model_id=self.id,
        )


def wrong_letter(letter: str) -> str:
    return LETTERS[(LETTERS.index(letter) + 1) % len(LETTERS)]


def option_text(record: Conversation, letter: str) -> str:
    return str(record.metadata["options"][LETTERS.index(letter)])[2:]


def aqua_reply(i: int, record: Conversation, letter: str) -> str:
    """A free-text answer naming ``letter`` in one of several styles (cycled by index)."""
    styles = [
        "Answer: ({L})",
        "the answer is {l}",
        "{L}) {text}",
        "({l}) because the rate doubles",
        "{L}",
        "Working it out gives {text}. So the answer is {L}.",
        "**{L}**",
        "{l}.",
    ]
    return styles[i % len(styles)].format(L=letter, l=letter.lower(), text=option_text(record, letter))
