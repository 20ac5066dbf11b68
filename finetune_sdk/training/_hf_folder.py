"""Make a saved Hugging Face folder match what Amazon Bedrock Custom Model Import reads.

``save_pretrained`` in recent transformers writes the chat template to ``chat_template.jinja``, names the
tokenizer class ``TokenizersBackend`` and drops ``special_tokens_map.json``; Bedrock's importer (and older
transformers) expect the chat template inside ``tokenizer_config.json`` (needed for OpenAI-style chat
invocation), a tokenizer class from its supported list (``PreTrainedTokenizerFast`` is), the special-token
map, and ``torch_dtype`` in ``config.json``. Light module: JSON only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["finalize_model_folder"]

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
    tok_cfg.pop("backend", None)
    _write(tok_cfg_path, tok_cfg)

    special_path = folder / "special_tokens_map.json"
    if not special_path.exists():
        special = {k: tok_cfg[k] for k in _SPECIAL_KEYS if isinstance(tok_cfg.get(k), (str, dict))}
        _write(special_path, special)

    config_path = folder / "config.json"
    config = _read(config_path)
    if config:
        resolved = dtype or config.get("torch_dtype") or config.get("dtype") or "float32"
        config["torch_dtype"] = resolved
        config.setdefault("dtype", resolved)
        _write(config_path, config)
