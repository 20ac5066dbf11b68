"""Model-side behaviour of the AWS emulation: InvokeModel body dialects, Converse answers, token estimates.

Each InvokeModel family parses its request body into a :class:`Prompt` (system text, Converse-shaped
messages, max tokens, stop sequences), asks the scripted responder for the answer, and renders the family's
response body. Malformed bodies raise :class:`BodyError` with Bedrock's "Malformed input request" wording.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BodyError",
    "Generation",
    "Prompt",
    "Responder",
    "default_responder",
    "estimate_tokens",
    "generate",
    "parse_invoke_body",
    "prompt_from_converse",
    "render_invoke_body",
]

#: ``responder(model_id, system, messages) -> answer``; ``messages`` are Converse-shaped dicts
#: (``{"role": "user", "content": [{"text": "..."}]}``) whatever API the request came through.
Responder = Callable[[str, "str | None", "list[dict[str, Any]]"], str]

FAMILIES = (
    "anthropic_messages",
    "meta_llama",
    "nova_messages",
    "titan_text",
    "cohere_command",
    "bedrock_completion",
)


class BodyError(ValueError):
    """The InvokeModel body does not follow the model family's schema."""


@dataclass
class Prompt:
    """What a request asks the model, independent of the API dialect."""

    system: str | None
    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    text: str = ""  # all prompt text, for the input token estimate


@dataclass
class Generation:
    """One answer with the service-side facts (why it stopped, token counts, latency)."""

    text: str
    stop: str  # "end" | "max_tokens" | "stop_sequence"
    input_tokens: int
    output_tokens: int
    latency_ms: int


def estimate_tokens(text: str) -> int:
    """``ceil(len(text) / 4)``: the emulation's token count (0 for empty text)."""
    return math.ceil(len(text) / 4) if text else 0


