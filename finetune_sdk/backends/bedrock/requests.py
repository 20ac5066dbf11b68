"""Pure functions between the SDK's specs and Bedrock's request and response dicts.

Nothing here talks to AWS or imports boto3: every function takes SDK values and returns the exact keyword
arguments of one boto3 call (or parses one response), so the payloads can be pinned by tests and reused by the
AWS emulation. The backend (``backend.py``) validates each request with ``checks.validate_request`` and sends
it.

Examples:
    >>> from finetune_sdk.backends.base import JobKind, JobSpec
    >>> spec = JobSpec(kind=JobKind.FINE_TUNING, base_model="amazon.titan-text-lite-v1:0:4k", name="ft-demo",
    ...                output_model_name="demo", training_data="s3://bucket/train.jsonl",
    ...                hyperparameters={"epochCount": 2, "learningRate": 0.00005})
    >>> req = customization_job_request(spec, role_arn="arn:aws:iam::123456789012:role/r", output_uri="s3://bucket/out")
    >>> req["customizationType"], req["hyperParameters"]
    ('FINE_TUNING', {'epochCount': '2', 'learningRate': '0.00005'})
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from finetune_sdk.backends.base import (
    BackendOptions,
    ChatResponse,
    DeploymentSpec,
    InferenceConfig,
    JobKind,
    JobSpec,
)
from finetune_sdk.backends.bedrock.checks import CUSTOMIZATION_TYPE, base_model_info
from finetune_sdk.backends.bedrock.options import BedrockOptions
from finetune_sdk.catalog import resolve as _resolve_catalog
from finetune_sdk.data.records import MediaPart, TextPart, Turn
from finetune_sdk.errors import ConfigurationError
from finetune_sdk.hyperparameters import format_service_value

__all__ = [
    "ANTHROPIC_VERSION",
    "INVOKE_DIALECTS",
    "batch_job_request",
    "batch_record_line",
    "converse_request",
    "custom_model_deployment_request",
    "customization_job_request",
    "decode_body",
    "encode_body",
    "flatten_prompt",
    "format_hyperparameter",
    "import_job_request",
    "invoke_body",
    "job_request",
    "llama3_prompt",
    "parse_batch_output_line",
    "parse_converse_response",
    "parse_invoke_response",
    "provisioned_throughput_request",
    "runtime_model_family",
    "tags_to_request",
]

ANTHROPIC_VERSION = "bedrock-2023-05-31"
#: InvokeModel body dialects: the catalog's ``invoke_body`` values plus the two used for imported models
INVOKE_DIALECTS = (
    "anthropic_messages",
    "meta_llama",
    "nova_messages",
    "titan_text",
    "cohere_command",
    "bedrock_completion",
    "openai_chat",
)
_ROLE_HINT = (
    "Bedrock jobs need a service role the service can assume: pass role_arn= (to the Job call or to "
    "backends.get('bedrock', role_arn=...)), or create one with "
    "finetune_sdk.backends.bedrock.iam.create_service_role(...)"
)


# --- small helpers ---------------------------------------------------------------------------------------
#: Bedrock's string form of one hyperparameter value: the SDK's one serialiser
#: (:func:`finetune_sdk.hyperparameters.format_service_value`), kept under its old name
format_hyperparameter = format_service_value


def tags_to_request(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """``{"k": "v"}`` → ``[{"key": "k", "value": "v"}]`` (Bedrock's tag list, sorted for stable payloads)."""
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def _bedrock_options(options: BackendOptions | None) -> BedrockOptions:
    if options is None:
        return BedrockOptions()
    if isinstance(options, BedrockOptions):
        return options
    raise ConfigurationError(
        f"the bedrock backend takes backend_options=BedrockOptions(...), got {type(options).__name__}; "
        "from finetune_sdk.backends.bedrock import BedrockOptions"
    )


def _customization_base(base_model: str) -> str:
    """The ``baseModelIdentifier``: catalog ids and runtime ids become the customisation id (``...:128k``)."""
    if base_model.startswith("arn:"):
        return base_model
    info = _resolve_catalog(base_model)
    # the catalog id, the on-demand id, or the foundation-model id without its context suffix ("...-v1:0")
    aliases = (info.id, info.runtime_id, info.runtime_id.removeprefix("us."), info.id.rsplit(":", 1)[0]) if info else ()
    if info is not None and base_model in aliases:
        return info.id
    return base_model


def _require(value: str | None, what: str, fix: str) -> str:
    if not value:
        raise ConfigurationError(f"{what} is not set. {fix}")
    return value


# --- jobs --------------------------------------------------------------------------------------------------
def customization_job_request(
    spec: JobSpec, *, role_arn: str | None, output_uri: str | None
) -> dict[str, Any]:
    """``CreateModelCustomizationJob`` keyword arguments for a fine-tuning, CPT or distillation spec.

    ``role_arn`` / ``output_uri`` are the backend defaults; the spec's own values win.

    Raises:
        ConfigurationError: no role or output location, or an IMPORT spec (see :func:`import_job_request`).
    """
    if spec.kind is JobKind.IMPORT:
        raise ConfigurationError("an import spec becomes CreateModelImportJob: use import_job_request()")
    role = _require(spec.role_arn or role_arn, "roleArn", _ROLE_HINT)
    output = _require(
        spec.output_uri or output_uri,
        "the job's output location",
        "Pass output_uri='s3://bucket/prefix' to the Job call or to backends.get('bedrock', output_uri=...)",
    )
    options = _bedrock_options(spec.backend_options)
    training: dict[str, Any] = {}
    if spec.training_data:
        training["s3Uri"] = spec.training_data
    if spec.invocation_logs is not None:
        logs: dict[str, Any] = {
            "usePromptResponse": spec.invocation_logs.use_prompt_response,
            "invocationLogSource": {"s3Uri": spec.invocation_logs.s3_uri},
        }
        if spec.invocation_logs.filter is not None:
            logs["requestMetadataFilters"] = spec.invocation_logs.filter.to_request()
        training["invocationLogsConfig"] = logs
    request: dict[str, Any] = {
        "jobName": spec.name,
        "customModelName": spec.output_model_name,
        "roleArn": role,
        "clientRequestToken": spec.client_token(),
        "baseModelIdentifier": _customization_base(spec.base_model),
        "customizationType": CUSTOMIZATION_TYPE[spec.kind],
        "trainingDataConfig": training,
        "outputDataConfig": {"s3Uri": output},
    }
    if spec.validation_data:
        request["validationDataConfig"] = {"validators": [{"s3Uri": spec.validation_data}]}
    if spec.kind is JobKind.REINFORCEMENT:  # issue 17: rftConfig with native-typed hyperparameters
        from finetune_sdk.backends.bedrock._rft import rft_config

        request["customizationConfig"] = {"rftConfig": rft_config(spec)}
    elif spec.hyperparameters:
        request["hyperParameters"] = {k: format_hyperparameter(v) for k, v in spec.hyperparameters.items()}
    if spec.kind is JobKind.DISTILLATION:
        assert spec.teacher is not None  # JobSpec's validator guarantees it
        request["customizationConfig"] = {
            "distillationConfig": {
                "teacherModelConfig": {
                    "teacherModelIdentifier": spec.teacher.model_id,
                    "maxResponseLengthForInference": spec.teacher.max_response_length,
                }
            }
        }
    if spec.tags:
        request["jobTags"] = tags_to_request(spec.tags)
        request["customModelTags"] = tags_to_request(spec.tags)
    if options.kms_key_id:
        request["customModelKmsKeyId"] = options.kms_key_id
    vpc = options.vpc_config()
    if vpc:
        request["vpcConfig"] = vpc
    return request


def import_job_request(spec: JobSpec, *, role_arn: str | None) -> dict[str, Any]:
    """``CreateModelImportJob`` keyword arguments for an IMPORT spec (``model_source`` is the S3 folder).

    Raises:
        ConfigurationError: not an import spec, no role, or a source that is not an ``s3://`` folder.
    """
    if spec.kind is not JobKind.IMPORT or not spec.model_source:
        raise ConfigurationError("import_job_request() needs a JobSpec(kind=IMPORT, model_source='s3://...')")
    if not spec.model_source.startswith("s3://"):
        raise ConfigurationError(
            f"Bedrock imports models from S3, not {spec.model_source!r}: upload the folder (config.json, "
            "*.safetensors, tokenizer files) and pass its s3:// URI"
        )
    role = _require(spec.role_arn or role_arn, "roleArn", _ROLE_HINT)
    options = _bedrock_options(spec.backend_options)
    request: dict[str, Any] = {
        "jobName": spec.name,
        "importedModelName": spec.output_model_name,
        "roleArn": role,
        "modelDataSource": {"s3DataSource": {"s3Uri": spec.model_source}},
        "clientRequestToken": spec.client_token(),
    }
    if spec.tags:
        request["jobTags"] = tags_to_request(spec.tags)
        request["importedModelTags"] = tags_to_request(spec.tags)
    if options.kms_key_id:
        request["importedModelKmsKeyId"] = options.kms_key_id
    vpc = options.vpc_config()
    if vpc:
        request["vpcConfig"] = vpc
    return request


def job_request(spec: JobSpec, *, role_arn: str | None, output_uri: str | None) -> tuple[str, dict[str, Any]]:
    """``(operation, kwargs)`` for any job spec."""
    if spec.kind is JobKind.IMPORT:
        return "CreateModelImportJob", import_job_request(spec, role_arn=role_arn)
    return "CreateModelCustomizationJob", customization_job_request(
        spec, role_arn=role_arn, output_uri=output_uri
    )


# --- deployments -----------------------------------------------------------------------------------------
def provisioned_throughput_request(spec: DeploymentSpec) -> dict[str, Any]:
    """``CreateProvisionedModelThroughput`` kwargs. No commitment unless ``spec.commitment`` asks for one."""
    request: dict[str, Any] = {
        "modelUnits": spec.model_units,
        "provisionedModelName": spec.name,
        "modelId": spec.model_id,
        "clientRequestToken": spec.client_token(),
    }
    if spec.commitment:
        request["commitmentDuration"] = spec.commitment
    if spec.tags:
        request["tags"] = tags_to_request(spec.tags)
    return request


def custom_model_deployment_request(spec: DeploymentSpec, *, model_arn: str) -> dict[str, Any]:
    """``CreateCustomModelDeployment`` kwargs (on-demand inference for a custom model)."""
    options = _bedrock_options(spec.backend_options)
    request: dict[str, Any] = {
        "modelDeploymentName": spec.name,
        "modelArn": model_arn,
        "clientRequestToken": spec.client_token(),
    }
    if options.deployment_description:
        request["description"] = options.deployment_description
    if spec.tags:
        request["tags"] = tags_to_request(spec.tags)
    return request


# --- Converse ----------------------------------------------------------------------------------------------
def _media_block(part: MediaPart) -> dict[str, Any]:
    if part.uri.startswith("s3://"):
        location: dict[str, Any] = {"uri": part.uri}
        if part.bucket_owner:
            location["bucketOwner"] = part.bucket_owner
        source: dict[str, Any] = {"s3Location": location}
    else:
        path = Path(part.uri.removeprefix("file://"))
        try:
            source = {"bytes": path.read_bytes()}
        except OSError as exc:
            raise ConfigurationError(f"cannot read the {part.type} {part.uri!r} to send it: {exc}") from exc
    return {part.type: {"format": part.format, "source": source}}


def _content_blocks(turn: Turn) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in turn.content:
        if isinstance(part, TextPart):
            if part.text:
                blocks.append({"text": part.text})
        else:
            blocks.append(_media_block(part))
    return blocks or [{"text": " "}]


def _check_turns(turns: Sequence[Turn]) -> None:
    if not turns:
        raise ConfigurationError("a chat request needs at least one turn (a user message)")
    if turns[0].role != "user":
        raise ConfigurationError("the first turn of a chat request must be the user's")


def converse_request(
    model_id: str, *, system: str | None, turns: Sequence[Turn], config: InferenceConfig
) -> dict[str, Any]:
    """``Converse`` kwargs: messages with text (and image/video) blocks, system prompt, inference config.

    Raises:
        ConfigurationError: no turns, or the first turn is not the user's.
    """
    _check_turns(turns)
    inference: dict[str, Any] = {"maxTokens": config.max_tokens, "temperature": config.temperature}
    if config.top_p is not None:
        inference["topP"] = config.top_p
    if config.stop:
        inference["stopSequences"] = list(config.stop)
    request: dict[str, Any] = {
        "modelId": model_id,
        "messages": [{"role": t.role, "content": _content_blocks(t)} for t in turns],
        "inferenceConfig": inference,
    }
    if system:
        request["system"] = [{"text": system}]
    return request


def parse_converse_response(response: Mapping[str, Any], *, model_id: str, latency_s: float) -> ChatResponse:
    """A :class:`ChatResponse` from a ``Converse`` response (service token counts, stop reason)."""
    message = (response.get("output") or {}).get("message") or {}
    text = "".join(
        block.get("text", "") for block in message.get("content", []) if isinstance(block, Mapping)
    )
    usage = response.get("usage") or {}
    raw = {k: response[k] for k in ("stopReason", "usage", "metrics") if k in response}
    return ChatResponse(
        text=text,
        stop_reason=response.get("stopReason"),
        input_tokens=usage.get("inputTokens"),
        output_tokens=usage.get("outputTokens"),
        tokens_estimated=False,
        latency_s=latency_s,
        model_id=model_id,
        raw=raw,
    )


# --- InvokeModel bodies ------------------------------------------------------------------------------------
def flatten_prompt(system: str | None, turns: Sequence[Turn]) -> str:
    """One prompt string for completion-style bodies, rendered exactly as ``prompt_completion`` training data.

    A single user turn is its text; earlier turns become ``User: ...`` / ``Assistant: ...`` blocks; the
    system prompt goes first. Matching the training rendering avoids train/serve skew in fine-tuned models.
    """
    prompt_turns = list(turns)
    if len(prompt_turns) > 1:
        prompt = "\n\n".join(f"{'User' if t.role == 'user' else 'Assistant'}: {t.text}" for t in prompt_turns)
    else:
        prompt = prompt_turns[0].text if prompt_turns else ""
    if system:
        prompt = f"{system}\n\n{prompt}" if prompt else system
    return prompt


def llama3_prompt(system: str | None, turns: Sequence[Turn]) -> str:
    """The Llama 3 chat template, ending with the assistant header so the model answers.

    Examples:
        >>> print(llama3_prompt("Be brief.", [Turn.of("user", "Hi")]).replace("<|eot_id|>", "|"))
        <|begin_of_text|><|start_header_id|>system<|end_header_id|>
        <BLANKLINE>
        Be brief.|<|start_header_id|>user<|end_header_id|>
        <BLANKLINE>
        Hi|<|start_header_id|>assistant<|end_header_id|>
        <BLANKLINE>
        <BLANKLINE>
    """
    parts = ["<|begin_of_text|>"]
    if system:
        parts.append(f"<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>")
    for t in turns:
        parts.append(f"<|start_header_id|>{t.role}<|end_header_id|>\n\n{t.text}<|eot_id|>")
    parts.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(parts)


def invoke_body(
    dialect: str, *, system: str | None, turns: Sequence[Turn], config: InferenceConfig
) -> dict[str, Any]:
    """The ``InvokeModel`` JSON body of one request in ``dialect`` (see :data:`INVOKE_DIALECTS`).

    Only the text of each turn is sent (media needs Converse, which :meth:`BedrockBackend.chat` tries first).

    Raises:
        ConfigurationError: unknown dialect, or no turns.
    """
    _check_turns(turns)
    if dialect == "anthropic_messages":
        body: dict[str, Any] = {
            "anthropic_version": ANTHROPIC_VERSION,
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
            "messages": [{"role": t.role, "content": [{"type": "text", "text": t.text}]} for t in turns],
        }
        if system:
            body["system"] = system
        if config.top_p is not None:
            body["top_p"] = config.top_p
        if config.stop:
            body["stop_sequences"] = list(config.stop)
        return body
    if dialect == "nova_messages":
        inference: dict[str, Any] = {"maxTokens": config.max_tokens, "temperature": config.temperature}
        if config.top_p is not None:
            inference["topP"] = config.top_p
        if config.stop:
            inference["stopSequences"] = list(config.stop)
        body = {
            "schemaVersion": "messages-v1",
            "messages": [{"role": t.role, "content": [{"text": t.text}]} for t in turns],
            "inferenceConfig": inference,
        }
        if system:
            body["system"] = [{"text": system}]
        return body
    if dialect in ("meta_llama", "bedrock_completion"):
        prompt = llama3_prompt(system, turns) if dialect == "meta_llama" else flatten_prompt(system, turns)
        body = {"prompt": prompt, "max_gen_len": config.max_tokens, "temperature": config.temperature}
        if config.top_p is not None:
            body["top_p"] = config.top_p
        return body
    if dialect == "titan_text":
        generation: dict[str, Any] = {"maxTokenCount": config.max_tokens, "temperature": config.temperature}
        if config.top_p is not None:
            generation["topP"] = config.top_p
        if config.stop:
            generation["stopSequences"] = list(config.stop)
        return {"inputText": flatten_prompt(system, turns), "textGenerationConfig": generation}
    if dialect == "cohere_command":
        body = {
            "prompt": flatten_prompt(system, turns),
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
        }
        if config.top_p is not None:
            body["p"] = config.top_p
        if config.stop:
            body["stop_sequences"] = list(config.stop)
        return body
    if dialect == "openai_chat":
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": t.role, "content": t.text} for t in turns
        ]
        body = {"messages": messages, "max_tokens": config.max_tokens, "temperature": config.temperature}
        if config.top_p is not None:
            body["top_p"] = config.top_p
        if config.stop:
            body["stop"] = list(config.stop)
        return body
    raise ConfigurationError(
        f"unknown InvokeModel body dialect {dialect!r}; known: {', '.join(INVOKE_DIALECTS)}"
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _header(headers: Mapping[str, Any], name: str) -> int | None:
    lowered = {str(k).lower(): v for k, v in headers.items()}
    return _int_or_none(lowered.get(name))


def _parse_body(dialect: str, body: Mapping[str, Any]) -> tuple[str, str | None, int | None, int | None]:
    """``(text, stop_reason, input_tokens, output_tokens)`` from a response body."""
    if dialect == "anthropic_messages":
        text = "".join(c.get("text", "") for c in body.get("content", []) if isinstance(c, Mapping))
        usage = body.get("usage") or {}
        return (
            text,
            body.get("stop_reason"),
            _int_or_none(usage.get("input_tokens")),
            _int_or_none(usage.get("output_tokens")),
        )
    if dialect == "nova_messages":
        message = (body.get("output") or {}).get("message") or {}
        text = "".join(c.get("text", "") for c in message.get("content", []) if isinstance(c, Mapping))
        usage = body.get("usage") or {}
        return (
            text,
            body.get("stopReason"),
            _int_or_none(usage.get("inputTokens")),
            _int_or_none(usage.get("outputTokens")),
        )
    if dialect in ("meta_llama", "bedrock_completion"):
        return (
            str(body.get("generation", "")),
            body.get("stop_reason"),
            _int_or_none(body.get("prompt_token_count")),
            _int_or_none(body.get("generation_token_count")),
        )
    if dialect == "titan_text":
        results = body.get("results") or [{}]
        first = results[0] if results else {}
        return (
            str(first.get("outputText", "")),
            first.get("completionReason"),
            _int_or_none(body.get("inputTextTokenCount")),
            _int_or_none(first.get("tokenCount")),
        )
    if dialect == "cohere_command":
        generations = body.get("generations") or [{}]
        first = generations[0] if generations else {}
        return str(first.get("text", "")), first.get("finish_reason"), None, None
    if dialect == "openai_chat":
        choices = body.get("choices") or [{}]
        first = choices[0] if choices else {}
        message = first.get("message") or {}
        content: Any = message.get("content") if isinstance(message, Mapping) else None
        if content is None:
            content = first.get("text", "")  # OpenAICompletion shape
        usage = body.get("usage") or {}
        return (
            str(content or ""),
            first.get("finish_reason"),
            _int_or_none(usage.get("prompt_tokens")),
            _int_or_none(usage.get("completion_tokens")),
        )
    raise ConfigurationError(f"unknown InvokeModel body dialect {dialect!r}")


def parse_invoke_response(
    dialect: str,
    body: Mapping[str, Any],
    *,
    headers: Mapping[str, Any] | None = None,
    model_id: str,
    latency_s: float,
    prompt_text: str = "",
    chars_per_token: float = 4.0,
) -> ChatResponse:
    """A :class:`ChatResponse` from an ``InvokeModel`` body in ``dialect``.

    Token counts come from the body when it has them, else from the ``x-amzn-bedrock-input-token-count`` /
    ``x-amzn-bedrock-output-token-count`` headers, else they are estimated (``tokens_estimated=True``).
    """
    text, stop, tokens_in, tokens_out = _parse_body(dialect, body)
    headers = headers or {}
    if tokens_in is None:
        tokens_in = _header(headers, "x-amzn-bedrock-input-token-count")
    if tokens_out is None:
        tokens_out = _header(headers, "x-amzn-bedrock-output-token-count")
    estimated = False
    if tokens_in is None or tokens_out is None:
        estimated = True
        if tokens_in is None:
            tokens_in = math.ceil(len(prompt_text) / chars_per_token) if prompt_text else 0
        if tokens_out is None:
            tokens_out = math.ceil(len(text) / chars_per_token) if text else 0
    return ChatResponse(
        text=text,
        stop_reason=stop,
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        tokens_estimated=estimated,
        latency_s=latency_s,
        model_id=model_id,
        raw={"body": dict(body)},
    )


# --- batch inference ---------------------------------------------------------------------------------------
def batch_record_line(record_id: str, model_input: Mapping[str, Any]) -> str:
    """One line of a batch inference input file: ``{"recordId", "modelInput"}`` as compact JSON."""
    return json.dumps(
        {"recordId": record_id, "modelInput": model_input}, ensure_ascii=False, separators=(",", ":")
    )


def batch_job_request(
    *,
    name: str,
    role_arn: str | None,
    model_id: str,
    input_uri: str,
    output_uri: str,
    client_token: str,
    timeout_hours: int | None = None,
    invocation_type: str | None = None,
) -> dict[str, Any]:
    """``CreateModelInvocationJob`` kwargs for one JSONL input file and an output prefix."""
    role = _require(role_arn, "roleArn", _ROLE_HINT)
    request: dict[str, Any] = {
        "jobName": name,
        "roleArn": role,
        "clientRequestToken": client_token,
        "modelId": model_id,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": input_uri, "s3InputFormat": "JSONL"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": output_uri}},
    }
    if timeout_hours is not None:
        request["timeoutDurationInHours"] = timeout_hours
    if invocation_type is not None:
        request["modelInvocationType"] = invocation_type
    return request


