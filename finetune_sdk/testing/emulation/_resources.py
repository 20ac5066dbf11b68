"""The emulated Bedrock account's resources: jobs, models, provisioned throughput, deployments, batch jobs."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from finetune_sdk import catalog

if TYPE_CHECKING:
    pass

__all__: list[str] = []


# --- resources ----------------------------------------------------------------------------------------------
@dataclass
class _Resource:
    arn: str
    rid: str
    seq: int
    created: datetime
    started: float
    status: str
    token: str | None = None
    polls: int = 0
    last_modified: datetime | None = None
    end_time: datetime | None = None
    failure_message: str | None = None
    stop_at: float | None = None
    stop_polls: int = 0


@dataclass
class _CustomizationJob(_Resource):
    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    customization_type: str = "FINE_TUNING"
    fm_id: str = ""
    base_arn: str = ""
    info: catalog.BaseModelInfo | None = None
    scripted_failure: str | None = None
    model_arn: str | None = None
    training_loss: float | None = None
    validation_losses: list[float] = field(default_factory=list)
    stages: dict[str, tuple[str, datetime]] = field(default_factory=dict)


@dataclass
class _CustomModel:
    arn: str
    seq: int
    name: str
    job: _CustomizationJob | None
    fm_id: str
    created: datetime
    customization_type: str
    info: catalog.BaseModelInfo | None


@dataclass
class _ImportJob(_Resource):
    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    model_arn: str | None = None


@dataclass
class _ImportedModel:
    arn: str
    seq: int
    name: str
    job: _ImportJob
    created: datetime
    architecture: str
    instruct: bool


@dataclass
class _Provisioned(_Resource):
    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    model_arn: str = ""
    fm_arn: str = ""
    family: str = ""
    responder_id: str = ""


@dataclass
class _Deployment(_Resource):
    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    model: _CustomModel | None = None


@dataclass
class _BatchJob(_Resource):
    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    family: str = ""
    responder_id: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    message: str | None = None


@dataclass
class _Target:
    family: str
    responder_id: str
    instruct: bool = True


class _RawBody(io.BytesIO):
    """A response body botocore can both ``read()`` (streaming payloads) and ``stream()``."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()
