"""The BedrockBackend core: construction, clients and the one request path every capability uses.

Private; :mod:`finetune_sdk.backends.bedrock` re-exports the public names.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from finetune_sdk._aws import AwsClients, RetryPolicy, call_with_retries
from finetune_sdk._clock import Clock
from finetune_sdk.backends.base import (
    Backend,
    DeploymentRecord,
    DeploymentStatus,
    JobKind,
    JobRecord,
    JobStatus,
    ModelRecord,
    UsesAwsSession,
)
from finetune_sdk.backends.bedrock.checks import (
    validate_request,
)
from finetune_sdk.backends.bedrock.errors import service_message, translate_error
from finetune_sdk.errors import (
    ConfigurationError,
)

__all__: list[str] = []

logger = logging.getLogger(__name__)

_JOB_STATUS: dict[str, JobStatus] = {
    "InProgress": JobStatus.RUNNING,
    "Stopping": JobStatus.STOPPING,
    "Completed": JobStatus.COMPLETED,
    "Failed": JobStatus.FAILED,
    "Stopped": JobStatus.STOPPED,
}
_STATUS_FILTER: dict[JobStatus, str] = {
    JobStatus.RUNNING: "InProgress",
    JobStatus.STOPPING: "Stopping",
    JobStatus.COMPLETED: "Completed",
    JobStatus.FAILED: "Failed",
    JobStatus.STOPPED: "Stopped",
}
_IMPORT_STATUSES = frozenset({JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.FAILED})
_KIND_BY_TYPE: dict[str, JobKind] = {
    "FINE_TUNING": JobKind.FINE_TUNING,
    "CONTINUED_PRE_TRAINING": JobKind.CONTINUED_PRE_TRAINING,
    "DISTILLATION": JobKind.DISTILLATION,
    "REINFORCEMENT_FINE_TUNING": JobKind.REINFORCEMENT,
}
_STAGES = (
    ("validationDetails", "validation"),
    ("dataProcessingDetails", "data_processing"),
    ("trainingDetails", "training"),
)
_PT_STATUS: dict[str, DeploymentStatus] = {
    "Creating": DeploymentStatus.CREATING,
    "InService": DeploymentStatus.ACTIVE,
    "Updating": DeploymentStatus.UPDATING,
    "Failed": DeploymentStatus.FAILED,
}
_DEPLOYMENT_STATUS: dict[str, DeploymentStatus] = {
    "Creating": DeploymentStatus.CREATING,
    "Active": DeploymentStatus.ACTIVE,
    "Failed": DeploymentStatus.FAILED,
}
_BATCH_DONE = frozenset({"Completed", "PartiallyCompleted"})
_BATCH_FAILED = frozenset({"Failed", "Expired"})
_BATCH_STOPPED = frozenset({"Stopped"})
#: documented default quota "Minimum number of records per batch inference job" (adjustable, not verified)
_BATCH_MIN_RECORDS = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _raw(response: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def _created(record: JobRecord | ModelRecord | DeploymentRecord) -> datetime:
    return record.created_at or _EPOCH


class _Timing:
    """Start and end of the last attempt of a call (the latency a user sees, without backoff waits)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.start = self.end = clock.monotonic()

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


def _is_import_job(job_id: str) -> bool:
    return ":model-import-job/" in job_id


def _converse_unsupported(exc: BaseException) -> bool:
    """Whether a ValidationException says that Converse cannot serve this model (so InvokeModel may)."""
    text = service_message(exc).replace("\u2019", "'").lower()
    if "on-demand throughput" in text or "inference profile" in text or "identifier is invalid" in text:
        return False
    return any(
        marker in text
        for marker in (
            "converse",
            "doesn't support the model",
            "does not support the model",
            "operation is not supported",
            "action doesn't support",
        )
    )