def message_text(message: Mapping[str, Any]) -> str:
    """The text blocks of a Converse-shaped message joined with newlines."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, Mapping) and isinstance(block.get("text"), str):
            parts.append(block["text"])
    return "\n".join(parts)


def default_responder(model_id: str, system: str | None, messages: list[dict[str, Any]]) -> str:
    """A deterministic answer: ``"echo: <last user text>"``.

    Examples:
        >>> default_responder("m", None, [{"role": "user", "content": [{"text": "hi"}]}])
        'echo: hi'
    """
    for message in reversed(messages):
        if message.get("role") == "user":
            return f"echo: {message_text(message)}"
    return "echo: "


def generate(responder: Responder, model_id: str, prompt: Prompt) -> Generation:
    """Ask ``responder`` and apply stop sequences and the max-token cut like a model server would."""
    text = responder(model_id, prompt.system, prompt.messages)
    if not isinstance(text, str):
        raise TypeError(f"the emulation responder must return a str, got {type(text).__name__}")
    stop = "end"
    for sequence in prompt.stop:
        if sequence and sequence in text:
            text = text[: text.index(sequence)]
            stop = "stop_sequence"
    if prompt.max_tokens is not None and estimate_tokens(text) > prompt.max_tokens:
        text = text[: prompt.max_tokens * 4]
        stop = "max_tokens"
    input_tokens = max(estimate_tokens(prompt.text), 1)
    output_tokens = estimate_tokens(text)
    return Generation(text, stop, input_tokens, output_tokens, 40 + 2 * output_tokens)


def _malformed(detail: str) -> BodyError:
    return BodyError(f"Malformed input request: {detail}, please reformat your input and try again.")


def _require(body: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in body:
        raise _malformed(f"#: required key [{key}] not found")
    value = body[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _malformed(f"#/{key}: expected type: {_type_word(kind)}, found: {type(value).__name__}")
    return value


def _type_word(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    words = {
        str: "String",
        int: "Integer",
        float: "Number",
        list: "JSONArray",
        dict: "JSONObject",
        bool: "Boolean",
    }
    return " or ".join(words.get(k, k.__name__) for k in kinds)


def _optional(body: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in body or body[key] is None:
        return None
    return _require(body, key, kind)


def _no_extra(body: Mapping[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(body) - allowed)
    if extra:
        raise _malformed(f"#: extraneous key [{extra[0]}] is not permitted")


def _converse_messages(raw: Sequence[Any], *, where: str, string_content: bool) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise _malformed(f"#/{where}/{i}: expected type: JSONObject")
        role = item.get("role")
        if role not in ("user", "assistant"):
            raise _malformed(f"#/{where}/{i}/role: {role!r} is not a valid enum value")
        content = item.get("content")
        if isinstance(content, str) and string_content:
            blocks = [{"text": content}]
        elif isinstance(content, list):
            blocks = []
            for block in content:
                if not isinstance(block, Mapping):
                    raise _malformed(f"#/{where}/{i}/content: expected type: JSONObject")
                if "text" in block:
                    blocks.append({"text": str(block["text"])})
                else:
                    blocks.append(dict(block))
        else:
            raise _malformed(f"#/{where}/{i}/content: expected type: JSONArray")
        messages.append({"role": role, "content": blocks})
    if not messages:
        raise _malformed(f"#/{where}: expected minimum item count: 1, found: 0")
    if messages[0]["role"] != "user":
        raise _malformed(f"#/{where}/0/role: the first message must use the user role")
    return messages


def _join_text(system: str | None, messages: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join([system or "", *(message_text(m) for m in messages)]).strip()


_LLAMA_TURN = re.compile(
    r"<\|start_header_id\|>(system|user|assistant)<\|end_header_id\|>\s*(.*?)(?:<\|eot_id\|>|\Z)", re.DOTALL
)


def _llama_prompt(prompt: str) -> tuple[str | None, list[dict[str, Any]]]:
    """Split a Llama 3 chat-template prompt into system and messages (plain text is one user message)."""
    system: str | None = None
    messages: list[dict[str, Any]] = []
    for role, text in _LLAMA_TURN.findall(prompt):
        if role == "system":
            system = text.strip()
        elif text.strip() or role == "user":
            messages.append({"role": role, "content": [{"text": text.strip()}]})
    if not messages:
        cleaned = re.sub(r"<\|begin_of_text\|>|\[/?INST\]|<s>|</s>", "", prompt).strip()
        messages = [{"role": "user", "content": [{"text": cleaned}]}]
    return system, messages


def parse_invoke_body(family: str, body: bytes) -> Prompt:
    """Parse an InvokeModel body in ``family``'s dialect.

    Raises:
        BodyError: the body is not JSON or breaks the family's schema (Bedrock's wording).
    """
    try:
        doc = json.loads(body or b"null")
    except ValueError as exc:
        raise _malformed(f"#: the body is not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise _malformed("#: expected type: JSONObject")
    if family == "anthropic_messages":
        _no_extra(
            doc,
            {
                "anthropic_version",
                "max_tokens",
                "messages",
                "system",
                "stop_sequences",
                "temperature",
                "top_p",
                "top_k",
                "tools",
                "tool_choice",
                "metadata",
                "anthropic_beta",
                "thinking",
            },
        )
        _require(doc, "anthropic_version", str)
        max_tokens = _require(doc, "max_tokens", int)
        messages = _converse_messages(_require(doc, "messages", list), where="messages", string_content=True)
        system_value = _optional(doc, "system", (str, list))
        system = (
            system_value
            if isinstance(system_value, str) or system_value is None
            else "\n".join(str(b.get("text", "")) for b in system_value if isinstance(b, Mapping))
        )
        stop = [str(s) for s in _optional(doc, "stop_sequences", list) or []]
        return Prompt(system, messages, max_tokens, stop, _join_text(system, messages))
    if family == "meta_llama" or (family == "bedrock_completion" and "messages" not in doc):
        allowed = {"prompt", "max_gen_len", "temperature", "top_p", "images"}
        if family == "bedrock_completion":
            allowed |= {"max_tokens", "top_k", "stop", "logprobs", "return_logprobs"}
        _no_extra(doc, allowed)
        prompt_text = _require(doc, "prompt", str)
        max_tokens = _optional(doc, "max_gen_len", int) or _optional(doc, "max_tokens", int)
        stop = [str(s) for s in (doc.get("stop") or [])] if family == "bedrock_completion" else []
        system, messages = _llama_prompt(prompt_text)
        return Prompt(system, messages, max_tokens or 512, stop, prompt_text)
    if family == "bedrock_completion":  # OpenAI chat completion body for an imported model
        raw_messages = _require(doc, "messages", list)
        system = None
        turns = []
        for item in raw_messages:
            if isinstance(item, Mapping) and item.get("role") == "system":
                system = str(item.get("content", ""))
            else:
                turns.append(item)
        messages = _converse_messages(turns, where="messages", string_content=True)
        max_tokens = _optional(doc, "max_tokens", int)
        return Prompt(system, messages, max_tokens, [], _join_text(system, messages))
    if family == "nova_messages":
        _no_extra(doc, {"schemaVersion", "messages", "system", "inferenceConfig", "toolConfig"})
        schema = _optional(doc, "schemaVersion", str)
        if schema is not None and schema != "messages-v1":
            raise _malformed(f"#/schemaVersion: {schema} is not a valid enum value")
        messages = _converse_messages(_require(doc, "messages", list), where="messages", string_content=False)
        system_blocks = _optional(doc, "system", list) or []
        system = "\n".join(str(b.get("text", "")) for b in system_blocks if isinstance(b, Mapping)) or None
        config = _optional(doc, "inferenceConfig", dict) or {}
        max_tokens = config.get("max_new_tokens", config.get("maxTokens"))
        stop = [str(s) for s in config.get("stopSequences", [])]
        return Prompt(
            system, messages, int(max_tokens) if max_tokens else None, stop, _join_text(system, messages)
        )
    if family == "titan_text":
        _no_extra(doc, {"inputText", "textGenerationConfig"})
        text = _require(doc, "inputText", str)
        config = _optional(doc, "textGenerationConfig", dict) or {}
        max_tokens = config.get("maxTokenCount")
        stop = [str(s) for s in config.get("stopSequences", [])]
        messages = [{"role": "user", "content": [{"text": text}]}]
        return Prompt(None, messages, int(max_tokens) if max_tokens else 512, stop, text)
    if family == "cohere_command":
        _no_extra(
            doc,
            {
                "prompt",
                "max_tokens",
                "stop_sequences",
                "temperature",
                "p",
                "k",
                "return_likelihoods",
                "num_generations",
                "stream",
                "truncate",
            },
        )
        text = _require(doc, "prompt", str)
        max_tokens = _optional(doc, "max_tokens", int)
        stop = [str(s) for s in _optional(doc, "stop_sequences", list) or []]
        messages = [{"role": "user", "content": [{"text": text}]}]
        return Prompt(None, messages, max_tokens or 20, stop, text)
    raise _malformed(f"#: the emulation does not know the body format {family!r}")


_STOP_WORDS = {
    "anthropic_messages": {"end": "end_turn", "max_tokens": "max_tokens", "stop_sequence": "stop_sequence"},
    "meta_llama": {"end": "stop", "max_tokens": "length", "stop_sequence": "stop"},
    "bedrock_completion": {"end": "stop", "max_tokens": "length", "stop_sequence": "stop"},
    "nova_messages": {"end": "end_turn", "max_tokens": "max_tokens", "stop_sequence": "end_turn"},
    "titan_text": {"end": "FINISH", "max_tokens": "LENGTH", "stop_sequence": "STOP_CRITERIA_MET"},
    "cohere_command": {"end": "COMPLETE", "max_tokens": "MAX_TOKENS", "stop_sequence": "COMPLETE"},
    "converse": {"end": "end_turn", "max_tokens": "max_tokens", "stop_sequence": "stop_sequence"},
}


def stop_word(family: str, stop: str) -> str:
    """The family's word for why generation stopped."""
    return _STOP_WORDS.get(family, _STOP_WORDS["converse"])[stop]


