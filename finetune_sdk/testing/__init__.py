"""Public test support: a fake backend, a fake clock, an AWS emulation and the backend conformance suite.

- :class:`FakeClock` and :class:`FakeBackend` need nothing beyond the core install; use them in tests,
  doctests and offline notebooks (``Job.fine_tune(..., backend=FakeBackend())``).
- :class:`BedrockEmulation` (``finetune_sdk.testing.emulation``) runs the Bedrock backend end to end through real
  boto3 request serialisation with no network, on top of moto. Needs ``pip install 'finetune-sdk[testing]'``.
  ``AwsEmulation`` is its old name, kept for one release (it warns).
- :class:`BackendConformance` (``finetune_sdk.testing.conformance``) is the pytest suite every backend
  runs; subclass it and override the ``backend`` and ``job_spec_factory`` fixtures. Needs pytest.
- ``finetune_sdk.testing.fixtures`` holds pytest fixtures (``fake_clock``, ``fake_backend``,
  ``aws_emulation``) to import into a ``conftest.py``.

The two optional parts are imported on first use, so ``import finetune_sdk.testing`` stays light.

Examples:
    >>> from finetune_sdk.testing import FakeBackend, FakeClock
    >>> FakeBackend(clock=FakeClock()).name
    'fake'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from finetune_sdk.testing.clock import FakeClock
from finetune_sdk.testing.fake import FakeBackend

if TYPE_CHECKING:
    from finetune_sdk.testing.conformance import BackendConformance
    from finetune_sdk.testing.emulation import BedrockEmulation

__all__ = ["BackendConformance", "BedrockEmulation", "FakeBackend", "FakeClock"]

_LAZY = {
    "BedrockEmulation": ("finetune_sdk.testing.emulation", ("moto", "boto3", "botocore")),
    "AwsEmulation": ("finetune_sdk.testing.emulation", ("moto", "boto3", "botocore")),
    "BackendConformance": ("finetune_sdk.testing.conformance", ("pytest",)),
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'finetune_sdk.testing' has no attribute {name!r}")
    module_name, needs = target
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name in needs:
            raise ModuleNotFoundError(
                f"finetune_sdk.testing.{name} needs {exc.name}, which is not installed. "
                "Fix: pip install 'finetune-sdk[testing]'",
                name=exc.name,
            ) from exc
        raise
    value = getattr(module, name)
    if name != "AwsEmulation":  # the deprecated alias warns on every use, so it is never cached
        globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
