"""Parsing of the request and response bodies found in Amazon Bedrock model-invocation logs: each model
family's prompt shape back to a system prompt and turns, and each response shape back to its text (see
:mod:`finetune_sdk.data.logs` for the list of shapes).

Private: :func:`finetune_sdk.data.logs.read_invocation_logs` and
:func:`~finetune_sdk.data.logs.parse_invocation_log` are the public entry points.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class _Skip(Exception):
    """An entry cannot be used; ``reason`` is a key of :data:`finetune_sdk.data.logs.SKIP_REASONS`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Prompt:
    family: str
    system: str | None
    turns: list[tuple[str, str]] = field(default_factory=list)  # (role, text)


_MEDIA_BLOCKS = frozenset({"image", "document", "video", "audio", "image_url", "input_image"})
_TOOL_BLOCKS = frozenset({"toolUse", "toolResult", "tool_use", "tool_result", "tool_calls", "function_call"})
_IGNORED_BLOCKS = frozenset({"cachePoint", "guardContent", "reasoningContent", "thinking",
                             "redacted_thinking", "cache_control"})


def _block_text(block: Any) -> str | None:
    """The text of one content block, ``None`` for blocks without text that may be ignored."""
    if isinstance(block, str):
        return block
    if not isinstance(block, Mapping):
        raise _Skip("unsupported_body")
    kind = block.get("type")
    if kind in _MEDIA_BLOCKS or any(k in block for k in _MEDIA_BLOCKS):
        raise _Skip("multimodal")
    if kind in _TOOL_BLOCKS or any(k in block for k in _TOOL_BLOCKS):
        raise _Skip("tool_use")
    if "text" in block and isinstance(block["text"], str):
        return str(block["text"])
    if kind in _IGNORED_BLOCKS or any(k in block for k in _IGNORED_BLOCKS):
        return None
    raise _Skip("unsupported_body")


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        texts = [t for t in (_block_text(b) for b in content) if t is not None]
        return "\n".join(texts)
    raise _Skip("unsupported_body")


def _system_text(system: Any) -> str | None:
    if system is None:
        return None
    text = _content_text(system).strip()
    return text or None


def _parse_messages(body: Mapping[str, Any], family: str) -> _Prompt:
    messages = body.get("messages")
    if not isinstance(messages, Sequence) or isinstance(messages, str):
        raise _Skip("unsupported_body")
    prompt = _Prompt(family=family, system=_system_text(body.get("system")))
    for message in messages:
        if not isinstance(message, Mapping):
            raise _Skip("unsupported_body")
        role = message.get("role")
        if message.get("tool_calls"):
            raise _Skip("tool_use")
        text = _content_text(message.get("content", ""))
        if role == "system":  # OpenAI-style system message inside the list
            prompt.system = f"{prompt.system}\n{text}" if prompt.system else (text.strip() or None)
            continue
        if role == "tool":
            raise _Skip("tool_use")
        if role not in ("user", "assistant"):
            raise _Skip("unsupported_body")
        prompt.turns.append((str(role), text))
    return prompt


_LLAMA3_HEADER_RE = re.compile(
    r"<\|start_header_id\|>(?P<role>[a-z]+)<\|end_header_id\|>\n?\n?(?P<text>.*?)(?=<\|eot_id\|>|<\|start_header_id\|>|\Z)",
    re.DOTALL,
)
_LLAMA2_SYS_RE = re.compile(r"<<SYS>>\s*(?P<sys>.*?)\s*<</SYS>>\s*", re.DOTALL)
_INST_RE = re.compile(
    r"\[INST\](?P<user>.*?)\[/INST\](?P<answer>.*?)(?=(?:</s>)?\s*(?:<s>)?\s*\[INST\]|\Z)", re.DOTALL
)


def _parse_llama3(prompt: str) -> _Prompt:
    """Recover system and turns from a prompt written with the Llama 3 chat template."""
    parsed = _Prompt(family="llama", system=None)
    for match in _LLAMA3_HEADER_RE.finditer(prompt):
        role, text = match.group("role"), match.group("text")
        if role == "system":
            parsed.system = text.strip() or None
        elif role in ("user", "assistant"):
            parsed.turns.append((role, text))
        elif role in ("ipython", "tool"):
            raise _Skip("tool_use")
        else:
            raise _Skip("unsupported_body")
    # The template ends with an empty assistant header: the generation prompt, not a turn.
    if parsed.turns and parsed.turns[-1][0] == "assistant" and not parsed.turns[-1][1].strip():
        parsed.turns.pop()
    return parsed


def _parse_inst(prompt: str, family: str) -> _Prompt:
    """Recover system and turns from a ``[INST] ... [/INST]`` prompt (Llama 2, Mistral)."""
    parsed = _Prompt(family=family, system=None)
    for match in _INST_RE.finditer(prompt):
        user = match.group("user")
        sys_match = _LLAMA2_SYS_RE.search(user)
        if sys_match:
            if parsed.system is None:
                parsed.system = sys_match.group("sys").strip() or None
            user = _LLAMA2_SYS_RE.sub("", user, count=1)
        parsed.turns.append(("user", user.strip()))
        answer = match.group("answer").replace("</s>", "").strip()
        if answer:
            parsed.turns.append(("assistant", answer))
    return parsed


_HUMAN_RE = re.compile(r"\n\nHuman:|\n\nAssistant:")


