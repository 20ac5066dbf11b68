"""Request bodies and response parsing for the common LLM serving containers behind SageMaker endpoints.

Two dialects:

- ``"tgi"``: ``{"inputs": "<prompt>", "parameters": {...}}``, spoken by Hugging Face TGI (``huggingface-llm``)
  and by DJL LMI rolling-batch containers. The SDK renders the conversation into the prompt itself (the Llama
  3 chat template, or the JumpStart instruction template a model was trained on). TGI answers with a **list**
  ``[{"generated_text", "details"}]``, LMI with a **dict**; both are accepted.
- ``"messages"``: ``{"messages": [...], "max_tokens": ...}``, DJL LMI's chat-completions schema, answered
  with an OpenAI ``chat.completion`` object (``choices[0].message.content`` and ``usage``).

Token counts come from ``details.generated_tokens`` / ``details.prefill`` (TGI with ``details: true``) or from
``usage`` (LMI); whatever is missing is estimated at about 4 characters per token and flagged.

Examples:
    >>> from finetune_sdk.backends.base import InferenceConfig
    >>> from finetune_sdk.data.records import Turn
    >>> from finetune_sdk.backends.sagemaker import serving
    >>> body = serving.build_request("tgi", "llama3_chat", "Be brief.", (Turn.of("user", "2+2?"),),
    ...                              InferenceConfig(max_tokens=8))
    >>> body["inputs"].endswith("<|start_header_id|>assistant<|end_header_id|>\\n\\n")
    True
    >>> body["parameters"]["stop"]
    ['<|eot_id|>']
    >>> serving.parse_response(b'[{"generated_text": "4<|eot_id|>", '
    ...                        b'"details": {"finish_reason": "eos_token", "generated_tokens": 2}}]')
    Parsed(text='4', stop_reason='end_turn', input_tokens=None, output_tokens=2)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

from finetune_sdk.backends.base import InferenceConfig
from finetune_sdk.data.records import Turn
from finetune_sdk.errors import ServiceValidationError

__all__ = [
    "Dialect",
    "Parsed",
    "PromptFormat",
    "build_request",
    "guess_dialect",
    "jumpstart_instruction_prompt",
    "llama3_chat_prompt",
    "parse_response",
]

Dialect = Literal["tgi", "messages"]
PromptFormat = Literal["llama3_chat", "jumpstart_instruction"]

LLAMA3_EOT = "<|eot_id|>"
_STOP_REASONS = {
    "length": "max_tokens",
    "max_tokens": "max_tokens",
    "eos_token": "end_turn",
    "eos": "end_turn",
    "stop": "end_turn",
    "stop_sequence": "stop_sequence",
}


class Parsed(NamedTuple):
    """What a container answered: text, the normalised stop reason and the token counts it reported."""

    text: str
    stop_reason: str | None
    input_tokens: int | None
    output_tokens: int | None


def llama3_chat_prompt(system: str | None, turns: Sequence[Turn]) -> str:
    """The Llama 3 chat template, ending with an open assistant header for the model to complete.

    Examples:
        >>> from finetune_sdk.data.records import Turn
        >>> llama3_chat_prompt(None, [Turn.of("user", "Hi")])
        '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\\n\\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\\n\\n'
    """
    parts = ["<|begin_of_text|>"]
    if system:
        parts.append(f"<|start_header_id|>system<|end_header_id|>\n\n{system}{LLAMA3_EOT}")
    for turn in turns:
        parts.append(f"<|start_header_id|>{turn.role}<|end_header_id|>\n\n{turn.text}{LLAMA3_EOT}")
    parts.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(parts)


def jumpstart_instruction_prompt(system: str | None, turns: Sequence[Turn]) -> str:
    """The prompt half of the JumpStart instruction template (what ``jumpstart_instruction`` data trained on).

    The conversation is rendered the way the ``jumpstart_instruction`` format writes training records
    (system prompt and earlier turns folded into the instruction), so training and serving agree.
    """
    from finetune_sdk.data.formats import jumpstart_instruction as fmt
    from finetune_sdk.data.records import Conversation

    record = Conversation.model_construct(kind="conversation", system=system, turns=tuple(turns), metadata={})
    wire, _ = fmt.render(record)
    fields = {"instruction": "", "context": ""}
    if wire:
        fields.update({k: str(v) for k, v in wire.items() if k in fields})
    return fmt.TEMPLATE["prompt"].format(**fields)


def build_request(
    dialect: Dialect,
    prompt_format: PromptFormat,
    system: str | None,
    turns: Sequence[Turn],
    config: InferenceConfig,
) -> dict[str, Any]:
    """The JSON body for ``InvokeEndpoint`` in ``dialect``."""
    if dialect == "messages":
        messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
        messages += [{"role": t.role, "content": t.text} for t in turns]
        body: dict[str, Any] = {
            "messages": messages,
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
        }
        if config.top_p is not None:
            body["top_p"] = config.top_p
        if config.stop:
            body["stop"] = list(config.stop)
        return body
    if prompt_format == "jumpstart_instruction":
        prompt = jumpstart_instruction_prompt(system, turns)
        stop = list(config.stop)
    else:
        prompt = llama3_chat_prompt(system, turns)
        stop = [LLAMA3_EOT, *config.stop]
    params: dict[str, Any] = {"max_new_tokens": config.max_tokens, "details": True, "return_full_text": False}
    if config.temperature > 0:
        # TGI rejects temperature=0; greedy decoding is do_sample=False
        params.update(do_sample=True, temperature=config.temperature)
    else:
        params["do_sample"] = False
    if config.top_p is not None and 0.0 < config.top_p < 1.0:
        params["top_p"] = config.top_p
    if stop:
        params["stop"] = stop
    return {"inputs": prompt, "parameters": params}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _strip_stops(text: str, stops: Sequence[str]) -> str:
    changed = True
    while changed:
        changed = False
        for stop in stops:
            if stop and text.endswith(stop):
                text = text[: -len(stop)]
                changed = True
    return text


def parse_response(
    body: bytes | str, *, prompt: str | None = None, stops: Sequence[str] = (LLAMA3_EOT,)
) -> Parsed:
    """Normalise a container's answer (list- or dict-shaped, TGI, LMI or OpenAI chat.completion).

    Args:
        prompt: the prompt sent; removed from the front of the text if the container echoed it.
        stops: stop sequences removed from the end of the text.

    Raises:
        ServiceValidationError: the body is not JSON, reports an error, or holds no generated text.
    """
    raw = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        data: Any = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ServiceValidationError(
            f"the endpoint answered with a body that is not JSON ({raw[:200]!r}); is the payload dialect "
            "right? Set SageMakerEndpointOptions(payload='tgi' | 'messages')",
            backend="sagemaker",
        ) from exc
    if isinstance(data, list):
        data = data[0] if data else {}
    if not isinstance(data, Mapping):
        raise ServiceValidationError(f"unexpected endpoint answer: {raw[:200]!r}", backend="sagemaker")
    if "error" in data and not data.get("choices") and "generated_text" not in data:
        raise ServiceValidationError(f"the endpoint reported an error: {data['error']}", backend="sagemaker")

    text: str | None = None
    finish: Any = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    choices = data.get("choices")
    if isinstance(choices, list) and choices:
        first = choices[0] if isinstance(choices[0], Mapping) else {}
        message = first.get("message")
        if isinstance(message, Mapping):
            text = str(message.get("content") or "")
        elif "text" in first:
            text = str(first.get("text") or "")
        finish = first.get("finish_reason")
        usage = _mapping(data.get("usage"))
        input_tokens = _int_or_none(usage.get("prompt_tokens"))
        output_tokens = _int_or_none(usage.get("completion_tokens"))
    elif "generated_text" in data:
        text = str(data.get("generated_text") or "")
        details = _mapping(data.get("details"))
        finish = details.get("finish_reason")
        output_tokens = _int_or_none(details.get("generated_tokens"))
        prefill = details.get("prefill")
        if isinstance(prefill, list) and prefill:
            input_tokens = len(prefill)
    elif "generation" in data:  # JumpStart's older Llama containers
        text = str(data.get("generation") or "")
    if text is None:
        raise ServiceValidationError(
            f"the endpoint answer has no generated text ({raw[:200]!r}); set "
            "SageMakerEndpointOptions(payload=...) to the container's dialect",
            backend="sagemaker",
        )
    if prompt and text.startswith(prompt):
        text = text[len(prompt) :]
    # the JumpStart instruction template's completion starts with a space; answers are trimmed everywhere
    text = _strip_stops(text, stops).strip()
    stop_reason = _STOP_REASONS.get(str(finish), str(finish)) if finish is not None else None
    return Parsed(text=text, stop_reason=stop_reason, input_tokens=input_tokens, output_tokens=output_tokens)


def guess_dialect(image_uri: str | None) -> Dialect | None:
    """The dialect a serving image speaks, from its repository name (``None`` when it cannot tell).

    Examples:
        >>> registry = "763104351884.dkr.ecr.us-east-1.amazonaws.com"
        >>> guess_dialect(f"{registry}/huggingface-pytorch-tgi-inference:2.4")
        'tgi'
        >>> guess_dialect(f"{registry}/djl-inference:0.31.0-lmi13.0.0-cu124")
        'messages'
    """
    if not image_uri:
        return None
    repo = image_uri.rsplit("/", 1)[-1].split(":", 1)[0].lower()
    if "tgi" in repo or "text-generation-inference" in repo:
        return "tgi"
    if "djl" in repo or "lmi" in repo or "vllm" in repo:
        return "messages"
    return None