def render_invoke_body(family: str, body: bytes, gen: Generation, *, request_id: str) -> dict[str, Any]:
    """The response body ``family`` returns for ``gen``."""
    reason = stop_word(family, gen.stop)
    if family == "anthropic_messages":
        return {
            "id": f"msg_bdrk_{request_id.replace('-', '')[:24]}",
            "type": "message",
            "role": "assistant",
            "model": "claude-emulated",
            "content": [{"type": "text", "text": gen.text}],
            "stop_reason": reason,
            "stop_sequence": None,
            "usage": {"input_tokens": gen.input_tokens, "output_tokens": gen.output_tokens},
        }
    if family == "meta_llama" or (family == "bedrock_completion" and b'"messages"' not in body):
        return {
            "generation": gen.text,
            "prompt_token_count": gen.input_tokens,
            "generation_token_count": gen.output_tokens,
            "stop_reason": reason,
        }
    if family == "bedrock_completion":
        return {
            "id": f"chatcmpl-{request_id[:12]}",
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": gen.text}, "finish_reason": reason}
            ],
            "usage": {
                "prompt_tokens": gen.input_tokens,
                "completion_tokens": gen.output_tokens,
                "total_tokens": gen.input_tokens + gen.output_tokens,
            },
        }
    if family == "nova_messages":
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": gen.text}]}},
            "stopReason": reason,
            "usage": {
                "inputTokens": gen.input_tokens,
                "outputTokens": gen.output_tokens,
                "totalTokens": gen.input_tokens + gen.output_tokens,
            },
        }
    if family == "titan_text":
        return {
            "inputTextTokenCount": gen.input_tokens,
            "results": [
                {"tokenCount": gen.output_tokens, "outputText": gen.text, "completionReason": reason}
            ],
        }
    if family == "cohere_command":
        return {
            "id": request_id,
            "prompt": "",
            "generations": [{"id": request_id, "text": gen.text, "finish_reason": reason}],
        }
    raise ValueError(f"unknown family {family!r}")  # pragma: no cover - parse_invoke_body refuses it first


def prompt_from_converse(params: Mapping[str, Any]) -> Prompt:
    """A :class:`Prompt` from Converse parameters (as parsed from the request)."""
    system_blocks = params.get("system") or []
    system = (
        "\n".join(str(b["text"]) for b in system_blocks if isinstance(b, Mapping) and "text" in b) or None
    )
    messages = [dict(m) for m in params.get("messages") or []]
    config = params.get("inferenceConfig") or {}
    max_tokens = config.get("maxTokens")
    stop = [str(s) for s in config.get("stopSequences") or []]
    return Prompt(system, messages, max_tokens, stop, _join_text(system, messages))
