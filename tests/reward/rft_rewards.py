"""Reward functions the reward tests share; a real module so the Lambda zip can carry its source."""

from __future__ import annotations

import re

from finetune_sdk.reward import reward

_LETTER = re.compile(r"\b([A-E])\b")


@reward(binary=True)
def answer_letter(completion: str, *, reference_answer: object = None, **fields: object) -> float | None:
    """1.0 when the first option letter in the completion is the reference letter."""
    if not isinstance(reference_answer, str):
        return None
    found = _LETTER.search(completion.upper())
    if found is None:
        return 0.0
    return 1.0 if found.group(1) == reference_answer.strip().upper()[:1] else 0.0


@reward
def fussy(completion: str, *, reference_answer: object = None, unit: str = "") -> float:
    """Raises on 'boom'; rewards the unit field's presence (names only the fields it wants)."""
    if "boom" in completion:
        raise ValueError("cannot parse boom")
    return 1.0 if unit and unit in completion else 0.0


@reward
def letter_share(completion: str, *, reference_answer: object = None, **fields: object) -> float | None:
    """Share of the first four characters that are the reference letter (a dense 'answer with X' reward)."""
    if not isinstance(reference_answer, str) or not reference_answer:
        return None
    head = completion[:4]
    return sum(ch == reference_answer for ch in head) / 4 if head else 0.0
