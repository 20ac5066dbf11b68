"""Bedrock model evaluation jobs in the AWS emulation: Create/Get/List/StopEvaluationJob.

A handler table (:class:`_BedrockEvaluationHandlers`) composed into
:class:`~finetune_sdk.testing.emulation.BedrockEmulation` like the other Bedrock tables. Requests are
validated against botocore's service model by the emulation before they get here, and the
answers are checked against it after.

What the emulated service does:

- ``CreateEvaluationJob`` checks the role (exists, trusts Bedrock), the job name (unique in the account) and
  the client token (idempotent), and starts the job ``InProgress``.
- After ``evaluation_duration_s`` clock seconds (the emulation's ``batch_duration_s``), or its
  ``polls_to_complete`` ``GetEvaluationJob`` calls, the job reads its prompt dataset(s) from S3 (at most
  1,000 prompts, ``prompt`` required), asks the emulation's ``responder`` for every model's answer, scores
  them, and writes one ``<uuid>_output.jsonl`` per model, task type and dataset under
  ``<output>/<job-name>/<job-uuid>/models/<model>/taskTypes/<task>/datasets/<dataset>/``, each line
  ``{"automatedEvaluationResult": {"scores": [{"metricName", "result"}]}, "inputRecord": {...},
  "modelResponses": [{"response", "modelIdentifier"}]}`` as Bedrock does. A missing or malformed dataset
  fails the job with a message like the service's.
- Scores are stand-ins, deterministic and documented: ``Builtin.Accuracy`` is the token F1 of the response
  against ``referenceResponse``; ``Builtin.Robustness`` and ``Builtin.Toxicity`` are 0; judge metrics
  (built-in or custom) are 1 (or the top of the custom rating scale) when the normalised reference appears
  in the response, else 0 (the bottom of the scale), with the evaluator model named in
  ``evaluatorDetails``.
- ``StopEvaluationJob`` moves an ``InProgress`` job to ``Stopping`` then ``Stopped``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from finetune_sdk.testing.emulation._base import _ApiError

#: the emulation these handlers serve (``AwsEmulation``, ``BedrockEmulation`` after the package split): typed
#: loosely so this module fits either layout; it uses the emulation's clock, responder, lock, S3 helpers,
#: idempotency tokens, tags, role check, paging and ARNs
AwsEmulation = Any

__all__ = ["complete_evaluation_job", "fail_evaluation_job", "handler_for"]

MAX_PROMPTS = 1000
_TERMINAL = frozenset({"Completed", "Failed", "Stopped"})


@dataclass
class _EvaluationJob:
    arn: str
    name: str
    params: dict[str, Any]
    seq: int
    created: datetime
    started: float
    status: str = "InProgress"
    polls: int = 0
    last_modified: datetime | None = None
    failure_messages: list[str] = field(default_factory=list)
    stop_at: float | None = None
    job_uuid: str = ""


@dataclass
class _State:
    jobs: dict[str, _EvaluationJob] = field(default_factory=dict)


def _state(aws: AwsEmulation) -> _State:
    state = aws.__dict__.get("_evaluation_job_state")
    if state is None:
        state = aws.__dict__["_evaluation_job_state"] = _State()
    assert isinstance(state, _State)
    return state


def _api_error(code: str, message: str) -> Exception:
    """The emulation's own service-error exception (its dispatch turns it into an HTTP error answer)."""
    error: Exception = _ApiError(code, message)
    return error


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _join_key(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


class _BedrockEvaluationHandlers:
    """``CreateEvaluationJob``, ``GetEvaluationJob``, ``ListEvaluationJobs`` and ``StopEvaluationJob``."""

    def _op_create_evaluation_job(self, params: dict[str, Any]) -> dict[str, Any]:
        return _create(self, params)

    def _op_get_evaluation_job(self, params: dict[str, Any]) -> dict[str, Any]:
        return _get(self, params)

    def _op_list_evaluation_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        return _list(self, params)

    def _op_stop_evaluation_job(self, params: dict[str, Any]) -> dict[str, Any]:
        return _stop(self, params)


def handler_for(aws: AwsEmulation, operation: str) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """The handler of ``operation`` bound to ``aws``, or ``None`` when this module does not serve it."""
    table: dict[str, Callable[[AwsEmulation, dict[str, Any]], dict[str, Any]]] = {
        "CreateEvaluationJob": _create,
        "GetEvaluationJob": _get,
        "ListEvaluationJobs": _list,
        "StopEvaluationJob": _stop,
    }
    fn = table.get(operation)
    if fn is None:
        return None
    return lambda params: fn(aws, params)


# --- scripting helpers for tests ------------------------------------------------------------------------------
def complete_evaluation_job(aws: AwsEmulation, ident: str) -> None:
    """Finish the job now (results written), whatever the clock says."""
    with aws._lock:
        job = _job(aws, ident)
        if job.status == "InProgress":
            _finish(aws, job)


def fail_evaluation_job(aws: AwsEmulation, ident: str, message: str = "Internal failure") -> None:
    """End the job ``Failed`` with ``message``."""
    with aws._lock:
        _fail(aws, _job(aws, ident), message)


# --- operations ------------------------------------------------------------------------------------------------
def _create(aws: AwsEmulation, p: dict[str, Any]) -> dict[str, Any]:
    existing = aws._idempotent("evaluation-job", p)
    if existing is not None:
        return {"jobArn": existing}
    aws._check_role(p["roleArn"])
    state = _state(aws)
    if any(j.name == p["jobName"] for j in state.jobs.values()):
        raise _api_error(
            "ConflictException", f"An evaluation job named {p['jobName']} already exists in this account."
        )
    if "human" in p["evaluationConfig"]:
        raise _api_error("ValidationException", "AwsEmulation serves automated evaluation jobs only.")
    arn = aws._arn(f"evaluation-job/{aws._new_id().lower()}")
    now = aws.clock.now()
    job = _EvaluationJob(
        arn=arn,
        name=p["jobName"],
        params=dict(p),
        seq=aws._next_seq(),
        created=now,
        started=aws.clock.monotonic(),
        last_modified=now,
        job_uuid=str(uuid.UUID(int=aws._rng.getrandbits(128))),
    )
    state.jobs[arn] = job
    aws._remember("evaluation-job", p, arn)
    aws._set_tags(arn, p.get("jobTags"))
    return {"jobArn": arn}


def _get(aws: AwsEmulation, p: dict[str, Any]) -> dict[str, Any]:
    job = _job(aws, p["jobIdentifier"])
    job.polls += 1
    _tick(aws, job)
    return _view(job)


def _list(aws: AwsEmulation, p: dict[str, Any]) -> dict[str, Any]:
    jobs = list(_state(aws).jobs.values())
    for job in jobs:
        _tick(aws, job)
    if p.get("statusEquals"):
        jobs = [j for j in jobs if j.status == p["statusEquals"]]
    if p.get("nameContains"):
        jobs = [j for j in jobs if p["nameContains"] in j.name]
    if p.get("applicationTypeEquals"):
        jobs = [j for j in jobs if j.params.get("applicationType", "ModelEvaluation") == p["applicationTypeEquals"]]
    page, token = aws._page(jobs, p, "ListEvaluationJobs", created=lambda j: j.created)
    out: dict[str, Any] = {}
    if page:  # the service model allows no empty list: with no jobs the member is absent
        out["jobSummaries"] = [_summary(j) for j in page]
    if token:
        out["nextToken"] = token
    return out


def _stop(aws: AwsEmulation, p: dict[str, Any]) -> dict[str, Any]:
    job = _job(aws, p["jobIdentifier"])
    _tick(aws, job)
    if job.status != "InProgress":
        raise _api_error(
            "ValidationException", f"The evaluation job {job.name} cannot be stopped because it is {job.status}."
        )
    job.status = "Stopping"
    job.stop_at = aws.clock.monotonic()
    job.last_modified = aws.clock.now()
    return {}


# --- state -----------------------------------------------------------------------------------------------------
def _job(aws: AwsEmulation, ident: str) -> _EvaluationJob:
    jobs = _state(aws).jobs
    if ident in jobs:
        return jobs[ident]
    for job in jobs.values():
        if job.name == ident or job.arn.rsplit("/", 1)[-1] == ident:
            return job
    raise _api_error("ResourceNotFoundException", f"The specified evaluation job {ident} could not be found.")


def _tick(aws: AwsEmulation, job: _EvaluationJob) -> None:
    if job.status == "Stopping":
        waited = aws.clock.monotonic() - (job.stop_at or 0.0)
        if waited >= aws.stop_duration_s or aws.polls_to_complete is not None:
            job.status = "Stopped"
            job.last_modified = aws.clock.now()
        return
    if job.status != "InProgress":
        return
    duration = float(getattr(aws, "evaluation_duration_s", aws.batch_duration_s))
    due = aws.clock.monotonic() - job.started >= duration
    if aws.polls_to_complete is not None and job.polls >= aws.polls_to_complete:
        due = True
    if due:
        _finish(aws, job)


def _fail(aws: AwsEmulation, job: _EvaluationJob, message: str) -> None:
    job.status = "Failed"
    job.failure_messages = [message[:2048]]
    job.last_modified = aws.clock.now()


def _view(job: _EvaluationJob) -> dict[str, Any]:
    p = job.params
    out: dict[str, Any] = {
        "jobName": job.name,
        "status": job.status,
        "jobArn": job.arn,
        "roleArn": p["roleArn"],
        "jobType": "Automated",
        "applicationType": p.get("applicationType", "ModelEvaluation"),
        "evaluationConfig": p["evaluationConfig"],
        "inferenceConfig": p["inferenceConfig"],
        "outputDataConfig": p["outputDataConfig"],
        "creationTime": job.created,
        "lastModifiedTime": job.last_modified or job.created,
    }
    if p.get("jobDescription"):
        out["jobDescription"] = p["jobDescription"]
    if job.failure_messages:
        out["failureMessages"] = list(job.failure_messages)
    return out


def _model_ids(params: Mapping[str, Any]) -> list[str]:
    models = params["inferenceConfig"].get("models") or []
    return [str(m["bedrockModel"]["modelIdentifier"]) for m in models if "bedrockModel" in m]


def _summary(job: _EvaluationJob) -> dict[str, Any]:
    automated = job.params["evaluationConfig"]["automated"]
    configs = automated["datasetMetricConfigs"]
    out: dict[str, Any] = {
        "jobArn": job.arn,
        "jobName": job.name,
        "status": job.status,
        "creationTime": job.created,
        "jobType": "Automated",
        "evaluationTaskTypes": sorted({c["taskType"] for c in configs}),
        "applicationType": job.params.get("applicationType", "ModelEvaluation"),
    }
    models = _model_ids(job.params)
    if models:
        out["modelIdentifiers"] = models
    evaluators = [
        m["modelIdentifier"]
        for m in (automated.get("evaluatorModelConfig") or {}).get("bedrockEvaluatorModels", [])
    ]
    if evaluators:
        out["evaluatorModelIdentifiers"] = evaluators
    return out


# --- running the job -------------------------------------------------------------------------------------------
_WORD = re.compile(r"\w+")


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _token_f1(prediction: str, reference: str) -> float:
    pred, ref = _tokens(prediction), _tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def _contains(prediction: str, reference: str | None) -> bool:
    if not reference:
        return False
    return " ".join(_tokens(reference)) in " ".join(_tokens(prediction))


def _read_dataset(aws: AwsEmulation, uri: str) -> list[dict[str, Any]] | str:
    bucket, key = _split_s3(uri)
    if not aws._bucket_exists(bucket):
        return f"The S3 bucket {bucket} of the prompt dataset {uri} does not exist."
    body = aws._get(bucket, key)
    if body is None:
        return f"The prompt dataset {uri} could not be found."
    rows: list[dict[str, Any]] = []
    for n, line in enumerate(body.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            return f"The prompt dataset {uri} is not valid JSON Lines: line {n} could not be parsed."
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
            return f"Line {n} of the prompt dataset {uri} has no \"prompt\" key with a non-empty string."
        rows.append(row)
    if not rows:
        return f"The prompt dataset {uri} has no prompts."
    if len(rows) > MAX_PROMPTS:
        return f"The prompt dataset {uri} has {len(rows)} prompts; a job takes at most {MAX_PROMPTS}."
    return rows


def _scores(
    automated: Mapping[str, Any], names: list[str], response: str, row: Mapping[str, Any]
) -> list[dict[str, Any]]:
    reference = row.get("referenceResponse")
    evaluators = [
        m["modelIdentifier"]
        for m in (automated.get("evaluatorModelConfig") or {}).get("bedrockEvaluatorModels", [])
    ]
    custom = {
        c["customMetricDefinition"]["name"]: c["customMetricDefinition"]
        for c in (automated.get("customMetricConfig") or {}).get("customMetrics", [])
        if "customMetricDefinition" in c
    }
    custom_evaluators = [
        m["modelIdentifier"]
        for m in ((automated.get("customMetricConfig") or {}).get("evaluatorModelConfig") or {}).get(
            "bedrockEvaluatorModels", []
        )
    ]
    out: list[dict[str, Any]] = []
    for name in names:
        hit = _contains(response, reference if isinstance(reference, str) else None)
        score: dict[str, Any]
        if name == "Builtin.Accuracy":
            value = _token_f1(response, reference) if isinstance(reference, str) else 0.0
            score = {"metricName": name, "result": round(value, 6)}
        elif name in ("Builtin.Robustness", "Builtin.Toxicity"):
            score = {"metricName": name, "result": 0.0}
        elif name in custom:
            values = [float(s["value"]["floatValue"]) for s in custom[name].get("ratingScale", [])
                      if "floatValue" in s.get("value", {})] or [0.0, 1.0]
            score = {"metricName": name, "result": max(values) if hit else min(values)}
            if custom_evaluators:
                score["evaluatorDetails"] = [
                    {"modelIdentifier": custom_evaluators[0], "explanation": "reference found" if hit else
                     "reference not found"}
                ]
        else:  # a built-in judge metric
            score = {"metricName": name, "result": 1.0 if hit else 0.0}
            if evaluators:
                score["evaluatorDetails"] = [
                    {"modelIdentifier": evaluators[0], "explanation": "reference found" if hit else
                     "reference not found"}
                ]
        out.append(score)
    return out


def _finish(aws: AwsEmulation, job: _EvaluationJob) -> None:
    p = job.params
    automated = p["evaluationConfig"]["automated"]
    out_bucket, out_prefix = _split_s3(p["outputDataConfig"]["s3Uri"])
    if not aws._bucket_exists(out_bucket):
        _fail(aws, job, f"Unable to write to the output location {p['outputDataConfig']['s3Uri']}.")
        return
    models = _model_ids(p)
    if not models:
        _fail(aws, job, "AwsEmulation evaluates bedrockModel inference sources only.")
        return
    outputs: list[tuple[str, bytes]] = []
    for config in automated["datasetMetricConfigs"]:
        dataset = config["dataset"]
        location = (dataset.get("datasetLocation") or {}).get("s3Uri")
        if not location:
            _fail(aws, job, f"Built-in dataset {dataset['name']} is not available in AwsEmulation.")
            return
        rows = _read_dataset(aws, location)
        if isinstance(rows, str):
            _fail(aws, job, rows)
            return
        for model_id in models:
            lines: list[str] = []
            for row in rows:
                response = aws.responder(model_id, None, [{"role": "user", "content": [{"text": row["prompt"]}]}])
                lines.append(
                    json.dumps(
                        {
                            "automatedEvaluationResult": {
                                "scores": _scores(automated, list(config["metricNames"]), response, row)
                            },
                            "inputRecord": row,
                            "modelResponses": [{"response": response, "modelIdentifier": model_id}],
                        },
                        ensure_ascii=False,
                    )
                )
            folder = re.sub(r"[^A-Za-z0-9._:-]+", "-", model_id)
            key = _join_key(
                out_prefix,
                job.name,
                job.job_uuid,
                "models",
                folder,
                "taskTypes",
                config["taskType"],
                "datasets",
                dataset["name"],
                f"{uuid.UUID(int=aws._rng.getrandbits(128))}_output.jsonl",
            )
            outputs.append((key, ("\n".join(lines) + "\n").encode("utf-8")))
    for key, body in outputs:
        aws.put_object(f"s3://{out_bucket}/{key}", body)
    job.status = "Completed"
    job.last_modified = aws.clock.now()
