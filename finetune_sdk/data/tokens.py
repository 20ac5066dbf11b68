"""Token estimates behind a small protocol, so an exact tokenizer can be plugged in.

The built-in counters use the documented characters-per-token heuristics of each model family (Bedrock
says "approximately 6 characters per token" for Titan-style data; the official Claude validator uses 3).
Any object with ``count(text) -> int`` works, e.g. a wrapper around a Hugging Face tokenizer.

Examples:
    >>> from finetune_sdk.data.tokens import HeuristicCounter, counter_for
    >>> HeuristicCounter(4.0).count("abcdefgh")
    2
    >>> counter_for("anthropic.claude-3-haiku-20240307-v1:0:200k").chars_per_token
    3.0
"""

from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

from finetune_sdk.catalog import BaseModelInfo, resolve

__all__ = ["HFTokenizerCounter", "HeuristicCounter", "TokenCounter", "counter_for"]


@runtime_checkable
class TokenCounter(Protocol):
    """Anything that counts tokens in a string."""

    def count(self, text: str) -> int: ...


class HeuristicCounter:
    """``ceil(len(text) / chars_per_token)``: the documented estimate. Cheap and deterministic."""

    def __init__(self, chars_per_token: float = 4.0) -> None:
        if chars_per_token <= 0:
            raise ValueError("chars_per_token must be > 0")
        self.chars_per_token = chars_per_token

    def count(self, text: str) -> int:
        return math.ceil(len(text) / self.chars_per_token) if text else 0

    def __repr__(self) -> str:
        return f"HeuristicCounter(chars_per_token={self.chars_per_token})"


class HFTokenizerCounter:
    """Exact counts from a Hugging Face tokenizer (anything with ``encode(text, add_special_tokens=...)``)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))


def counter_for(model: str | BaseModelInfo | None) -> HeuristicCounter:
    """The heuristic counter for a catalog model (4 chars/token when the model is unknown)."""
    info = resolve(model) if isinstance(model, str) else model
    return HeuristicCounter(info.limits.chars_per_token if info else 4.0)
