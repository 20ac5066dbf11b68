"""The fake backend's in-memory state: jobs, models, deployments, faults and recorded chat calls.

Private; :mod:`finetune_sdk.testing.fake` re-exports the public names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from finetune_sdk.backends.base import (
    DeploymentSpec,
    InferenceConfig,
    JobKind,
    JobSpec,
    JobStatus,
    ModelRecord,
)
from finetune_sdk.catalog import CustomizationType

if TYPE_CHECKING:
    from finetune_sdk.data.records import Turn

__all__ = ["ChatCall", "echo_responder"]

_RAW_STATUS = {
    JobStatus.PENDING: "Queued",
    JobStatus.RUNNING: "Running",
    JobStatus.STOPPING: "Stopping",
    JobStatus.COMPLETED: "Completed",
    JobStatus.FAILED: "Failed",
    JobStatus.STOPPED: "Stopped",
}

_CUSTOMIZATION: dict[JobKind, CustomizationType] = {
    JobKind.FINE_TUNING: "FINE_TUNING",
    JobKind.CONTINUED_PRE_TRAINING: "CONTINUED_PRE_TRAINING",
    JobKind.DISTILLATION: "DISTILLATION",
}

_STAGES = ("validation", "data_processing", "training")


def echo_responder(model_id: str, system: str | None, turns: Sequence[Turn]) -> str:
    """The default responder: a deterministic answer that echoes the last user turn.

    Examples:
        >>> from finetune_sdk.data.records import Turn
        >>> echo_responder("m", None, [Turn.of("user", "What is 2+2?")])
        'echo: What is 2+2?'
    """
    last = next((t.text for t in reversed(list(turns)) if t.role == "user"), "")
    return f"echo: {last}"


@dataclass
class _FakeJob:
    id: str
    seq: int
    spec: JobSpec
    token: str
    created_at: datetime
    started: float
    pending_s: float
    duration_s: float
    scripted_failure: str | None = None
    failed_at: float | None = None
    failure_message: str | None = None
    stop_requested_at: float | None = None
    model_id: str | None = None


@dataclass
class _FakeModel:
    record: ModelRecord
    seq: int
    deleted: bool = False


@dataclass
class _FakeDeployment:
    id: str
    seq: int
    spec: DeploymentSpec
    token: str
    created_at: datetime
    started: float
    deleted: bool = False


@dataclass
class _Fault:
    error: BaseException
    remaining: int


@dataclass(frozen=True)
class ChatCall:
    """One ``chat`` request the fake received (see ``FakeBackend.chat_log``)."""

    model_id: str
    system: str | None
    turns: tuple[Turn, ...]
    config: InferenceConfig


@dataclass
class _State:
    jobs: dict[str, _FakeJob] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    models: dict[str, _FakeModel] = field(default_factory=dict)
    foundation: dict[str, ModelRecord] = field(default_factory=dict)
    deployments: dict[str, _FakeDeployment] = field(default_factory=dict)
    deployment_tokens: dict[str, str] = field(default_factory=dict)