def _parse_anthropic_text(prompt: str) -> _Prompt:
    """``"\\n\\nHuman: ...\\n\\nAssistant:"`` (Claude text completions)."""
    parsed = _Prompt(family="anthropic_text", system=None)
    pieces = _HUMAN_RE.split(prompt)
    markers = _HUMAN_RE.findall(prompt)
    head = pieces[0].strip()
    parsed.system = head or None
    for marker, text in zip(markers, pieces[1:], strict=True):
        role = "user" if marker.endswith("Human:") else "assistant"
        parsed.turns.append((role, text.strip()))
    if parsed.turns and parsed.turns[-1][0] == "assistant" and not parsed.turns[-1][1]:
        parsed.turns.pop()
    return parsed


def _parse_titan(text: str) -> _Prompt:
    # Titan's documented conversational convention is "User: ...\nBot:"; keep only the user's words.
    body = text.strip()
    if body.startswith("User:") and body.endswith("Bot:"):
        body = body[len("User:"):-len("Bot:")].strip()
    return _Prompt(family="titan", system=None, turns=[("user", body)])


def _family_of(model_id: str) -> str:
    tail = _normalize_model_id(model_id)
    for prefix, family in (("anthropic.", "anthropic"), ("meta.", "llama"), ("mistral.", "mistral"),
                           ("cohere.", "cohere"), ("amazon.titan", "titan"), ("amazon.nova", "nova"),
                           ("openai.", "openai")):
        if tail.startswith(prefix):
            return family
    return ""


def _parse_prompt(body: Mapping[str, Any], *, operation: str, model_id: str) -> _Prompt:
    """The system prompt and turns of a request body, whatever the family."""
    if operation.startswith("Converse"):
        return _parse_messages(body, "converse")
    if "messages" in body:
        if "anthropic_version" in body:
            return _parse_messages(body, "anthropic")
        if body.get("schemaVersion") == "messages-v1" or _family_of(model_id) == "nova":
            return _parse_messages(body, "nova")
        return _parse_messages(body, _family_of(model_id) or "openai")
    if "inputText" in body:
        if "embed" in model_id or "dimensions" in body or "embeddingTypes" in body:
            raise _Skip("embedding_request")
        text = body["inputText"]
        if not isinstance(text, str):
            raise _Skip("unsupported_body")
        return _parse_titan(text)
    if "texts" in body or "input_type" in body:
        raise _Skip("embedding_request")
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        family = _family_of(model_id)
        if "<|start_header_id|>" in prompt:
            return _parse_llama3(prompt)
        if "[INST]" in prompt:
            return _parse_inst(prompt, family or "mistral")
        if "\n\nHuman:" in prompt:
            return _parse_anthropic_text(prompt)
        return _Prompt(family=family or "prompt", system=None, turns=[("user", prompt)])
    raise _Skip("unsupported_body")


def _message_text(message: Any) -> str | None:
    if not isinstance(message, Mapping):
        return None
    content = message.get("content")
    if content is None:
        return None
    try:
        return _content_text(content)
    except _Skip:
        # A response with a tool call or an image has no plain-text answer to learn from.
        return None


def _response_text(body: Any) -> str | None:
    """The generated text of a response body of any family (``None`` when there is none)."""
    if isinstance(body, list):  # streaming: a list of chunks
        pieces = [_chunk_text(chunk) for chunk in body]
        joined = "".join(p for p in pieces if p)
        return joined or None
    if not isinstance(body, Mapping):
        return None
    output = body.get("output")
    if isinstance(output, Mapping) and "message" in output:  # Converse, Nova
        return _message_text(output["message"])
    content = body.get("content")
    if isinstance(content, list):  # Anthropic messages
        return _message_text({"content": content})
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):  # OpenAI
        first = choices[0]
        return _message_text(first.get("message")) if "message" in first else _str(first.get("text"))
    for key in ("generation", "completion"):  # Llama, Claude text completions
        if isinstance(body.get(key), str):
            return str(body[key])
    for key, inner in (("results", "outputText"), ("outputs", "text"), ("generations", "text")):
        items = body.get(key)  # Titan, Mistral, Cohere
        if isinstance(items, list) and items and isinstance(items[0], Mapping):
            return _str(items[0].get(inner))
    return None


def _chunk_text(chunk: Any) -> str | None:
    if not isinstance(chunk, Mapping):
        return None
    delta = chunk.get("contentBlockDelta")  # ConverseStream
    if isinstance(delta, Mapping):
        inner = delta.get("delta")
        return _str(inner.get("text")) if isinstance(inner, Mapping) else None
    if chunk.get("type") == "content_block_delta":  # Anthropic stream
        inner = chunk.get("delta")
        return _str(inner.get("text")) if isinstance(inner, Mapping) else None
    if chunk.get("type") or "messageStart" in chunk or "messageStop" in chunk or "metadata" in chunk:
        return None
    if "outputText" in chunk:  # Titan stream
        return _str(chunk.get("outputText"))
    return _response_text(chunk)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _is_embedding_response(body: Any) -> bool:
    return isinstance(body, Mapping) and ("embedding" in body or "embeddings" in body)


def _body(part: Any, key: str, fetch: Callable[[str], Any] | None) -> Any:
    """``input.inputBodyJson`` (or the S3 object a large body was moved to)."""
    if not isinstance(part, Mapping):
        return None
    body = part.get(f"{key}BodyJson")
    if body is None and isinstance(part.get(f"{key}BodyS3Path"), str) and fetch is not None:
        body = fetch(str(part[f"{key}BodyS3Path"]))
    if isinstance(body, str):  # some writers log the body as a JSON string
        try:
            body = json.loads(body)
        except ValueError:
            return None
    return body


def _normalize_model_id(model_id: str) -> str:
    """``arn:...:foundation-model/x`` and ``us.x`` (a system inference profile) both become ``x``."""
    key = model_id.strip()
    if key.startswith("arn:") and "/" in key:
        key = key.rsplit("/", 1)[1]
    return re.sub(r"^(us|eu|apac|us-gov|ca|jp|au|global)\.", "", key)
