"""Done-when (c): on the local backend, a real teacher → student run whose student beats its base on a
held-out set. The student is a randomly initialised tiny Llama trained for real on the CPU; the teacher is
a deterministic scripted model (even/odd of a number)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from finetune_sdk.backends.base import ChatResponse, InferenceConfig
from finetune_sdk.data.records import Conversation, Turn
from finetune_sdk.distillation import Distiller
from finetune_sdk.evaluation import Evaluator

pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = [pytest.mark.slow, pytest.mark.local]


class ParityTeacher:
    """A scripted teacher model: says whether the number in the question is even or odd."""

    id = "parity-teacher"
    name = "parity-teacher"

    def __init__(self) -> None:
        self.calls = 0

    def answer(self, text: str) -> str:
        match = re.search(r"(\d+)", text)
        assert match is not None
        return "even" if int(match.group(1)) % 2 == 0 else "odd"

    def chat(
        self,
        messages: str | Sequence[Mapping[str, Any]] | None = None,
        *,
        system: str | None = None,
        turns: Sequence[Turn] | None = None,
        config: InferenceConfig | None = None,
    ) -> ChatResponse:
        self.calls += 1
        assert turns is not None
        text = self.answer(turns[-1].text)
        return ChatResponse(
            text=text, stop_reason="end_turn", input_tokens=8, output_tokens=1, model_id=self.id
        )


def test_local_student_beats_its_base(tmp_path: Path) -> None:
    from finetune_sdk.backends.local import LocalBackend, build_tiny_model

    student = build_tiny_model(tmp_path / "student", hidden_size=64, layers=2, heads=4)
    backend = LocalBackend(root=tmp_path / "runs", device="cpu")
    teacher = ParityTeacher()
    prompts = [Conversation.from_pairs(f"Is {n} even or odd?") for n in range(360)]
    held_out = [
        Conversation.from_pairs(f"Is {n} even or odd?", teacher.answer(str(n))) for n in range(1000, 1020)
    ]
    distiller = Distiller(
        teacher=teacher,
        student=str(student),
        backend=backend,
        workdir=tmp_path / "work",
        evaluator=Evaluator(
            ["exact_match"], config=InferenceConfig(max_tokens=4), concurrency=1, progress=False
        ),
        progress=False,
    )
    hyperparameters = {
        "method": "full",
        "epochCount": 3,
        "learningRate": 3e-3,
        "batchSize": 16,
        "maxSequenceLength": 64,
        "seed": 7,
    }
    result = distiller.run(prompts, test=held_out, hyperparameters=hyperparameters)

    assert teacher.calls >= 360
    assert result.job is not None and result.job.status.value == "completed"
    assert result.gate is not None and result.gate.output_records == 360
    report = result.evaluation
    assert report is not None and report.model_keys == ["student base", "student", "teacher"]
    student_score = report.mean("exact_match", "student")
    base_score = report.mean("exact_match", "student base")
    assert student_score is not None and base_score is not None
    assert student_score >= 0.8 > base_score
    comparison = report.comparison("exact_match", "student")
    assert comparison.wins > comparison.losses
    assert comparison.p_value is not None and comparison.p_value < 0.05
