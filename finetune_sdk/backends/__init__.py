"""Backends and their registry.

Built-in backends (``bedrock``, ``sagemaker``, ``local``) are registered through the entry-point group
``finetune_sdk.backends`` exactly like third-party ones, and nothing is imported until a backend is asked
for. :func:`register_backend` adds one from a notebook or a test.

Examples:
    >>> from finetune_sdk import backends
    >>> from finetune_sdk.testing import FakeBackend
    >>> backends.register_backend("fake-doc", FakeBackend, replace=True)
    >>> backends.get("fake-doc").name
    'fake'
    >>> "bedrock" in backends.available()
    True
"""

from __future__ import annotations

import inspect
import os
import types
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from finetune_sdk.backends.base import Backend, capabilities_of
from finetune_sdk.errors import BackendNotFoundError, BackendNotInstalledError, ConfigurationError

__all__ = [
    "Backend",
    "available",
    "capability_matrix",
    "get",
    "register_backend",
    "registry",
    "resolve",
]

ENTRY_POINT_GROUP = "finetune_sdk.backends"

#: install hints for the backends we know about, used when their import fails
_EXTRAS: dict[str, str] = {
    "bedrock": "finetune-sdk",
    "sagemaker": "finetune-sdk[sagemaker]",
    "local": "finetune-sdk[local]",
}

_registry: dict[str, type[Backend]] = {}  # internal, mutable: backends registered in this process
registry: Mapping[str, type[Backend]] = types.MappingProxyType(_registry)  # external, read-only


def _entry_points() -> dict[str, list[metadata.EntryPoint]]:
    found: dict[str, list[metadata.EntryPoint]] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, []).append(ep)
    return found


_BUILTIN_TARGETS = {
    "bedrock": "finetune_sdk.backends.bedrock:BedrockBackend",
    "sagemaker": "finetune_sdk.backends.sagemaker:SageMakerBackend",
    "local": "finetune_sdk.backends.local:LocalBackend",
}


def available() -> list[str]:
    """Names of every backend that can be asked for: registered, entry points, and built-ins."""
    return sorted(set(_registry) | set(_entry_points()) | set(_BUILTIN_TARGETS))


def register_backend(name: str, cls: type[Backend], *, replace: bool = False) -> None:
    """Register ``cls`` under ``name`` for this process.

    Raises:
        ConfigurationError: ``name`` is taken and ``replace`` is false, or ``cls`` is not a ``Backend``.
    """
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise ConfigurationError(f"register_backend needs a Backend subclass, got {cls!r}")
    if name in _registry and not replace and _registry[name] is not cls:
        raise ConfigurationError(
            f"a backend named {name!r} is already registered ({_registry[name].__qualname__}); pass replace=True"
        )
    _registry[name] = cls


def _load_class(name: str) -> type[Backend]:
    if name in _registry:
        return _registry[name]
    eps = _entry_points().get(name, [])
    dists = {getattr(ep.dist, "name", "?") for ep in eps}
    if len(dists) > 1:
        raise ConfigurationError(
            f"backend {name!r} is registered by more than one distribution ({', '.join(sorted(dists))}); "
            "uninstall one of them"
        )
    target = eps[0].value if eps else _BUILTIN_TARGETS.get(name)
    if target is None:
        raise BackendNotFoundError(
            f"no backend named {name!r}. Installed backends: {', '.join(available())}. "
            "Third-party backends register through the entry-point group 'finetune_sdk.backends' "
            "or finetune_sdk.backends.register_backend()."
        )
    module_name, _, attr = target.partition(":")
    try:
        module = __import__(module_name, fromlist=[attr])
    except ImportError as exc:
        extra = _EXTRAS.get(name, f"the package that provides the {name!r} backend")
        raise BackendNotInstalledError(
            f"the {name!r} backend needs packages that are not installed ({exc.name or exc}). "
            f"Fix: pip install '{extra}'"
        ) from exc
    cls = getattr(module, attr)
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise ConfigurationError(f"entry point {target!r} for backend {name!r} is not a Backend subclass")
    _registry.setdefault(name, cls)
    return cls


def get(name: str | None = None, **options: Any) -> Backend:
    """A new backend instance. ``options`` go to the backend's constructor (e.g. ``region=``, ``session=``).

    ``name=None`` uses ``FINETUNE_SDK_BACKEND`` (read on every call), else ``"local"``.

    Raises:
        BackendNotFoundError: no such backend; the message lists the installed ones.
        BackendNotInstalledError: its optional extra is missing; the message has the pip command.
        ConfigurationError: an option the backend does not take.
    """
    name = name or os.environ.get("FINETUNE_SDK_BACKEND") or "local"
    cls = _load_class(name)
    try:
        return cls(**options)
    except TypeError as exc:
        params = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "args", "kwargs")]
        raise ConfigurationError(
            f"backend {name!r} does not take the options {sorted(options)}: {exc}. It takes: {', '.join(params)}"
        ) from exc


def resolve(backend: str | Backend | None) -> Backend:
    """A backend instance from a name, an instance, or ``None`` (the default)."""
    if isinstance(backend, Backend):
        return backend
    return get(backend)


def capability_matrix() -> dict[str, dict[str, bool]]:
    """Capability rows for every backend whose dependencies are installed (the docs render this)."""
    rows: dict[str, dict[str, bool]] = {}
    for name in available():
        try:
            rows[name] = capabilities_of(_load_class(name))
        except (BackendNotInstalledError, ConfigurationError):
            continue
    return rows


def __dir__() -> list[str]:
    return sorted([*__all__, *available()])