class _BedrockBase(Backend, UsesAwsSession):
    """Construction, clients and the request path shared by every capability of :class:`BedrockBackend`."""

    if TYPE_CHECKING:  # provided by other capabilities of the composed class

        def _imported(self, model_id: str) -> Mapping[str, Any]: ...

        def _dialect_for(self, model_id: str) -> str | None: ...

    def __init__(
        self,
        *,
        region: str | None = None,
        session: Any = None,
        role_arn: str | None = None,
        output_uri: str | None = None,
        endpoint_url: str | None = None,
        runtime_endpoint_url: str | None = None,
        s3_endpoint_url: str | None = None,
        clock: Clock | None = None,
        max_attempts: int = 5,
        invoke_throttle_attempts: int | None = None,
    ) -> None:
        super().__init__(clock=clock)
        if max_attempts < 1:
            raise ConfigurationError(f"max_attempts must be at least 1, got {max_attempts}")
        if output_uri is not None and not output_uri.startswith("s3://"):
            raise ConfigurationError(f"output_uri must be an s3:// prefix, got {output_uri!r}")
        self._aws = AwsClients(
            session=session,
            region=region,
            backend="bedrock",
            endpoint_urls={"bedrock": endpoint_url, "bedrock-runtime": runtime_endpoint_url, "s3": s3_endpoint_url},
        )
        self.role_arn = role_arn
        self.output_uri = output_uri.rstrip("/") if output_uri else None
        self.endpoint_url = endpoint_url
        self.runtime_endpoint_url = runtime_endpoint_url
        self.s3_endpoint_url = s3_endpoint_url
        self.max_attempts = max_attempts
        self._control_policy = RetryPolicy(max_attempts=max_attempts, throttle_attempts=max_attempts)
        # inference: throttling is retried briefly (callers such as the Evaluator have their own limiter);
        # an imported model scaled to zero is given up to ~5 minutes to come back
        self._runtime_policy = RetryPolicy(
            max_attempts=max_attempts,
            throttle_attempts=invoke_throttle_attempts or min(3, max_attempts),
            not_ready_budget_s=300.0,
            base_s=1.0,
            cap_s=8.0,
        )
        self._imported_cache: dict[str, Mapping[str, Any]] = {}
        #: job requests already built and validated, by spec (see ``_checked_request``)
        self._checked_requests: dict[str, tuple[str, dict[str, Any]]] = {}
        self._dialects: dict[str, str | None] = {}
        self._no_converse: dict[str, str] = {}

    # --- plumbing ---------------------------------------------------------------------------------------
    @property
    def session(self) -> Any:
        """The ``boto3.Session`` all clients come from (created on first use when none was given)."""
        return self._aws.session

    @property
    def region(self) -> str | None:
        """The Region requests go to (``None`` when neither the backend nor the session has one)."""
        return self._aws.region_or_none

    def client(self, service: Literal["bedrock", "bedrock-runtime", "s3"]) -> Any:
        """The boto3 client for ``service``, created once by the AWS core's factory (botocore retries off).

        Tests attach ``botocore.stub.Stubber`` to these.

        Raises:
            ConfigurationError: no Region is configured.
        """
        return self._aws.client(service)

    def endpoint_for(self, service: str) -> str | None:
        """The endpoint URL the ``service`` client uses (``None``: AWS's own)."""
        return self._aws.endpoint_for(service)

    def _call(
        self,
        service: Literal["bedrock", "bedrock-runtime", "s3"],
        operation: str,
        params: Mapping[str, Any],
        *,
        runtime: bool = False,
        recover: Callable[[], dict[str, Any] | None] | None = None,
        model_id: str | None = None,
        timing: _Timing | None = None,
        validated: bool = False,
    ) -> dict[str, Any]:
        """Validate (unless the caller already did), send with retries, translate errors. Returns the response."""
        from botocore import xform_name
        from botocore.exceptions import BotoCoreError, ClientError

        if not validated:
            validate_request(service, operation, params)
        method = getattr(self.client(service), xform_name(operation))

        def send() -> dict[str, Any]:
            if timing is not None:
                timing.start = self.clock.monotonic()
            response: dict[str, Any] = method(**params)
            if timing is not None:
                timing.end = self.clock.monotonic()
            return response

        try:
            return call_with_retries(
                send,
                clock=self.clock,
                policy=self._runtime_policy if runtime else self._control_policy,
                what=f"{service}:{operation}",
                recover=recover,
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, operation=operation, region=self.region, model_id=model_id) from exc

    def _paginate(
        self,
        service: Literal["bedrock", "s3"],
        operation: str,
        result_key: str,
        params: Mapping[str, Any],
        *,
        token_key: str = "nextToken",
    ) -> Iterator[dict[str, Any]]:
        """Items of a paginated list call, fetched lazily one page at a time through botocore's paginator.

        Each page is its own retried request (resuming from the last page's token), so a throttled page
        does not restart the listing.
        """
        from botocore import xform_name
        from botocore.exceptions import BotoCoreError, ClientError

        validate_request(service, operation, params)
        paginator = self.client(service).get_paginator(xform_name(operation))
        token: str | None = None
        while True:
            kwargs = dict(params)
            if token:
                kwargs["PaginationConfig"] = {"StartingToken": token}

            def fetch(kwargs: dict[str, Any] = kwargs) -> dict[str, Any]:
                page: dict[str, Any] = next(iter(paginator.paginate(**kwargs)))
                return page

            try:
                page = call_with_retries(
                    fetch, clock=self.clock, policy=self._control_policy, what=f"{service}:{operation}"
                )
            except (ClientError, BotoCoreError) as exc:
                raise translate_error(exc, operation=operation, region=self.region) from exc
            yield from page.get(result_key, [])
            token = page.get(token_key)
            if not token:
                return
