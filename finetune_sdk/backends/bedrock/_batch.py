"""Bedrock batch inference: CreateModelInvocationJob for bulk generation.

Private; composed into :class:`finetune_sdk.backends.bedrock.BedrockBackend`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from finetune_sdk._aws import poll
from finetune_sdk.backends.base import (
    ChatResponse,
    InferenceConfig,
    JobStatus,
)
from finetune_sdk.backends.bedrock import requests as rq
from finetune_sdk.backends.bedrock.checks import (
    model_id_from_arn,
)
from finetune_sdk.backends.bedrock.errors import hint_for_failure
from finetune_sdk.backends.bedrock.iam import split_s3_uri
from finetune_sdk.errors import (
    ConfigurationError,
    JobFailedError,
    JobStoppedError,
    JobTimeoutError,
    ResourceConflictError,
    UnsupportedOperationError,
)

if TYPE_CHECKING:
    from finetune_sdk.data.records import Turn

from finetune_sdk.backends.bedrock._base import (
    _BATCH_DONE,
    _BATCH_FAILED,
    _BATCH_MIN_RECORDS,
    _BATCH_STOPPED,
    _BedrockBase,
)

__all__: list[str] = []

logger = logging.getLogger(__name__)


def _note(exc: BaseException, message: str) -> None:
    """Add a note to ``exc`` (shown under the traceback on Python 3.11+); always logged."""
    add = getattr(exc, "add_note", None)
    if callable(add):
        add(message)
    logger.warning("%s", message)


class _BedrockBatch(_BedrockBase):
    """Bedrock batch inference: CreateModelInvocationJob for bulk generation."""

    # --- batch inference --------------------------------------------------------------------------------
    def batch_generate(
        self,
        model_id: str,
        requests: Sequence[tuple[str, str | None, Sequence[Turn]]],
        *,
        config: InferenceConfig,
        wait: bool = True,
        timeout: float | None = None,
        keep_on_failure: bool = False,
    ) -> dict[str, ChatResponse]:
        """Run many requests as one Bedrock batch inference job (about half the on-demand price).

        Writes ``{"recordId", "modelInput"}`` JSONL under ``<output_uri>/batch/<job>/input/``, creates the job
        (named and tokened from the content, so calling again with the same requests attaches to the same
        job),
        polls it on the backend clock, and joins the ``*.jsonl.out`` records back by ``recordId`` (the service
        does not keep the order). Records the service failed are left out of the result and logged.
        With ``wait=False`` the job is started and ``{}`` returned; call again with ``wait=True`` to collect.
        A job of the same content that is still running is attached to; one that was stopped, failed or
        expired is not reused: a fresh job (name suffixed ``-r1``, ``-r2``, ...) is started instead.

        The job is owned from the moment it is created: an interrupt (``KeyboardInterrupt``), ``timeout``
        (seconds on the backend clock, ``None``: no limit) or any error while waiting stops it
        (``StopModelInvocationJob``) so that it bills nothing more, unless ``keep_on_failure=True``, which
        leaves it running. Either way the exception carries the job's ARN as its ``batch_job`` attribute.

        Raises:
            ConfigurationError: no role or output location, or duplicate record ids.
            UnsupportedOperationError: imported models (Bedrock has no batch inference for them).
            JobFailedError / JobStoppedError: the batch job failed, expired or was stopped.
            JobTimeoutError: still running after ``timeout`` seconds (stopped unless ``keep_on_failure``).
        """
        if not requests:
            return {}
        resource, _ = model_id_from_arn(model_id)
        if resource == "imported-model":
            raise UnsupportedOperationError(
                "Bedrock batch inference does not serve imported models; use chat()"
            )
        ids = [r[0] for r in requests]
        if len(set(ids)) != len(ids):
            raise ConfigurationError("batch_generate() needs unique record ids")
        base = (self.output_uri or "").rstrip("/")
        if not base:
            raise ConfigurationError(
                "batch inference writes its files to S3: pass output_uri='s3://bucket/prefix' to "
                "backends.get('bedrock', ...)"
            )
        if len(requests) < _BATCH_MIN_RECORDS:
            logger.warning(
                "%d records: Bedrock batch jobs need at least %d by default (quota 'Minimum number of "
                "records per "
                "batch inference job'); the job may fail validation",
                len(requests),
                _BATCH_MIN_RECORDS,
            )
        dialect = self._dialect_for(model_id)
        invocation_type = None if dialect is not None else "Converse"
        lines: list[str] = []
        by_batch_id: dict[str, str] = {}
        for index, (record_id, system, turns) in enumerate(requests):
            batch_id = f"R{index:010d}"  # 11 alphanumerics: stable and accepted as recordId
            by_batch_id[batch_id] = record_id
            if dialect is not None:
                model_input = rq.invoke_body(dialect, system=system, turns=turns, config=config)
            else:
                model_input = rq.converse_request(model_id, system=system, turns=turns, config=config)
                model_input.pop("modelId")
            lines.append(rq.batch_record_line(batch_id, model_input))
        payload = ("\n".join(lines) + "\n").encode("utf-8")
        digest = hashlib.sha256(model_id.encode() + b"\0" + payload).hexdigest()
        base_name = f"ftsdk-batch-{digest[:20]}"
        # Jobs of this content: a running one is re-attached; a stopped/failed/expired one keeps its name, so
        # a rerun takes the next free suffix (and a token of its own: the service would hand back the old job).
        earlier: dict[str, str] = {}
        for summary in self._paginate(
            "bedrock", "ListModelInvocationJobs", "invocationJobSummaries", {"nameContains": base_name}
        ):
            earlier[str(summary.get("jobName"))] = str(summary.get("status"))
        attempt = 0
        while True:
            name = base_name if attempt == 0 else f"{base_name}-r{attempt}"
            if earlier.get(name) not in _BATCH_FAILED | _BATCH_STOPPED | {"Stopping"}:
                break
            attempt += 1
        token_seed = digest if attempt == 0 else hashlib.sha256(f"{digest}-r{attempt}".encode()).hexdigest()
        folder = f"{base}/batch/{name}"
        input_uri, output_prefix = f"{folder}/input/records.jsonl", f"{folder}/output/"
        bucket, key = split_s3_uri(input_uri)
        self._call("s3", "PutObject", {"Bucket": bucket, "Key": key, "Body": payload})
        params = rq.batch_job_request(
            name=name,
            role_arn=self.role_arn,
            model_id=model_id,
            input_uri=input_uri,
            output_uri=output_prefix,
            client_token=f"ftsdk-{token_seed[:48]}",
            invocation_type=invocation_type,
        )

        def find() -> dict[str, Any] | None:
            for summary in self._paginate(
                "bedrock", "ListModelInvocationJobs", "invocationJobSummaries", {"nameContains": name}
            ):
                if summary.get("jobName") == name:
                    return {"jobArn": summary["jobArn"]}
            return None

        try:
            job_arn = str(self._call("bedrock", "CreateModelInvocationJob", params, recover=find)["jobArn"])
        except ResourceConflictError:
            hit = find()
            if hit is None:
                raise
            job_arn = str(hit["jobArn"])
        logger.info("batch inference job %s (%d records) for %s", job_arn, len(requests), model_id)
        if not wait:
            return {}

        def check() -> str | None:
            raw = self._call("bedrock", "GetModelInvocationJob", {"jobIdentifier": job_arn})
            status = str(raw.get("status"))
            if status in _BATCH_FAILED:
                message = raw.get("message") or "no reason given"
                raise JobFailedError(
                    f"batch inference job {name} ended {status}: {message}",
                    job_id=job_arn,
                    status=JobStatus.FAILED.value,
                    failure_reason=str(message),
                    hint=hint_for_failure(str(message)),
                )
            if status in _BATCH_STOPPED:
                raise JobStoppedError(
                    f"batch inference job {name} was stopped", job_id=job_arn, status=JobStatus.STOPPED.value
                )
            return status if status in _BATCH_DONE else None

        def timed_out(waited: float) -> BaseException:
            return JobTimeoutError(
                f"batch inference job {name} was still running after {waited:.0f}s (timeout={timeout}s)",
                job_id=job_arn,
                status=JobStatus.RUNNING.value,
                waited_s=waited,
            )

        try:
            poll(
                check,
                clock=self.clock,
                interval=self.default_poll_interval,
                timeout=timeout,
                what=f"batch inference job {name}",
                on_timeout=timed_out,
            )
        except BaseException as exc:
            self._release_batch_job(exc, job_arn, name, keep=keep_on_failure)
            raise
        return self._batch_results(job_arn, output_prefix, by_batch_id, dialect=dialect, model_id=model_id)

    def _release_batch_job(self, exc: BaseException, job_arn: str, name: str, *, keep: bool) -> None:
        """The wait for a job this call owns was cut short: stop the job (unless ``keep``) and hand its ARN
        back on ``exc`` as ``batch_job``."""
        exc.batch_job = job_arn  # type: ignore[attr-defined]
        if isinstance(exc, (JobFailedError, JobStoppedError)):
            return  # already over: nothing left to stop
        if keep:
            _note(exc, f"batch inference job {name} was kept (keep_on_failure=True) and runs (and bills) on: "
                       f"collect it by calling batch_generate() again, or stop it ({job_arn})")
            return
        try:
            self._call("bedrock", "StopModelInvocationJob", {"jobIdentifier": job_arn})
        except ResourceConflictError:
            pass  # it ended on its own meanwhile
        except BaseException as cleanup:
            _note(exc, f"batch inference job {job_arn} could not be stopped and may be billed: stop it ({cleanup})")
            return
        _note(exc, f"batch inference job {name} was stopped so that it bills nothing more")

    def _batch_results(
        self,
        job_arn: str,
        output_prefix: str,
        by_batch_id: Mapping[str, str],
        *,
        dialect: str | None,
        model_id: str,
    ) -> dict[str, ChatResponse]:
        bucket, prefix = split_s3_uri(f"{output_prefix}{job_arn.rsplit('/', 1)[-1]}/")
        results: dict[str, ChatResponse] = {}
        failed = 0
        for obj in self._paginate(
            "s3",
            "ListObjectsV2",
            "Contents",
            {"Bucket": bucket, "Prefix": prefix},
            token_key="NextContinuationToken",
        ):
            key = str(obj["Key"])
            if key.endswith("manifest.json.out"):
                manifest = self._call("s3", "GetObject", {"Bucket": bucket, "Key": key})["Body"].read()
                logger.info("batch manifest: %s", manifest.decode("utf-8", errors="replace").strip())
                continue
            if not key.endswith(".jsonl.out"):
                continue
            text = (
                self._call("s3", "GetObject", {"Bucket": bucket, "Key": key})["Body"].read().decode("utf-8")
            )
            for line in text.splitlines():
                if not line.strip():
                    continue
                if dialect is None:
                    obj_line = json.loads(line)
                    batch_id = obj_line.get("recordId")
                    output = obj_line.get("modelOutput")
                    response = (
                        rq.parse_converse_response(output, model_id=model_id, latency_s=0.0)
                        if isinstance(output, Mapping)
                        else None
                    )
                    error = obj_line.get("error") if response is None else None
                else:
                    batch_id, response, error = rq.parse_batch_output_line(
                        line, dialect=dialect, model_id=model_id
                    )
                record_id = by_batch_id.get(str(batch_id))
                if record_id is None:
                    continue
                if response is None:
                    failed += 1
                    logger.warning("batch record %s failed: %s", record_id, error)
                    continue
                results[record_id] = response
        if failed:
            logger.warning(
                "%d of %d batch records failed and are missing from the result", failed, len(by_batch_id)
            )
        return results
