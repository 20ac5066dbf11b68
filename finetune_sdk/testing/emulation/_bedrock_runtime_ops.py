"""Bedrock handler table, runtime: batch inference, invocation logging, Converse/InvokeModel, catalogue and tags.

Private; composed into :class:`finetune_sdk.testing.emulation.BedrockEmulation`.
"""

from __future__ import annotations

import gzip
import itertools
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from finetune_sdk import catalog
from finetune_sdk.testing import _bedrock_runtime as rt

if TYPE_CHECKING:
    pass

from finetune_sdk.testing.emulation._base import (
    _ApiError,
    _conflict,
    _invalid,
    _join_key,
    _jsonable,
    _not_found,
    _split_s3,
    _strip_geo,
)
from finetune_sdk.testing.emulation._bedrock_state import _BedrockState
from finetune_sdk.testing.emulation._resources import (
    _BatchJob,
)

__all__: list[str] = []

logger = logging.getLogger(__name__)


class _BedrockRuntimeHandlers(_BedrockState):
    """Bedrock handler table, runtime: batch inference, invocation logging, Converse/InvokeModel, catalogue and tags."""

    # --- batch inference ------------------------------------------------------------------------------------
    def _op_create_model_invocation_job(self, p: dict[str, Any]) -> dict[str, Any]:
        existing = self._idempotent("batch", p)
        if existing is not None:
            return {"jobArn": existing}
        if any(j.name == p["jobName"] for j in self._batch.values()):
            raise _conflict(f"A model invocation job with the name {p['jobName']} already exists.")
        model_id = p["modelId"]
        if ":imported-model/" in model_id:
            raise _invalid("Batch inference is not supported for imported models.")
        custom = self._models.get(model_id)
        if custom is not None:
            family, responder_id = self._family(custom.info), custom.arn
        else:
            target = self._runtime_target(model_id, api="InvokeModel")
            family, responder_id = target.family, target.responder_id
        self._check_role(p["roleArn"])
        rid = self._new_id()
        arn = self._arn(f"model-invocation-job/{rid}")
        now = self.clock.now()
        job = _BatchJob(
            arn=arn,
            rid=rid,
            seq=self._next_seq(),
            created=now,
            started=self.clock.monotonic(),
            status="Submitted",
            token=p.get("clientRequestToken"),
            last_modified=now,
            name=p["jobName"],
            params=dict(p),
            family=family,
            responder_id=responder_id,
        )
        self._batch[arn] = job
        self._remember("batch", p, arn)
        self._set_tags(arn, p.get("tags"))
        return {"jobArn": arn}

    def _batch_job(self, ident: str) -> _BatchJob:
        job = self._batch.get(ident) or next(
            (j for j in self._batch.values() if ident in (j.rid, j.name)), None
        )
        if job is None:
            raise _not_found("model invocation job", ident)
        return job

    def _batch_view(self, job: _BatchJob) -> dict[str, Any]:
        p = job.params
        hours = int(p.get("timeoutDurationInHours") or 24)
        view: dict[str, Any] = {
            "jobArn": job.arn,
            "jobName": job.name,
            "modelId": p["modelId"],
            "clientRequestToken": p.get("clientRequestToken"),
            "roleArn": p["roleArn"],
            "status": job.status,
            "message": job.message,
            "submitTime": job.created,
            "lastModifiedTime": job.last_modified,
            "endTime": job.end_time,
            "inputDataConfig": p["inputDataConfig"],
            "outputDataConfig": p["outputDataConfig"],
            "vpcConfig": p.get("vpcConfig"),
            "timeoutDurationInHours": hours,
            "jobExpirationTime": job.created + timedelta(hours=hours),
            "modelInvocationType": p.get("modelInvocationType"),
        }
        view.update(job.counts)
        return view

    def _op_get_model_invocation_job(self, p: dict[str, Any]) -> dict[str, Any]:
        job = self._batch_job(p["jobIdentifier"])
        self._tick(job, poll=True)
        return self._batch_view(job)

    def _op_list_model_invocation_jobs(self, p: dict[str, Any]) -> dict[str, Any]:
        for job in self._batch.values():
            self._tick(job)
        items = list(self._batch.values())
        if p.get("statusEquals"):
            items = [j for j in items if j.status == p["statusEquals"]]
        if p.get("nameContains"):
            items = [j for j in items if p["nameContains"] in j.name]
        page, token = self._page(
            items,
            p,
            "ListModelInvocationJobs",
            created=lambda j: j.created,
            after="submitTimeAfter",
            before="submitTimeBefore",
        )
        return {"invocationJobSummaries": [self._batch_view(j) for j in page], "nextToken": token}

    def _op_stop_model_invocation_job(self, p: dict[str, Any]) -> dict[str, Any]:
        job = self._batch_job(p["jobIdentifier"])
        self._tick(job)
        if job.status not in ("Submitted", "InProgress", "Validating", "Scheduled"):
            raise _conflict(f"The job {job.name} cannot be stopped because it is {job.status}.")
        job.status = "Stopping"
        job.stop_at = self.clock.monotonic()
        job.last_modified = self.clock.now()
        return {}

    def _finish_batch(self, job: _BatchJob) -> None:
        p = job.params
        in_uri = p["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
        bucket, keys = self._data_keys(in_uri)
        if not keys:
            self._fail(job, f"No .jsonl input files were found at {in_uri}.")
            return
        out_bucket, out_prefix = _split_s3(p["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"])
        if not self._bucket_exists(out_bucket):
            self._fail(job, f"Unable to write to the output location s3://{out_bucket}/{out_prefix}.")
            return
        converse = p.get("modelInvocationType") == "Converse"
        totals = {"success": 0, "error": 0, "input": 0, "output": 0}
        for key in keys:
            lines: list[str] = []
            text = (self._get(bucket, key) or b"").decode("utf-8", errors="replace")
            for index, line in enumerate(text.splitlines()):
                if not line.strip():
                    continue
                lines.append(json.dumps(self._batch_record(job, line, index, converse, totals)))
            shuffled = list(lines)
            self._rng.shuffle(shuffled)
            if len(shuffled) > 1 and shuffled == lines:
                shuffled = shuffled[1:] + shuffled[:1]  # the service never promises order; make that visible
            name = key.rsplit("/", 1)[-1]
            self.s3.put_object(
                Bucket=out_bucket,
                Key=_join_key(out_prefix, job.rid, f"{name}.out"),
                Body="".join(line + "\n" for line in shuffled).encode(),
            )
        total = totals["success"] + totals["error"]
        manifest = {
            "totalRecordCount": total,
            "processedRecordCount": total,
            "successRecordCount": totals["success"],
            "errorRecordCount": totals["error"],
            "inputTokenCount": totals["input"],
            "outputTokenCount": totals["output"],
        }
        self.s3.put_object(
            Bucket=out_bucket,
            Key=_join_key(out_prefix, job.rid, "manifest.json.out"),
            Body=json.dumps(manifest).encode(),
        )
        job.counts = {
            "totalRecordCount": total,
            "processedRecordCount": total,
            "successRecordCount": totals["success"],
            "errorRecordCount": totals["error"],
        }
        now = self.clock.now()
        job.status = (
            "Completed" if totals["error"] == 0 else "PartiallyCompleted" if totals["success"] else "Failed"
        )
        if job.status == "Failed":
            job.message = "Every record failed; see the error field of each output record."
        job.end_time = job.last_modified = now

    def _batch_record(
        self, job: _BatchJob, line: str, index: int, converse: bool, totals: dict[str, int]
    ) -> dict[str, Any]:
        record_id = f"RECORD{index:010d}"
        model_input: Any = None
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or "modelInput" not in record:
                raise rt.BodyError("each line needs a modelInput object")
            record_id = str(record.get("recordId") or record_id)
            model_input = record["modelInput"]
            if converse:
                prompt = rt.prompt_from_converse(model_input)
                gen = rt.generate(self.responder, job.responder_id, prompt)
                output: dict[str, Any] = {
                    "output": {"message": {"role": "assistant", "content": [{"text": gen.text}]}},
                    "stopReason": rt.stop_word("converse", gen.stop),
                    "usage": {
                        "inputTokens": gen.input_tokens,
                        "outputTokens": gen.output_tokens,
                        "totalTokens": gen.input_tokens + gen.output_tokens,
                    },
                    "metrics": {"latencyMs": gen.latency_ms},
                }
            else:
                body = json.dumps(model_input).encode()
                gen = rt.generate(self.responder, job.responder_id, rt.parse_invoke_body(job.family, body))
                output = rt.render_invoke_body(job.family, body, gen, request_id=f"{job.rid}-{index}")
        except (ValueError, TypeError, AttributeError) as exc:
            totals["error"] += 1
            return {
                "recordId": record_id,
                "modelInput": model_input,
                "error": {"errorCode": 400, "errorMessage": str(exc)},
            }
        totals["success"] += 1
        totals["input"] += gen.input_tokens
        totals["output"] += gen.output_tokens
        return {"recordId": record_id, "modelInput": model_input, "modelOutput": output}

    # --- invocation logging ---------------------------------------------------------------------------------
    def _op_put_model_invocation_logging_configuration(self, p: dict[str, Any]) -> dict[str, Any]:
        config = p["loggingConfig"]
        s3_config = config.get("s3Config")
        if s3_config and not self._bucket_exists(s3_config["bucketName"]):
            raise _invalid(
                f"The S3 bucket {s3_config['bucketName']} does not exist or Bedrock cannot write to it."
            )
        if not s3_config and not config.get("cloudWatchConfig"):
            raise _invalid("loggingConfig needs s3Config or cloudWatchConfig.")
        self._logging = dict(config)
        return {}

    def _op_get_model_invocation_logging_configuration(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"loggingConfig": self._logging}

    def _op_delete_model_invocation_logging_configuration(self, p: dict[str, Any]) -> dict[str, Any]:
        self._logging = None
        return {}

    def _log_record(
        self,
        *,
        operation: str,
        model_id: str,
        system: Any,
        prompt: str | None,
        response: str,
        metadata: Any,
        messages: list[dict[str, Any]] | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        msgs = messages if messages is not None else [{"role": "user", "content": [{"text": prompt or ""}]}]
        input_body: dict[str, Any] = {"messages": msgs}
        if system:
            input_body["system"] = [{"text": system}] if isinstance(system, str) else system
        in_tokens = input_tokens if input_tokens is not None else rt.estimate_tokens(prompt or "")
        out_tokens = output_tokens if output_tokens is not None else rt.estimate_tokens(response)
        self._request_seq += 1
        record: dict[str, Any] = {
            "schemaType": "ModelInvocationLog",
            "schemaVersion": "1.0",
            "timestamp": self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "accountId": self.account_id,
            "identity": {"arn": f"arn:aws:sts::{self.account_id}:assumed-role/finetune-sdk/test"},
            "region": self.region,
            "requestId": request_id or f"00000000-0000-4000-9000-{self._request_seq:012d}",
            "operation": operation,
            "modelId": model_id,
            "input": {
                "inputContentType": "application/json",
                "inputBodyJson": input_body,
                "inputTokenCount": in_tokens,
            },
            "output": {
                "outputContentType": "application/json",
                "outputBodyJson": {
                    "output": {"message": {"role": "assistant", "content": [{"text": response}]}},
                    "stopReason": "end_turn",
                    "usage": {
                        "inputTokens": in_tokens,
                        "outputTokens": out_tokens,
                        "totalTokens": in_tokens + out_tokens,
                    },
                },
                "outputTokenCount": out_tokens,
            },
        }
        if metadata:
            record["requestMetadata"] = dict(metadata)
        return record

    def _write_logs(self, bucket: str, prefix: str, records: Sequence[Mapping[str, Any]]) -> str:
        now = self.clock.now()
        self._request_seq += 1
        key = _join_key(
            prefix,
            "AWSLogs",
            self.account_id,
            "BedrockModelInvocationLogs",
            self.region,
            now.strftime("%Y/%m/%d/%H"),
            f"{now.strftime('%Y%m%dT%H%M%S')}-{self._request_seq:08d}.json.gz",
        )
        body = "".join(json.dumps(r) + "\n" for r in records).encode()
        self._ensure_bucket(bucket)
        self.s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(body, mtime=0))
        return f"s3://{bucket}/{key}"

    def _maybe_log(self, record: dict[str, Any]) -> None:
        config = self._logging
        if not config or not config.get("s3Config") or config.get("textDataDeliveryEnabled") is False:
            return
        s3_config = config["s3Config"]
        self._write_logs(s3_config["bucketName"], s3_config.get("keyPrefix") or "", [record])

    # --- runtime --------------------------------------------------------------------------------------------
    def _op_converse(self, p: dict[str, Any]) -> dict[str, Any]:
        messages = p.get("messages") or []
        if not messages:
            raise _invalid(
                "A conversation must start with a user message. Try again with a conversation that "
                "starts with a user message."
            )
        if messages[0]["role"] != "user":
            raise _invalid(
                "A conversation must start with a user message. Try again with a conversation that "
                "starts with a user message."
            )
        for before, after in itertools.pairwise(messages):
            if before["role"] == after["role"]:
                raise _invalid(
                    "A conversation must alternate between user and assistant roles. Make sure the "
                    "conversation alternates between user and assistant roles and try again."
                )
        target = self._runtime_target(p["modelId"], api="Converse")
        prompt = rt.prompt_from_converse(p)
        gen = rt.generate(self.responder, target.responder_id, prompt)
        self._maybe_log(
            self._log_record(
                operation="Converse",
                model_id=p["modelId"],
                system=p.get("system"),
                prompt=prompt.text,
                response=gen.text,
                metadata=p.get("requestMetadata"),
                messages=_jsonable(messages),
                input_tokens=gen.input_tokens,
                output_tokens=gen.output_tokens,
            )
        )
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": gen.text}]}},
            "stopReason": rt.stop_word("converse", gen.stop),
            "usage": {
                "inputTokens": gen.input_tokens,
                "outputTokens": gen.output_tokens,
                "totalTokens": gen.input_tokens + gen.output_tokens,
            },
            "metrics": {"latencyMs": gen.latency_ms},
        }

    def _op_invoke_model(self, p: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        target = self._runtime_target(p["modelId"], api="InvokeModel")
        body = p.get("body") or b""
        try:
            prompt = rt.parse_invoke_body(target.family, body)
        except rt.BodyError as exc:
            raise _invalid(str(exc)) from exc
        gen = rt.generate(self.responder, target.responder_id, prompt)
        out = rt.render_invoke_body(target.family, body, gen, request_id=f"{self._request_seq:012d}")
        self._maybe_log(
            self._log_record(
                operation="InvokeModel",
                model_id=p["modelId"],
                system=prompt.system,
                prompt=prompt.text,
                response=gen.text,
                metadata=None,
                messages=_jsonable(prompt.messages),
                input_tokens=gen.input_tokens,
                output_tokens=gen.output_tokens,
            )
        )
        headers = {
            "x-amzn-bedrock-input-token-count": str(gen.input_tokens),
            "x-amzn-bedrock-output-token-count": str(gen.output_tokens),
            "x-amzn-bedrock-invocation-latency": str(gen.latency_ms),
        }
        return {"body": json.dumps(out).encode(), "contentType": "application/json"}, headers

    # --- catalogue and tags ---------------------------------------------------------------------------------
    def _fm_view(self, info: catalog.BaseModelInfo, model_id: str, *, customization: bool) -> dict[str, Any]:
        return {
            "modelArn": self._fm_arn(model_id),
            "modelId": model_id,
            "modelName": info.name[:20],  # the service model caps modelName at 20 characters
            "providerName": info.provider.capitalize(),
            "inputModalities": ["TEXT"],
            "outputModalities": ["TEXT"],
            "responseStreamingSupported": True,
            "customizationsSupported": list(info.customizations) if customization else [],
            "inferenceTypesSupported": ["PROVISIONED"] if customization else ["ON_DEMAND"],
            "modelLifecycle": {"status": "ACTIVE"},
        }

    def _foundation_entries(self) -> list[dict[str, Any]]:
        entries = []
        for info in catalog.all_models():
            entries.append(self._fm_view(info, _strip_geo(info.runtime_id), customization=False))
            if info.customizations and info.id != _strip_geo(info.runtime_id):
                entries.append(self._fm_view(info, info.id, customization=True))
        return entries

    def _op_list_foundation_models(self, p: dict[str, Any]) -> dict[str, Any]:
        entries = self._foundation_entries()
        if p.get("byProvider"):
            entries = [e for e in entries if e["providerName"].lower() == p["byProvider"].lower()]
        if p.get("byCustomizationType"):
            entries = [e for e in entries if p["byCustomizationType"] in e["customizationsSupported"]]
        if p.get("byInferenceType"):
            entries = [e for e in entries if p["byInferenceType"] in e["inferenceTypesSupported"]]
        if p.get("byOutputModality"):
            entries = [e for e in entries if p["byOutputModality"] in e["outputModalities"]]
        return {"modelSummaries": entries}

    def _op_get_foundation_model(self, p: dict[str, Any]) -> dict[str, Any]:
        ident = p["modelIdentifier"]
        bare = _strip_geo(ident.rsplit("/", 1)[-1])
        for entry in self._foundation_entries():
            if entry["modelId"] == bare:
                return {"modelDetails": entry}
        raise _not_found("foundation model", ident)

    def _known_arn(self, arn: str) -> bool:
        stores: list[Mapping[str, Any]] = [
            self._jobs,
            self._models,
            self._import_jobs,
            self._imported,
            self._provisioned,
            self._deployments,
            self._batch,
        ]
        return any(arn in store for store in stores)

    def _op_list_tags_for_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        arn = p["resourceARN"]
        if not self._known_arn(arn):
            raise _not_found("resource", arn)
        return {"tags": [{"key": k, "value": v} for k, v in sorted(self._tags.get(arn, {}).items())]}

    def _op_tag_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        arn = p["resourceARN"]
        if not self._known_arn(arn):
            raise _not_found("resource", arn)
        self._set_tags(arn, p["tags"])
        if len(self._tags[arn]) > 200:
            raise _ApiError("TooManyTagsException", "A resource can have at most 200 tags.")
        return {}

    def _op_untag_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        arn = p["resourceARN"]
        if not self._known_arn(arn):
            raise _not_found("resource", arn)
        for key in p["tagKeys"]:
            self._tags.get(arn, {}).pop(key, None)
        return {}
