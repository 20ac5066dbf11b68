"""Small randomly initialised Llama models with a byte-level tokenizer, built offline.

No weights ship with the SDK and tests must not download any, so the quickstart, the tests and the
benchmark build their base model here: a ``LlamaForCausalLM`` (an architecture Bedrock Custom Model Import
accepts) plus a tokenizer whose vocabulary is the 256 bytes and a few special tokens, so any text encodes
and nothing needs to be learned or fetched. The folder is a normal Hugging Face model folder
(safetensors, ``config.json``, ``tokenizer.json``, ``tokenizer_config.json`` with a chat template,
``special_tokens_map.json``, ``generation_config.json``).

Examples:
    >>> import tempfile
    >>> from finetune_sdk.training.tiny import build_tiny_model, parameter_count, preset_config
    >>> parameter_count(preset_config("0.5b")) // 1_000_000
    487
    >>> path = build_tiny_model(tempfile.mkdtemp() + "/tiny", hidden_size=32, layers=1, heads=2)
    >>> sorted(p.name for p in path.iterdir() if p.suffix == ".json")
    ['config.json', 'generation_config.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from finetune_sdk.errors import ConfigurationError
from finetune_sdk.training._deps import require_local_deps
from finetune_sdk.training._hf_folder import finalize_model_folder

__all__ = [
    "CHAT_TEMPLATE",
    "PRESETS",
    "SPECIAL_TOKENS",
    "TinyConfig",
    "build_tiny_model",
    "build_tokenizer",
    "parameter_count",
    "preset_config",
]

BOS, EOS, PAD = "<|begin|>", "<|end|>", "<|pad|>"
#: special tokens after the 256 byte tokens, in id order (ids 256...)
SPECIAL_TOKENS = (BOS, EOS, PAD, "<|system|>", "<|user|>", "<|assistant|>")
#: every turn is ``<|role|>content<|end|>``; the answer starts after ``<|assistant|>``
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@dataclass(frozen=True)
class TinyConfig:
    """Architecture of a generated model. ``vocab_size=None`` means the tokenizer's size (262)."""

    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    kv_heads: int | None = None
    intermediate_size: int | None = None
    max_position_embeddings: int = 512
    vocab_size: int | None = None
    tie_word_embeddings: bool = False

    @property
    def resolved_intermediate(self) -> int:
        return self.intermediate_size or 4 * self.hidden_size

    @property
    def resolved_vocab(self) -> int:
        return self.vocab_size or 256 + len(SPECIAL_TOKENS)


#: named sizes: ``tiny`` for tests and the demo; ``0.5b`` (about 487M parameters, Llama layout with a
#: 32k vocabulary; rows beyond the byte tokenizer are unused) for the GPU benchmark
PRESETS: dict[str, TinyConfig] = {
    "tiny": TinyConfig(),
    "small": TinyConfig(hidden_size=128, layers=4, heads=4),
    "0.5b": TinyConfig(hidden_size=1024, layers=24, heads=16, intermediate_size=4352,
                       max_position_embeddings=4096, vocab_size=32000),
}


def preset_config(name: str) -> TinyConfig:
    """The :class:`TinyConfig` of a named preset.

    Raises:
        ConfigurationError: unknown preset; the message lists the known ones.
    """
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown model preset {name!r}; known presets: {', '.join(PRESETS)}"
        ) from None


def parameter_count(config: TinyConfig) -> int:
    """Parameters of a Llama model with this architecture (computed, nothing is built)."""
    h, v, i = config.hidden_size, config.resolved_vocab, config.resolved_intermediate
    head_dim = h // config.heads
    kv = (config.kv_heads or config.heads) * head_dim
    per_layer = h * h * 2 + h * kv * 2 + 3 * h * i + 2 * h
    embeddings = v * h * (1 if config.tie_word_embeddings else 2)
    return config.layers * per_layer + embeddings + h


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable character map (what ByteLevel pre-tokenization produces)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars = list(printable)
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(printable, chars, strict=True)}