def parse_batch_output_line(
    line: str, *, dialect: str, model_id: str
) -> tuple[str | None, ChatResponse | None, Mapping[str, Any] | None]:
    """``(recordId, response, error)`` from one line of a ``*.jsonl.out`` file (error lines: no response)."""
    obj = json.loads(line)
    record_id = obj.get("recordId")
    if "error" in obj or "modelOutput" not in obj:
        return record_id, None, obj.get("error") or {"errorMessage": "no modelOutput"}
    output = obj["modelOutput"]
    if isinstance(output, str):  # some models return the body as a string; tolerate it
        try:
            output = json.loads(output)
        except ValueError:
            output = {"generation": output}
    return record_id, parse_invoke_response(dialect, output, model_id=model_id, latency_s=0.0), None


def decode_body(payload: Any) -> dict[str, Any]:
    """Parse an InvokeModel response ``body`` (a StreamingBody, bytes or str) as a JSON object."""
    data = payload.read() if hasattr(payload, "read") else payload
    if isinstance(data, (bytes, bytearray)):
        data = data.decode("utf-8")
    if not data:
        return {}
    try:
        parsed = json.loads(data)
    except ValueError:
        return {"generation": data}
    return parsed if isinstance(parsed, dict) else {"generation": json.dumps(parsed)}


def encode_body(body: Mapping[str, Any]) -> bytes:
    """The bytes of an InvokeModel request body."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def runtime_model_family(model_id: str) -> str | None:
    """The catalog ``invoke_body`` dialect for a foundation id, inference profile or custom-model ARN."""
    info = base_model_info(model_id)
    return info.invoke_body if info is not None else None
