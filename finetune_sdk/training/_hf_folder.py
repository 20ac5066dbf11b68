"""Make a saved Hugging Face folder match what Amazon Bedrock Custom Model Import reads.

``save_pretrained`` in recent transformers writes the chat template to ``chat_template.jinja``, names the
tokenizer class ``TokenizersBackend`` and drops ``special_tokens_map.json``; Bedrock's importer (and older
transformers) expect the chat template inside ``tokenizer_config.json`` (needed for OpenAI-style chat
invocation), a tokenizer class from its supported list (``PreTrainedTokenizerFast`` is), the special-token
map, and ``torch_dtype`` in ``config.json``.

transformers 5 also changed ``config.json`` itself: RoPE settings moved into ``rope_parameters`` (4.51 reads
``rope_theta`` and ``rope_scaling`` at the top level and would silently fall back to ``rope_theta=10000``,
which breaks a model trained with another value, e.g. SmolLM2's 100000) and ``torch_dtype`` became
``dtype``. :func:`finalize_model_folder` writes both spellings, so the folder means the same thing to
transformers 4.51.3 (the version Bedrock Custom Model Import loads models with) and to the version that
wrote it; it then records ``transformers_version`` as :data:`BEDROCK_TRANSFORMERS_VERSION`, the schema the
file now follows, and keeps the writer's version in ``finetune_sdk_written_by``. Light module: JSON only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["BEDROCK_TRANSFORMERS_VERSION", "finalize_model_folder", "to_bedrock_config"]

#: the transformers version Bedrock Custom Model Import loads models with
BEDROCK_TRANSFORMERS_VERSION = "4.51.3"

_SPECIAL_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token")
_GENERIC_TOKENIZER_CLASSES = ("TokenizersBackend", "", None)


def _read(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def finalize_model_folder(
    folder: Path, *, chat_template: str | None = None, dtype: str | None = None
) -> None:
    """Add what Bedrock CMI needs to a folder written by ``save_pretrained`` (idempotent)."""
    tok_cfg_path = folder / "tokenizer_config.json"
    tok_cfg = _read(tok_cfg_path)
    template = chat_template or tok_cfg.get("chat_template")
    jinja = folder / "chat_template.jinja"
    if not template and jinja.is_file():
        template = jinja.read_text(encoding="utf-8")
    if template:
        tok_cfg["chat_template"] = template
    if tok_cfg.get("tokenizer_class") in _GENERIC_TOKENIZER_CLASSES:
        tok_cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    for key in ("backend", "is_local", "local_files_only"):  # transformers 5 load-time artefacts
        tok_cfg.pop(key, None)
    _write(tok_cfg_path, tok_cfg)

    special_path = folder / "special_tokens_map.json"
    if not special_path.exists():
        special = {k: tok_cfg[k] for k in _SPECIAL_KEYS if isinstance(tok_cfg.get(k), (str, dict))}
        _write(special_path, special)

    config_path = folder / "config.json"
    config = _read(config_path)
    if config:
        _write(config_path, to_bedrock_config(config, dtype=dtype))
    generation_path = folder / "generation_config.json"
    generation = _read(generation_path)
    if generation and _newer(generation.get("transformers_version")):
        generation.setdefault("finetune_sdk_written_by", f"transformers {generation['transformers_version']}")
        generation["transformers_version"] = BEDROCK_TRANSFORMERS_VERSION
        _write(generation_path, generation)


def _newer(version: Any) -> bool:
    """Whether ``version`` is newer than Bedrock's transformers in major.minor."""
    try:
        major, minor = (int(x) for x in str(version).split(".")[:2])
    except ValueError:
        return False
    want = tuple(int(x) for x in BEDROCK_TRANSFORMERS_VERSION.split(".")[:2])
    return (major, minor) > want


def to_bedrock_config(config: dict[str, Any], *, dtype: str | None = None) -> dict[str, Any]:
    """``config.json`` in the form transformers 4.51.3 reads, meaning the same as before (a new dict).

    Examples:
        >>> c = to_bedrock_config({"model_type": "llama", "transformers_version": "5.24.0",
        ...                        "rope_parameters": {"rope_theta": 100000.0, "rope_type": "default"}})
        >>> c["rope_theta"], c["rope_scaling"], c["torch_dtype"], c["transformers_version"]
        (100000.0, None, 'float32', '4.51.3')
        >>> c["finetune_sdk_written_by"]
        'transformers 5.24.0'
    """
    out = dict(config)
    resolved = dtype or out.get("torch_dtype") or out.get("dtype") or "float32"
    out["torch_dtype"] = resolved
    out.setdefault("dtype", resolved)
    rope = out.get("rope_parameters")
    if isinstance(rope, dict):
        if "rope_theta" in rope:
            out["rope_theta"] = rope["rope_theta"]
        kind = rope.get("rope_type", rope.get("type", "default"))
        if kind in (None, "default"):
            out.setdefault("rope_scaling", None)
        else:
            out["rope_scaling"] = {k: v for k, v in rope.items() if k != "rope_theta"}
    version = out.get("transformers_version")
    if _newer(version):
        out.setdefault("finetune_sdk_written_by", f"transformers {version}")
        out["transformers_version"] = BEDROCK_TRANSFORMERS_VERSION
    return out