def build_tokenizer(*, model_max_length: int = 512) -> Any:
    """A ``PreTrainedTokenizerFast`` over bytes: token id ``b`` is byte ``b``; specials follow at 256.

    Raises:
        BackendNotInstalledError: transformers / tokenizers are missing.
    """
    require_local_deps("build a tokenizer", ("tokenizers", "transformers"))
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    transformers: Any = importlib.import_module("transformers")

    vocab = {char: byte for byte, char in _bytes_to_unicode().items()}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, chat_template=CHAT_TEMPLATE,
        model_max_length=model_max_length, clean_up_tokenization_spaces=False,
    )


def build_tiny_model(
    path: str | Path,
    *,
    vocab: str = "byte",
    preset: str = "tiny",
    hidden_size: int | None = None,
    layers: int | None = None,
    heads: int | None = None,
    kv_heads: int | None = None,
    intermediate_size: int | None = None,
    max_position_embeddings: int | None = None,
    vocab_size: int | None = None,
    seed: int = 0,
    dtype: str = "float32",
) -> Path:
    """Build and save a randomly initialised ``LlamaForCausalLM`` with a byte-level tokenizer.

    Arguments left ``None`` come from ``preset`` (``"tiny"``: hidden 64, 2 layers, 4 heads; ``"small"``;
    ``"0.5b"``). The same ``seed`` always gives the same weights. Returns the folder (created if needed).

    Raises:
        ConfigurationError: unknown ``vocab`` or ``preset``, or ``hidden_size`` not divisible by ``heads``.
        BackendNotInstalledError: torch / transformers are missing (``pip install 'finetune-sdk[local]'``).

    Examples:
        >>> import tempfile
        >>> from finetune_sdk.training.tiny import build_tiny_model
        >>> folder = build_tiny_model(tempfile.mkdtemp(), layers=1, hidden_size=32, heads=2, seed=1)
        >>> (folder / "model.safetensors").is_file(), (folder / "tokenizer.json").is_file()
        (True, True)
    """
    if vocab != "byte":
        raise ConfigurationError(
            f"build_tiny_model(vocab={vocab!r}): only the 'byte' vocabulary is built offline"
        )
    base = preset_config(preset)
    overrides: dict[str, Any] = {k: v for k, v in {
        "hidden_size": hidden_size, "layers": layers, "heads": heads, "kv_heads": kv_heads,
        "intermediate_size": intermediate_size, "max_position_embeddings": max_position_embeddings,
        "vocab_size": vocab_size,
    }.items() if v is not None}
    cfg = replace(base, **overrides)
    if cfg.hidden_size % cfg.heads:
        raise ConfigurationError(
            f"build_tiny_model: hidden_size={cfg.hidden_size} must be divisible by heads={cfg.heads}"
        )
    if cfg.vocab_size is not None and cfg.vocab_size < 256 + len(SPECIAL_TOKENS):
        raise ConfigurationError(
            f"build_tiny_model: vocab_size={cfg.vocab_size} is below the tokenizer's "
            f"{256 + len(SPECIAL_TOKENS)} tokens"
        )
    require_local_deps("build a model", ("torch", "transformers", "safetensors"))
    import torch

    transformers: Any = importlib.import_module("transformers")

    tokenizer = build_tokenizer(model_max_length=cfg.max_position_embeddings)
    config = transformers.LlamaConfig(
        vocab_size=cfg.resolved_vocab,
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.resolved_intermediate,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.kv_heads or cfg.heads,
        max_position_embeddings=cfg.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=cfg.tie_word_embeddings,
        rms_norm_eps=1e-5,
        initializer_range=0.02,
    )
    torch_dtype = getattr(torch, dtype)
    with _fork_rng(seed):
        model = transformers.LlamaForCausalLM(config)
    model.to(torch_dtype)
    model.generation_config = transformers.GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, do_sample=False,
    )
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    from finetune_sdk.training._hf_progress import transformers_progress

    with transformers_progress():
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    finalize_model_folder(folder, chat_template=CHAT_TEMPLATE, dtype=dtype)
    return folder


class _fork_rng:
    """Seed torch for model initialisation without disturbing the caller's random state."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._state: Any = None

    def __enter__(self) -> None:
        import torch

        self._state = torch.random.get_rng_state()
        torch.manual_seed(self.seed)

    def __exit__(self, *exc: object) -> None:
        import torch

        torch.random.set_rng_state(self._state)
