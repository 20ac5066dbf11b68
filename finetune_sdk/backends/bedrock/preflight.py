"""Pre-flight checks for Bedrock Custom Model Import, so a doomed import is never submitted.

An import job reads a Hugging Face folder (``config.json``, ``*.safetensors`` weights, tokenizer files) and
fails after minutes to hours when something is off. :func:`preflight_import` checks the folder first, locally
or in S3:

- required files: ``config.json``; ``*.safetensors`` weights (``.bin``/``.pt`` only is refused with the
  conversion to use); ``tokenizer_config.json`` plus ``tokenizer.json`` and/or ``tokenizer.model`` (the docs
  list
  all three; a fast-tokenizer model such as Llama 3 ships only ``tokenizer.json`` and imports fine, so one of
  the two is required and the other's absence is a note); shards listed in ``model.safetensors.index.json``;
- an adapter-only folder (``adapter_config.json`` without full weights, as PEFT/LoRA training leaves it) is
  refused with the fix: merge the adapter into the base model;
- the architecture in ``config.json`` is one Bedrock imports; the context length (``max_position_embeddings``)
  is at most 128K (131,072: the Llama 3.1-3.3 value, which the docs list as supported); weights are under
  200 GB (100 GB for multimodal architectures);
- GPT-OSS needs the updated ``generation_config.json`` with EOS ids ``[200002, 199999, 200012]``.

This module needs no boto3 for local folders (S3 listing imports it on demand), so the local backend's output
can be checked on a machine without AWS libraries.

Examples:
    >>> import json
    >>> config = {"architectures": ["LlamaForCausalLM"], "max_position_embeddings": 8192}
    >>> report = preflight_import_source({
    ...     "config.json": json.dumps(config).encode(),
    ...     "model.safetensors": None, "tokenizer.json": None, "tokenizer_config.json": None})
    >>> report.ok, report.architecture
    (True, 'LlamaForCausalLM')
    >>> preflight_import_source({"adapter_config.json": None, "adapter_model.safetensors": None,
    ...                          "config.json": b"{}"}).errors[0][:33]
    'this is an adapter-only folder (a'
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from finetune_sdk.errors import ConfigurationError

__all__ = [
    "MAX_POSITION_EMBEDDINGS",
    "MULTIMODAL_ARCHITECTURES",
    "SUPPORTED_ARCHITECTURES",
    "ImportPreflightReport",
    "preflight_import",
    "preflight_import_source",
]

#: architectures (``config.json`` ``architectures[0]``) Bedrock Custom Model Import accepts
SUPPORTED_ARCHITECTURES: frozenset[str] = frozenset(
    {
        "LlamaForCausalLM",
        "MistralForCausalLM",
        "MixtralForCausalLM",
        "T5ForConditionalGeneration",
        "GPTBigCodeForCausalLM",
        "Qwen2ForCausalLM",
        "Qwen2VLForConditionalGeneration",
        "Qwen2_5_VLForConditionalGeneration",
        "Qwen3ForCausalLM",
        "Qwen3MoeForCausalLM",
        "MllamaForConditionalGeneration",
        "GptOssForCausalLM",
    }
)
MULTIMODAL_ARCHITECTURES: frozenset[str] = frozenset(
    {
        "Qwen2VLForConditionalGeneration",
        "Qwen2_5_VLForConditionalGeneration",
        "MllamaForConditionalGeneration",
    }
)
#: 128K positions; Llama 3.1-3.3 (131,072) are documented as importable, so this value itself passes
MAX_POSITION_EMBEDDINGS = 131_072
_MAX_TEXT_BYTES = 200 * 10**9
_MAX_MULTIMODAL_BYTES = 100 * 10**9
_BEDROCK_TRANSFORMERS = (4, 51, 3)
_SUPPORTED_TOKENIZERS = frozenset(
    {
        "T5Tokenizer",
        "LlamaTokenizer",
        "CodeLlamaTokenizer",
        "GPT2Tokenizer",
        "GPTNeoXTokenizer",
        "PreTrainedTokenizer",
        "Qwen2Tokenizer",
    }
)
_GPT_OSS_EOS = (200002, 199999, 200012)
#: small JSON files the checks read (everything else is only listed)
_READ = ("config.json", "generation_config.json", "tokenizer_config.json", "model.safetensors.index.json")


class ImportPreflightReport(BaseModel):
    """What :func:`preflight_import` found. ``ok`` is ``True`` when there are no errors (warnings allowed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    files: tuple[str, ...] = ()
    architecture: str | None = None
    max_position_embeddings: int | None = None
    weights_bytes: int | None = None
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """No errors: the folder can be submitted for import."""
        return not self.errors

    def raise_for_errors(self) -> ImportPreflightReport:
        """Return ``self`` when ok.

        Raises:
            ConfigurationError: listing every error.
        """
        if self.errors:
            raise ConfigurationError(
                f"the model folder {self.source} cannot be imported into Bedrock:\n{self}"
            )
        return self

    def __str__(self) -> str:
        lines = [f"error: {e}" for e in self.errors] + [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines) if lines else f"{self.source}: ready to import ({self.architecture})"


def _json(files: Mapping[str, bytes | None], name: str, errors: list[str]) -> dict[str, Any] | None:
    data = files.get(name)
    if data is None:
        return None
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        errors.append(f"{name} is not valid JSON ({exc}); re-save the model with save_pretrained()")
        return None
    if not isinstance(parsed, dict):
        errors.append(f"{name} must hold a JSON object")
        return None
    return parsed


def _positions(config: Mapping[str, Any]) -> int | None:
    found: list[int] = []
    for scope in (config, config.get("text_config") or {}, config.get("llm_config") or {}):
        if isinstance(scope, Mapping):
            for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
                value = scope.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    found.append(value)
    return max(found) if found else None


def _version(text: str) -> tuple[int, ...] | None:
    parts: list[int] = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or None


def preflight_import_source(
    files: Mapping[str, bytes | None],
    *,
    sizes: Mapping[str, int] | None = None,
    source: str = "<files>",
) -> ImportPreflightReport:
    """Check a model folder given as ``{relative name: content or None}``.

    Contents are needed only for the JSON files the checks read (``config.json``, ``generation_config.json``,
    ``tokenizer_config.json``, ``model.safetensors.index.json``); other files may map to ``None``. Files in
    sub-folders (``name/with/slash``) do not count: Bedrock reads the folder's top level. ``sizes`` (bytes per
    file) enables the weight-size check.
    """
    errors: list[str] = []
    warnings: list[str] = []
    top = {name: data for name, data in files.items() if "/" not in name.strip("/")}
    names = set(top)
    safetensors = sorted(n for n in names if n.endswith(".safetensors"))
    adapter_weights = [n for n in safetensors if n.startswith("adapter_model")]
    full_weights = [n for n in safetensors if not n.startswith("adapter_model")]

    if "adapter_config.json" in names and not full_weights:
        errors.append(
            "this is an adapter-only folder (adapter_config.json and adapter weights, no full model "
            "weights): "
            "Bedrock imports full models only. Merge the adapter into its base model and save the result: "
            "`model = PeftModel.from_pretrained(base, path).merge_and_unload(); "
            "model.save_pretrained(out, safe_serialization=True); tokenizer.save_pretrained(out)`"
        )
    elif "adapter_config.json" in names:
        warnings.append("adapter_config.json is present beside full weights; Bedrock ignores it")
    if not full_weights and "adapter_config.json" not in names:
        legacy = sorted(n for n in names if n.endswith((".bin", ".pt", ".pth", ".ckpt")))
        if legacy:
            errors.append(
                f"no *.safetensors weights (found {', '.join(legacy[:3])}); Bedrock imports safetensors "
                f"only. "
                "Convert: model.save_pretrained(path, safe_serialization=True)"
            )
        else:
            errors.append("no *.safetensors weight files at the top of the folder")
    del adapter_weights

    config = _json(top, "config.json", errors) if "config.json" in names else None
    if "config.json" not in names:
        errors.append(
            "config.json is missing (the Hugging Face model config); save the model with save_pretrained()"
        )
    if "tokenizer_config.json" not in names:
        errors.append(
            "tokenizer_config.json is missing; save the tokenizer too: tokenizer.save_pretrained(path)"
        )
    has_json_tok, has_sp_tok = "tokenizer.json" in names, "tokenizer.model" in names
    if not has_json_tok and not has_sp_tok:
        errors.append("no tokenizer file: Bedrock needs tokenizer.json and/or tokenizer.model")
    elif not (has_json_tok and has_sp_tok):
        missing = "tokenizer.model" if has_json_tok else "tokenizer.json"
        warnings.append(
            f"{missing} is absent; the docs list tokenizer.json and tokenizer.model, and models that ship "
            f"only "
            "one (e.g. Llama 3: tokenizer.json) import fine"
        )
    tok_config = _json(top, "tokenizer_config.json", errors) if "tokenizer_config.json" in names else None
    if tok_config:
        tok_class = str(tok_config.get("tokenizer_class") or "")
        if tok_class and tok_class.removesuffix("Fast") not in _SUPPORTED_TOKENIZERS:
            warnings.append(
                f"tokenizer_class {tok_class} is not in Bedrock's documented list "
                f"({', '.join(sorted(_SUPPORTED_TOKENIZERS))}, and their Fast variants)"
            )

    index = (
        _json(top, "model.safetensors.index.json", errors)
        if "model.safetensors.index.json" in names
        else None
    )
    if index and isinstance(index.get("weight_map"), Mapping):
        shards = sorted({str(v) for v in index["weight_map"].values()})
        absent = [s for s in shards if s not in names]
        if absent:
            errors.append(
                f"model.safetensors.index.json lists {len(absent)} shard(s) that are not in the folder: "
                f"{', '.join(absent[:5])}"
            )

    architecture: str | None = None
    positions: int | None = None
    if config is not None:
        archs = config.get("architectures")
        if isinstance(archs, list) and archs and isinstance(archs[0], str):
            architecture = archs[0]
            if architecture not in SUPPORTED_ARCHITECTURES:
                errors.append(
                    f"architecture {architecture} is not one Bedrock Custom Model Import supports; "
                    f"supported: "
                    f"{', '.join(sorted(SUPPORTED_ARCHITECTURES))}"
                )
        else:
            errors.append("config.json has no 'architectures' list; re-save the model with save_pretrained()")
        positions = _positions(config)
        if positions is not None and positions > MAX_POSITION_EMBEDDINGS:
            errors.append(
                f"max_position_embeddings is {positions:,}; Bedrock imports models with a context of at most "
                f"128K ({MAX_POSITION_EMBEDDINGS:,}) positions. Lower it in config.json if the model was "
                f"trained "
                "for less, or pick a smaller-context variant"
            )
        version = config.get("transformers_version")
        parsed = _version(str(version)) if version else None
        if parsed is not None and parsed[:2] > _BEDROCK_TRANSFORMERS[:2]:
            warnings.append(
                f"config.json was written by transformers {version}; Bedrock loads models with transformers "
                "4.51.3, so fields added later may be ignored"
            )
        if architecture == "GptOssForCausalLM":
            warnings.append("GPT-OSS models can be imported in us-east-1 only")
            gen = _json(top, "generation_config.json", errors) if "generation_config.json" in names else None
            eos = (gen or {}).get("eos_token_id")
            eos_ids = set(eos) if isinstance(eos, list) else {eos}
            if gen is None or not set(_GPT_OSS_EOS) <= eos_ids:
                errors.append(
                    "GPT-OSS needs the updated generation_config.json with eos_token_id "
                    f"{list(_GPT_OSS_EOS)}; download it from the model's Hugging Face repository"
                )

    weights_bytes: int | None = None
    if sizes is not None and full_weights:
        weights_bytes = sum(int(sizes.get(n, 0)) for n in full_weights)
        limit = _MAX_MULTIMODAL_BYTES if architecture in MULTIMODAL_ARCHITECTURES else _MAX_TEXT_BYTES
        if weights_bytes >= limit:
            errors.append(
                f"the weights total {weights_bytes / 10**9:,.1f} GB; Bedrock imports "
                f"{'multimodal' if limit == _MAX_MULTIMODAL_BYTES else 'text'} models under {limit // 10**9} "
                f"GB"
            )
    return ImportPreflightReport(
        source=source,
        files=tuple(sorted(files)),
        architecture=architecture,
        max_position_embeddings=positions,
        weights_bytes=weights_bytes,
        errors=tuple(errors),
        warnings=tuple(warnings),
    )


def _local(path: Path) -> ImportPreflightReport:
    if not path.exists():
        return ImportPreflightReport(source=str(path), errors=(f"{path} does not exist",))
    if not path.is_dir():
        return ImportPreflightReport(source=str(path), errors=(f"{path} is a file; pass the model folder",))
    files: dict[str, bytes | None] = {}
    sizes: dict[str, int] = {}
    for entry in sorted(path.iterdir()):
        if not entry.is_file():
            continue
        files[entry.name] = entry.read_bytes() if entry.name in _READ else None
        sizes[entry.name] = entry.stat().st_size
    return preflight_import_source(files, sizes=sizes, source=str(path))


def _s3(uri: str, session: Any, endpoint_url: str | None) -> ImportPreflightReport:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from finetune_sdk.backends.bedrock.errors import translate_error
    from finetune_sdk.backends.bedrock.iam import split_s3_uri

    bucket, key = split_s3_uri(uri)
    prefix = key if not key or key.endswith("/") else key + "/"
    client = (session or boto3.Session()).client("s3", endpoint_url=endpoint_url)
    files: dict[str, bytes | None] = {}
    sizes: dict[str, int] = {}
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                name = str(obj["Key"])[len(prefix) :]
                if not name or "/" in name:
                    continue
                sizes[name] = int(obj.get("Size", 0))
                files[name] = None
        for name in _READ:
            if name in files:
                files[name] = client.get_object(Bucket=bucket, Key=prefix + name)["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise translate_error(exc, operation="s3:ListObjectsV2 (import pre-flight)") from exc
    if not files:
        return ImportPreflightReport(source=uri, errors=(f"no files under {uri}",))
    return preflight_import_source(files, sizes=sizes, source=uri)


def preflight_import(
    path_or_s3_uri: str | os.PathLike[str], *, session: Any = None, endpoint_url: str | None = None
) -> ImportPreflightReport:
    """Check a local folder or an ``s3://`` prefix before a Custom Model Import job.

    Returns the report; nothing raises for problems in the folder (call ``report.raise_for_errors()``).

    Raises:
        AccessDeniedError / ResourceNotFoundError: the S3 prefix cannot be listed or read.

    Examples:
        >>> preflight_import("/nonexistent/model").errors
        ('/nonexistent/model does not exist',)
    """
    text = os.fspath(path_or_s3_uri)
    if text.startswith("s3://"):
        return _s3(text, session, endpoint_url)
    return _local(Path(text).expanduser())
