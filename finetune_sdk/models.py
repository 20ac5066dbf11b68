"""``Model`` and ``Deployment``: things you can invoke, and what makes them invocable.

Examples:
    >>> from finetune_sdk import Model
    >>> from finetune_sdk.testing import FakeBackend
    >>> base = Model.foundation("amazon.nova-micro-v1:0:128k", backend=FakeBackend())
    >>> reply = base.chat("What is 2 + 2?")
    >>> isinstance(reply.text, str), reply.output_tokens is not None
    (True, True)
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from finetune_sdk import backends as _backends
from finetune_sdk.backends.base import (
    Backend,
    BackendOptions,
    CanDeploy,
    CanInvoke,
    ChatResponse,
    CostEstimate,
    DeploymentRecord,
    DeploymentSpec,
    DeploymentStatus,
    InferenceConfig,
    ModelRecord,
    require,
)
from finetune_sdk.catalog import resolve as _resolve_model
from finetune_sdk.data.records import Turn, coerce_messages
from finetune_sdk.errors import ConfigurationError, CostLimitExceededError, FinetuneError, JobTimeoutError

__all__ = ["Deployment", "Model"]


def _inference_config(
    config: InferenceConfig | None, max_tokens: int | None, temperature: float | None
) -> InferenceConfig:
    base = config or InferenceConfig()
    update: dict[str, Any] = {}
    if max_tokens is not None:
        update["max_tokens"] = max_tokens
    if temperature is not None:
        update["temperature"] = temperature
    return base.model_copy(update=update) if update else base


def _chat(
    backend: Backend,
    invoke_id: str,
    messages: str | Sequence[Mapping[str, Any]] | None,
    system: str | None,
    turns: Sequence[Turn] | None,
    config: InferenceConfig,
) -> ChatResponse:
    invoker: CanInvoke = require(backend, CanInvoke, "run inference")
    if messages is not None and turns is not None:
        raise ConfigurationError("pass either messages or turns, not both")
    if messages is not None:
        msg_system, msg_turns = coerce_messages(messages)
        system = system if system is not None else msg_system
        turns = msg_turns
    if not turns:
        raise ConfigurationError("chat() needs a message: a string, a list of messages, or turns=")
    return invoker.chat(invoke_id, system=system, turns=tuple(turns), config=config)


class Model:
    """A model you can invoke: a base model, a customised model, an imported model or a local folder."""

    def __init__(self, record: ModelRecord, backend: Backend) -> None:
        self.record = record
        self.backend = backend

    @classmethod
    def get(cls, model_id: str, *, backend: str | Backend | None = None) -> Model:
        """A handle on an existing custom, imported or local model.

        Raises:
            ResourceNotFoundError: no such model.
        """
        be = _backends.resolve(backend)
        return cls(be.describe_model(model_id), be)

    @classmethod
    def foundation(cls, model_id: str, *, backend: str | Backend | None = None) -> Model:
        """A handle on a base model invoked on demand (no job, no deployment)."""
        be = _backends.resolve(backend)
        return cls(be.foundation_model(model_id), be)

    @classmethod
    def list(cls, *, backend: str | Backend | None = None) -> Iterator[Model]:
        """Custom and imported models on a backend."""
        be = _backends.resolve(backend)
        for record in be.list_models():
            yield cls(record, be)

    @property
    def id(self) -> str:
        """The model's id (an ARN on Bedrock, a run's output id or a folder on the local backend)."""
        return self.record.id

    @property
    def name(self) -> str:
        """The model's name."""
        return self.record.name

    @property
    def pricing_model_id(self) -> str | None:
        """The catalog id whose prices apply to this model (its base model), when known."""
        for candidate in (self.record.base_model, self.record.id):
            if candidate:
                info = _resolve_model(candidate)
                if info is not None:
                    return info.id
        return None

    def chat(
        self,
        messages: str | Sequence[Mapping[str, Any]] | None = None,
        *,
        system: str | None = None,
        turns: Sequence[Turn] | None = None,
        config: InferenceConfig | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> ChatResponse:
        """Send a conversation: a string, OpenAI-style ``[{"role", "content"}]`` messages, or ``turns``.

        Returns text, stop reason, input/output token counts and latency.

        Raises:
            ConfigurationError: the model must be deployed first (Bedrock custom models); the message shows how.
            ThrottlingError: still throttled after the backend's retries.
        """
        if self.record.needs_deployment:
            raise ConfigurationError(
                f"model {self.name} must be deployed before it can be invoked: "
                "`with model.deploy() as d: d.chat(...)` (deletes the deployment on exit)"
            )
        return _chat(self.backend, self.id, messages, system, turns, _inference_config(config, max_tokens, temperature))

    def invoke(self, prompt: str, *, system: str | None = None, config: InferenceConfig | None = None) -> ChatResponse:
        """Send one prompt as a single user turn. Same as ``chat(prompt, system=system)``."""
        return self.chat(prompt, system=system, config=config)

    def deploy(
        self,
        *,
        name: str | None = None,
        kind: str | None = None,
        model_units: int = 1,
        commitment: str | None = None,
        instance_type: str | None = None,
        instance_count: int = 1,
        wait: bool = True,
        timeout: float | None = None,
        max_hourly_cost: float | None = None,
        tags: Mapping[str, str] | None = None,
        backend_options: BackendOptions | None = None,
    ) -> Deployment:
        """Make the model invocable and return the :class:`Deployment` (a context manager that deletes on exit).

        On Bedrock the default is Provisioned Throughput with no commitment (billed per hour until deleted);
        ``kind="on_demand"`` uses a custom model deployment where the model supports it.

        Raises:
            CostLimitExceededError: the hourly cost is above ``max_hourly_cost``; nothing was created.
            UnsupportedOperationError: the backend cannot deploy.
        """
        deployer: CanDeploy = require(self.backend, CanDeploy, "deploy models")
        default_kind = deployer.default_deployment_kind
        dep_name = name or re.sub(r"[^0-9A-Za-z-]+", "-", f"{self.name}-deployment")[:63].strip("-")
        spec = DeploymentSpec(
            model_id=self.id,
            name=dep_name,
            kind=kind or default_kind,  # type: ignore[arg-type]
            model_units=model_units,
            commitment=commitment,  # type: ignore[arg-type]
            instance_type=instance_type,
            instance_count=instance_count,
            tags=dict(tags or {}),
            backend_options=backend_options,
        )
        if max_hourly_cost is not None:
            estimate = deployer.estimate_deployment_cost(spec, hours=1.0)
            if estimate is not None and estimate.total > max_hourly_cost:
                raise CostLimitExceededError(
                    f"deployment would cost {estimate} per hour, above max_hourly_cost=${max_hourly_cost:,.2f}; "
                    "nothing was created",
                    estimate=estimate.total,
                    max_cost=max_hourly_cost,
                )
        deployment = Deployment(deployer.create_deployment(spec), self.backend, spec=spec)
        if wait:
            deployment.wait(timeout=timeout)
        return deployment

    def delete(self) -> None:
        """Delete the model from the backend (custom, imported or local models only)."""
        if self.record.kind == "foundation":
            raise ConfigurationError(f"{self.id} is a foundation model; there is nothing to delete")
        self.backend.delete_model(self.id)

    def __repr__(self) -> str:
        return f"Model(id={self.id!r}, backend={self.backend.name!r}, kind={self.record.kind!r})"

    def _repr_html_(self) -> str:
        r = self.record
        rows = [
            ("name", r.name),
            ("id", r.id),
            ("backend", r.backend),
            ("kind", r.kind),
            ("base model", r.base_model or "—"),
            ("status", r.status or "—"),
            ("needs deployment", "yes" if r.needs_deployment else "no"),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
        )
        return f"<table><caption>finetune_sdk.Model</caption>{body}</table>"


class Deployment:
    """What makes a model invocable (Bedrock Provisioned Throughput or on-demand deployment, SageMaker endpoint).

    Use it as a context manager so it is deleted (and stops billing) even when the block raises::

        with model.deploy() as d:
            d.chat("hello")
    """

    def __init__(self, record: DeploymentRecord, backend: Backend, *, spec: DeploymentSpec | None = None) -> None:
        self.record = record
        self.backend = backend
        self.spec = spec

    @classmethod
    def get(cls, deployment_id: str, *, backend: str | Backend | None = None) -> Deployment:
        """A handle on an existing deployment."""
        be = _backends.resolve(backend)
        deployer: CanDeploy = require(be, CanDeploy, "deploy models")
        return cls(deployer.describe_deployment(deployment_id), be)

    @classmethod
    def list(cls, *, backend: str | Backend | None = None) -> Iterator[Deployment]:
        """Deployments on a backend."""
        be = _backends.resolve(backend)
        deployer: CanDeploy = require(be, CanDeploy, "deploy models")
        for record in deployer.list_deployments():
            yield cls(record, be)

    @property
    def _deployer(self) -> CanDeploy:
        deployer: CanDeploy = require(self.backend, CanDeploy, "deploy models")
        return deployer

    @property
    def id(self) -> str:
        """The deployment's id (ARN on Bedrock, endpoint name on SageMaker)."""
        return self.record.id

    @property
    def name(self) -> str:
        """The deployment's name."""
        return self.record.name

    @property
    def invoke_id(self) -> str:
        """The id passed to the runtime when invoking through this deployment."""
        return self.record.invoke_id

    @property
    def status(self) -> DeploymentStatus:
        """The status at the last refresh."""
        return self.record.status

    def refresh(self) -> Deployment:
        """Fetch the latest record; returns the same Deployment, updated in place."""
        self.record = self._deployer.describe_deployment(self.id)
        return self

    def wait(self, *, timeout: float | None = None, poll_interval: float | None = None) -> Deployment:
        """Poll until the deployment is active.

        Raises:
            FinetuneError: the deployment failed (with the service's message).
            JobTimeoutError: ``timeout`` passed first; the deployment is still being created (and billed).
        """
        clock = self.backend.clock
        interval_max = poll_interval if poll_interval is not None else self.backend.default_poll_interval
        interval = min(interval_max, max(interval_max / 8, 1.0)) if interval_max > 0 else 0.0
        from finetune_sdk._aws.retry import poll  # the one polling policy (tenacity), on the backend's clock

        def check() -> Deployment | None:
            self.refresh()
            if self.status is DeploymentStatus.FAILED:
                raise FinetuneError(f"deployment {self.name} failed: {self.record.failure_message or 'no reason'}")
            return self if self.status is DeploymentStatus.ACTIVE else None

        def timed_out(waited: float) -> JobTimeoutError:
            return JobTimeoutError(
                f"deployment {self.name} is still {self.status.value} after {waited:.0f}s; it keeps being "
                "created and billed: wait again or delete() it",
                job_id=self.id,
                status=self.status.value,
                waited_s=waited,
            )

        return poll(
            check,
            clock=clock,
            interval=interval,
            max_interval=interval_max,
            backoff=1.5,
            timeout=timeout,
            what=f"deployment {self.name}",
            on_timeout=timed_out,
        )

    def chat(
        self,
        messages: str | Sequence[Mapping[str, Any]] | None = None,
        *,
        system: str | None = None,
        turns: Sequence[Turn] | None = None,
        config: InferenceConfig | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> ChatResponse:
        """Invoke the deployed model; same arguments and result as :meth:`Model.chat`."""
        return _chat(
            self.backend, self.invoke_id, messages, system, turns, _inference_config(config, max_tokens, temperature)
        )

    def invoke(self, prompt: str, *, system: str | None = None, config: InferenceConfig | None = None) -> ChatResponse:
        """Send one prompt as a single user turn."""
        return self.chat(prompt, system=system, config=config)

    @property
    def pricing_model_id(self) -> str | None:
        """The catalog id whose token prices apply (none: deployments bill by the hour)."""
        return None

    def estimate_cost(self, hours: float = 1.0) -> CostEstimate | None:
        """What running this deployment for ``hours`` costs, when the backend knows the price."""
        if self.spec is None:
            return None
        return self._deployer.estimate_deployment_cost(self.spec, hours=hours)

    def delete(self) -> None:
        """Delete the deployment (stops billing). Deleting twice is fine."""
        self._deployer.delete_deployment(self.id)

    def __enter__(self) -> Deployment:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.delete()

    def __repr__(self) -> str:
        return (
            f"Deployment(id={self.id!r}, backend={self.backend.name!r}, status=<DeploymentStatus.{self.status.name}>)"
        )
