"""Bedrock handler table, jobs: customisation jobs, custom models and Custom Model Import.

Private; composed into :class:`finetune_sdk.testing.emulation.BedrockEmulation`.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from finetune_sdk import catalog

if TYPE_CHECKING:
    pass

from finetune_sdk.testing.emulation._base import (
    _IMPORT_ARCHITECTURES,
    _conflict,
    _csv,
    _filter_matches,
    _invalid,
    _join_key,
    _not_found,
    _record_problem,
    _record_text,
    _split_s3,
    _strip_geo,
)
from finetune_sdk.testing.emulation._bedrock_rft import RFT_MODELS, RftMixin
from finetune_sdk.testing.emulation._bedrock_state import _BedrockState
from finetune_sdk.testing.emulation._resources import (
    _CustomizationJob,
    _CustomModel,
    _ImportedModel,
    _ImportJob,
)

__all__: list[str] = []

logger = logging.getLogger(__name__)


class _BedrockJobHandlers(RftMixin, _BedrockState):
    """Bedrock handler table, jobs: customisation jobs, custom models and Custom Model Import."""

    # --- customization jobs ---------------------------------------------------------------------------------
    def _op_create_model_customization_job(self, p: dict[str, Any]) -> dict[str, Any]:
        existing = self._idempotent("customization", p)
        if existing is not None:
            return {"jobArn": existing}
        if any(j.name == p["jobName"] for j in self._jobs.values()):
            raise _conflict(f"A model customization job with the name {p['jobName']} already exists.")
        if self._custom_model(p["customModelName"]) is not None or any(
            j.params["customModelName"] == p["customModelName"] and j.status in ("InProgress", "Stopping")
            for j in self._jobs.values()
        ):
            raise _conflict(
                f"A custom model with the name {p['customModelName']} already exists or is being created."
            )
        ctype = p.get("customizationType") or "FINE_TUNING"
        fm_id, base_arn, info = self._customization_base(p["baseModelIdentifier"], ctype)
        self._check_customization(p, ctype, info)
        self._check_role(p["roleArn"])
        rid = self._new_id()
        arn = self._arn(f"model-customization-job/{fm_id}/{rid}")
        now = self.clock.now()
        job = _CustomizationJob(
            arn=arn,
            rid=rid,
            seq=self._next_seq(),
            created=now,
            started=self.clock.monotonic(),
            status="InProgress",
            token=p.get("clientRequestToken"),
            last_modified=now,
            name=p["jobName"],
            params=dict(p),
            customization_type=ctype,
            fm_id=fm_id,
            base_arn=base_arn,
            info=info,
            scripted_failure=self._fail_next.pop(0) if self._fail_next else None,
        )
        self._set_stages(job)
        self._jobs[arn] = job
        self._remember("customization", p, arn)
        self._set_tags(arn, p.get("jobTags"))
        return {"jobArn": arn}

    def _customization_base(
        self, identifier: str, ctype: str
    ) -> tuple[str, str, catalog.BaseModelInfo | None]:
        parent = self._custom_model(identifier)
        if parent is not None:
            return parent.fm_id, parent.arn, parent.info
        bare = (
            identifier.split("/", 1)[1] if identifier.startswith("arn:") and "/" in identifier else identifier
        )
        if identifier.startswith("arn:") and ":foundation-model/" not in identifier:
            raise _not_found("custom model", identifier)
        if ctype == "REINFORCEMENT_FINE_TUNING" and bare in RFT_MODELS:  # issue 17: not in the catalog yet
            return bare, self._fm_arn(bare), None
        info = self._catalog_by_id(bare)
        if info is None:
            raise _invalid(
                f"The provided model identifier is invalid: {identifier} is not a model that can be "
                "customized (use a customization id such as amazon.nova-micro-v1:0:128k)."
            )
        if self.check_regions and self.region not in info.regions:
            raise _invalid(
                f"The model {info.id} cannot be customized in {self.region}; it is offered in "
                f"{', '.join(info.regions)}."
            )
        return info.id, self._fm_arn(info.id), info

    def _check_customization(
        self, p: Mapping[str, Any], ctype: str, info: catalog.BaseModelInfo | None
    ) -> None:
        rft_problem = self.rft_request_problem(p, ctype)  # issue 17
        if rft_problem:
            raise _invalid(rft_problem)
        if (
            info is not None
            and ctype in ("FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION")
            and ctype not in info.customizations
        ):
            raise _invalid(f"The model {info.id} does not support customization type {ctype}.")
        if info is not None and ctype not in ("FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"):
            raise _invalid(f"The model {info.id} does not support customization type {ctype}.")
        data = p["trainingDataConfig"]
        config = p.get("customizationConfig") or {}
        if "s3Uri" not in data and "invocationLogsConfig" not in data:
            raise _invalid("trainingDataConfig needs s3Uri or invocationLogsConfig.")
        if ctype == "DISTILLATION":
            teacher_config = (config.get("distillationConfig") or {}).get("teacherModelConfig")
            if teacher_config is None:
                raise _invalid("A DISTILLATION job needs customizationConfig.distillationConfig.")
            teacher = _strip_geo(str(teacher_config["teacherModelIdentifier"]).rsplit("/", 1)[-1])
            allowed = {_strip_geo(t) for t in info.distillation_teachers} if info is not None else set()
            if allowed and teacher not in allowed:
                raise _invalid(
                    f"The teacher model {teacher_config['teacherModelIdentifier']} is not supported for "
                    f"the student model {info.id if info else ''}; supported teachers: "
                    f"{', '.join(sorted(allowed))}."
                )
        else:
            if "distillationConfig" in config:
                raise _invalid(f"distillationConfig is only valid for DISTILLATION jobs, not {ctype}.")
            if "invocationLogsConfig" in data:
                raise _invalid("invocationLogsConfig training data is only valid for DISTILLATION jobs.")
        if info is not None and ctype in ("FINE_TUNING", "CONTINUED_PRE_TRAINING"):
            schema = {h.name: h for h in info.hyperparameters}
            for name, text in (p.get("hyperParameters") or {}).items():
                spec = schema.get(name)
                if spec is None:
                    raise _invalid(
                        f"The hyperparameter {name} is not supported for {info.id}. Supported: "
                        f"{', '.join(schema)}."
                    )
                try:
                    value = float(text) if spec.type in ("int", "float") else None
                except ValueError as exc:
                    raise _invalid(f"The hyperparameter {name} must be a number, got {text!r}.") from exc
                if spec.type == "int" and value is not None and not value.is_integer():
                    raise _invalid(f"The hyperparameter {name} must be an integer, got {text!r}.")
                if value is not None and (
                    (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max)
                ):
                    raise _invalid(
                        f"The hyperparameter {name} must be between {spec.min} and {spec.max}, got {text}."
                    )

    def _customization_job(self, ident: str) -> _CustomizationJob:
        job = self._jobs.get(ident) or next((j for j in self._jobs.values() if j.name == ident), None)
        if job is None:
            raise _not_found("model customization job", ident)
        return job

    def _job_view(self, job: _CustomizationJob, *, summary: bool) -> dict[str, Any]:
        p = job.params
        stages = {
            stage: {"status": status, "creationTime": job.created, "lastModifiedTime": when}
            for stage, (status, when) in job.stages.items()
        } or None
        common: dict[str, Any] = {
            "jobArn": job.arn,
            "jobName": job.name,
            "status": job.status,
            "statusDetails": stages,
            "creationTime": job.created,
            "lastModifiedTime": job.last_modified,
            "endTime": job.end_time,
            "customizationType": job.customization_type,
        }
        if summary:
            common.update(
                {
                    "baseModelArn": job.base_arn,
                    "customModelArn": job.model_arn,
                    "customModelName": p["customModelName"],
                }
            )
            return common
        validators = (p.get("validationDataConfig") or {}).get("validators", [])
        common.update(
            {
                "outputModelName": p["customModelName"],
                "outputModelArn": job.model_arn,
                "clientRequestToken": p.get("clientRequestToken"),
                "roleArn": p["roleArn"],
                "failureMessage": job.failure_message,
                "baseModelArn": self._fm_arn(job.fm_id),
                "hyperParameters": p.get("hyperParameters"),
                "trainingDataConfig": p["trainingDataConfig"],
                "validationDataConfig": p.get("validationDataConfig") or {"validators": []},
                "outputDataConfig": p["outputDataConfig"],
                "trainingMetrics": {"trainingLoss": job.training_loss}
                if job.training_loss is not None
                else None,
                "validationMetrics": [{"validationLoss": v} for v in job.validation_losses]
                if job.validation_losses and len(validators)
                else None,
                "vpcConfig": p.get("vpcConfig"),
                "customizationConfig": p.get("customizationConfig"),
            }
        )
        return common

    def _op_get_model_customization_job(self, p: dict[str, Any]) -> dict[str, Any]:
        job = self._customization_job(p["jobIdentifier"])
        self._tick(job, poll=True)
        return self._job_view(job, summary=False)

    def _op_stop_model_customization_job(self, p: dict[str, Any]) -> dict[str, Any]:
        job = self._customization_job(p["jobIdentifier"])
        self._tick(job)
        if job.status != "InProgress":
            raise _conflict(f"The job {job.name} cannot be stopped because it is {job.status}.")
        job.status = "Stopping"
        job.stop_at = self.clock.monotonic()
        job.last_modified = self.clock.now()
        self._set_stages(job, terminal="Stopping")
        return {}

    def _op_list_model_customization_jobs(self, p: dict[str, Any]) -> dict[str, Any]:
        for job in self._jobs.values():
            self._tick(job)
        items = list(self._jobs.values())
        if p.get("statusEquals"):
            items = [j for j in items if j.status == p["statusEquals"]]
        if p.get("nameContains"):
            items = [j for j in items if p["nameContains"] in j.name]
        page, token = self._page(items, p, "ListModelCustomizationJobs", created=lambda j: j.created)
        return {
            "modelCustomizationJobSummaries": [self._job_view(j, summary=True) for j in page],
            "nextToken": token,
        }

    def _finish_customization(self, job: _CustomizationJob) -> None:
        if job.scripted_failure is not None:
            self._fail(job, job.scripted_failure)
            return
        records = 0
        if job.customization_type == "REINFORCEMENT_FINE_TUNING":  # issue 17: run the grader on rollouts
            problem, records = self._finish_rft(job)
            if problem:
                self._fail(job, problem)
                return
        elif self.check_data:
            problem, records = self._check_job_data(job)
            if problem:
                self._fail(job, problem)
                return
        self._write_metrics(job, records)
        self._create_custom_model(job)
        now = self.clock.now()
        job.status = "Completed"
        job.end_time = job.last_modified = now
        self._set_stages(job, terminal="Completed")

    def _finish_rft(self, job: _CustomizationJob) -> tuple[str | None, int]:
        p = job.params
        bucket, keys = self._data_keys(p["trainingDataConfig"]["s3Uri"])
        if not keys:
            return f"Unable to access the train data at {p['trainingDataConfig']['s3Uri']}.", 0
        problem, lines = self.rft_check_lines(b"\n".join(self._get(bucket, k) or b"" for k in keys))
        if problem:
            return problem, 0
        arn = p["customizationConfig"]["rftConfig"]["graderConfig"]["lambdaGrader"]["lambdaArn"]
        problem, rows = self.rft_rewards(arn, lines)
        if problem:
            return problem, 0
        out_bucket, out_key = _split_s3(p["outputDataConfig"]["s3Uri"])
        base = _join_key(out_key, f"model-customization-job-{job.rid}")
        self.s3.put_object(
            Bucket=out_bucket, Key=f"{base}/training_artifacts/reward_metrics.csv", Body=self.rft_metrics_csv(rows)
        )
        return None, len(lines)

    def _expected_format(self, job: _CustomizationJob) -> str:
        if job.customization_type == "CONTINUED_PRE_TRAINING":
            return "text"
        if job.customization_type == "DISTILLATION":
            return "bedrock_conversation"
        return job.info.format if job.info is not None else "any"

    def _check_job_data(self, job: _CustomizationJob) -> tuple[str | None, int]:
        p = job.params
        out_bucket, _ = _split_s3(p["outputDataConfig"]["s3Uri"])
        if not self._bucket_exists(out_bucket):
            return (
                f"Unable to write to the output location {p['outputDataConfig']['s3Uri']}: the bucket does "
                "not "
                "exist or the service role cannot write to it."
            ), 0
        data = p["trainingDataConfig"]
        fmt = self._expected_format(job)
        if "invocationLogsConfig" in data and "s3Uri" not in data:
            count = self._count_logs(data["invocationLogsConfig"])
            if count == 0:
                source = data["invocationLogsConfig"]["invocationLogSource"].get("s3Uri")
                return (
                    f"No invocation logs matching the request metadata filters were found under {source}. "
                    "Check that model invocation logging delivers to that location."
                ), 0
            return None, count
        problem, records = self._check_file(data["s3Uri"], fmt, job, "train")
        if problem:
            return problem, 0
        for validator in (p.get("validationDataConfig") or {}).get("validators", []):
            vproblem, _ = self._check_file(validator["s3Uri"], fmt, job, "validation")
            if vproblem:
                return vproblem, 0
        return None, records

    def _check_file(self, uri: str, fmt: str, job: _CustomizationJob, role: str) -> tuple[str | None, int]:
        bucket, keys = self._data_keys(uri)
        if not keys:
            return (
                f"Unable to access the {role} data at {uri}: the object does not exist or the service role "
                "cannot read it."
            ), 0
        limits = job.info.limits if job.info is not None else None
        count = 0
        for key in keys:
            data = self._get(bucket, key) or b""
            for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
                if not line.strip():
                    continue
                count += 1
                try:
                    record = json.loads(line)
                except ValueError:
                    return f"Input data at {key} line {number} is not valid JSON.", 0
                problem = _record_problem(record, fmt)
                if problem:
                    return f"Input data at {key} must follow {problem} format (line {number}).", 0
                if (
                    limits is not None
                    and limits.max_tokens_per_record
                    and fmt != "any"
                    and job.customization_type != "DISTILLATION"
                ):
                    tokens = math.ceil(len(_record_text(record)) / limits.chars_per_token)
                    if tokens > limits.max_tokens_per_record:
                        return (
                            f"Maximum input token count {tokens} exceeds limit of "
                            f"{limits.max_tokens_per_record} for {role} data"
                        ), 0
        if (
            role == "train"
            and limits is not None
            and job.customization_type in ("FINE_TUNING", "CONTINUED_PRE_TRAINING")
            and limits.min_train_records
            and count < limits.min_train_records
        ):
            return (
                f"The training data has {count} records; "
                f"{job.info.id if job.info else 'this model'} needs at "
                f"least {limits.min_train_records}."
            ), 0
        return None, count

    def _count_logs(self, config: Mapping[str, Any]) -> int:
        uri = config["invocationLogSource"].get("s3Uri")
        if not uri:
            return 0
        bucket, prefix = _split_s3(uri)
        filters = config.get("requestMetadataFilters")
        count = 0
        for key in self._keys(bucket, prefix):
            raw = self._get(bucket, key) or b""
            if key.endswith(".gz"):
                try:
                    raw = gzip.decompress(raw)
                except OSError:
                    continue
            for line in raw.decode("utf-8", errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(record, dict) or "input" not in record or "output" not in record:
                    continue
                if filters and not _filter_matches(filters, record.get("requestMetadata") or {}):
                    continue
                count += 1
        return count

    def _write_metrics(self, job: _CustomizationJob, records: int) -> None:
        hp = job.params.get("hyperParameters") or {}
        defaults = {h.name: h.default for h in job.info.hyperparameters} if job.info is not None else {}

        def number(name: str, fallback: float) -> float:
            value = hp.get(name, defaults.get(name))
            try:
                return float(value) if value is not None else fallback
            except (TypeError, ValueError):
                return fallback

        epochs = max(int(number("epochCount", 2)), 1)
        batch = max(int(number("batchSize", 8)), 1)
        per_epoch = min(max(math.ceil(max(records, 1) / batch), 1), 50)
        total = min(epochs * per_epoch, 1000)
        train_rows = []
        for step in range(total):
            loss = 0.35 + 2.1 * math.exp(-3.0 * (step + 1) / total)
            train_rows.append((step, step // per_epoch, round(loss, 6), round(math.exp(loss), 6)))
        base = _join_key(
            _split_s3(job.params["outputDataConfig"]["s3Uri"])[1], f"model-customization-job-{job.rid}"
        )
        bucket = _split_s3(job.params["outputDataConfig"]["s3Uri"])[0]
        self.s3.put_object(
            Bucket=bucket,
            Key=f"{base}/training_artifacts/step_wise_training_metrics.csv",
            Body=_csv(("step_number", "epoch_number", "training_loss", "perplexity"), train_rows),
        )
        job.training_loss = train_rows[-1][2]
        validators = (job.params.get("validationDataConfig") or {}).get("validators", [])
        if validators:
            val_rows = []
            for epoch in range(epochs):
                step = min((epoch + 1) * per_epoch, total) - 1
                loss = round(train_rows[step][2] + 0.07, 6)
                val_rows.append((step, epoch, loss, round(math.exp(loss), 6)))
            self.s3.put_object(
                Bucket=bucket,
                Key=f"{base}/validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv",
                Body=_csv(("step_number", "epoch_number", "validation_loss", "perplexity"), val_rows),
            )
            job.validation_losses = [val_rows[-1][2]] * len(validators)

    def _create_custom_model(self, job: _CustomizationJob) -> None:
        arn = self._arn(f"custom-model/{job.fm_id}/{self._new_id()}")
        model = _CustomModel(
            arn=arn,
            seq=self._next_seq(),
            name=job.params["customModelName"],
            job=job,
            fm_id=job.fm_id,
            created=self.clock.now(),
            customization_type=job.customization_type,
            info=job.info,
        )
        self._models[arn] = model
        job.model_arn = arn
        self._set_tags(arn, job.params.get("customModelTags"))

    # --- custom models --------------------------------------------------------------------------------------
    def _model_view(self, model: _CustomModel, *, summary: bool) -> dict[str, Any]:
        view: dict[str, Any] = {
            "modelArn": model.arn,
            "modelName": model.name,
            "creationTime": model.created,
            "baseModelArn": self._fm_arn(model.fm_id),
            "customizationType": model.customization_type,
            "modelStatus": "Active",
        }
        if summary:
            view.update(
                {
                    "baseModelName": model.fm_id.split(":", 1)[0],
                    "ownerAccountId": self.account_id,
                }
            )
            return view
        job = model.job
        if job is not None:
            p = job.params
            view.update(
                {
                    "jobName": job.name,
                    "jobArn": job.arn,
                    "hyperParameters": p.get("hyperParameters"),
                    "trainingDataConfig": p["trainingDataConfig"],
                    "validationDataConfig": p.get("validationDataConfig"),
                    "outputDataConfig": p["outputDataConfig"],
                    "trainingMetrics": {"trainingLoss": job.training_loss}
                    if job.training_loss is not None
                    else None,
                    "validationMetrics": [{"validationLoss": v} for v in job.validation_losses] or None,
                    "customizationConfig": p.get("customizationConfig"),
                }
            )
        return view

    def _op_get_custom_model(self, p: dict[str, Any]) -> dict[str, Any]:
        model = self._custom_model(p["modelIdentifier"])
        if model is None:
            raise _not_found("custom model", p["modelIdentifier"])
        return self._model_view(model, summary=False)

    def _op_list_custom_models(self, p: dict[str, Any]) -> dict[str, Any]:
        for job in self._jobs.values():
            self._tick(job)
        items = list(self._models.values())
        if p.get("nameContains"):
            items = [m for m in items if p["nameContains"] in m.name]
        if p.get("baseModelArnEquals"):
            items = [m for m in items if self._fm_arn(m.fm_id) == p["baseModelArnEquals"]]
        if p.get("foundationModelArnEquals"):
            items = [m for m in items if self._fm_arn(m.fm_id) == p["foundationModelArnEquals"]]
        if p.get("modelStatus") and p["modelStatus"] != "Active":
            items = []
        page, token = self._page(items, p, "ListCustomModels", created=lambda m: m.created)
        return {"modelSummaries": [self._model_view(m, summary=True) for m in page], "nextToken": token}

    def _op_delete_custom_model(self, p: dict[str, Any]) -> dict[str, Any]:
        model = self._custom_model(p["modelIdentifier"])
        if model is None:
            raise _not_found("custom model", p["modelIdentifier"])
        users = [pt.arn for pt in self._provisioned.values() if pt.model_arn == model.arn]
        users += [d.arn for d in self._deployments.values() if d.model is model]
        if users:
            raise _conflict(
                f"The custom model {model.name} is in use by {', '.join(users)}; delete those first."
            )
        del self._models[model.arn]
        return {}

    # --- Custom Model Import --------------------------------------------------------------------------------
    def _op_create_model_import_job(self, p: dict[str, Any]) -> dict[str, Any]:
        existing = self._idempotent("import", p)
        if existing is not None:
            return {"jobArn": existing}
        if any(j.name == p["jobName"] for j in self._import_jobs.values()):
            raise _conflict(f"A model import job with the name {p['jobName']} already exists.")
        if self._imported_model(p["importedModelName"]) is not None:
            raise _conflict(f"An imported model with the name {p['importedModelName']} already exists.")
        self._check_role(p["roleArn"])
        rid = self._new_id()
        arn = self._arn(f"model-import-job/{rid}")
        now = self.clock.now()
        job = _ImportJob(
            arn=arn,
            rid=rid,
            seq=self._next_seq(),
            created=now,
            started=self.clock.monotonic(),
            status="InProgress",
            token=p.get("clientRequestToken"),
            last_modified=now,
            name=p["jobName"],
            params=dict(p),
        )
        self._import_jobs[arn] = job
        self._remember("import", p, arn)
        self._set_tags(arn, p.get("jobTags"))
        return {"jobArn": arn}

    def _import_job(self, ident: str) -> _ImportJob:
        job = self._import_jobs.get(ident) or next(
            (j for j in self._import_jobs.values() if j.name == ident), None
        )
        if job is None:
            raise _not_found("model import job", ident)
        return job

    def _import_view(self, job: _ImportJob, *, summary: bool) -> dict[str, Any]:
        view: dict[str, Any] = {
            "jobArn": job.arn,
            "jobName": job.name,
            "status": job.status,
            "creationTime": job.created,
            "lastModifiedTime": job.last_modified,
            "endTime": job.end_time,
            "importedModelArn": job.model_arn,
            "importedModelName": job.params["importedModelName"],
        }
        if not summary:
            view.update(
                {
                    "roleArn": job.params["roleArn"],
                    "modelDataSource": job.params["modelDataSource"],
                    "failureMessage": job.failure_message,
                    "vpcConfig": job.params.get("vpcConfig"),
                }
            )
        return view

    def _op_get_model_import_job(self, p: dict[str, Any]) -> dict[str, Any]:
        job = self._import_job(p["jobIdentifier"])
        self._tick(job, poll=True)
        return self._import_view(job, summary=False)

    def _op_list_model_import_jobs(self, p: dict[str, Any]) -> dict[str, Any]:
        for job in self._import_jobs.values():
            self._tick(job)
        items = list(self._import_jobs.values())
        if p.get("statusEquals"):
            items = [j for j in items if j.status == p["statusEquals"]]
        if p.get("nameContains"):
            items = [j for j in items if p["nameContains"] in j.name]
        page, token = self._page(items, p, "ListModelImportJobs", created=lambda j: j.created)
        return {
            "modelImportJobSummaries": [self._import_view(j, summary=True) for j in page],
            "nextToken": token,
        }

    def _finish_import(self, job: _ImportJob) -> None:
        uri = job.params["modelDataSource"]["s3DataSource"]["s3Uri"]
        architecture, instruct = "llama", True
        if self.check_data:
            problem, architecture, instruct = self._inspect_model_folder(uri)
            if problem:
                self._fail(job, problem)
                return
        arn = self._arn(f"imported-model/{self._new_id()}")
        now = self.clock.now()
        self._imported[arn] = _ImportedModel(
            arn=arn,
            seq=self._next_seq(),
            name=job.params["importedModelName"],
            job=job,
            created=now,
            architecture=architecture,
            instruct=instruct,
        )
        self._set_tags(arn, job.params.get("importedModelTags"))
        job.model_arn = arn
        job.status = "Completed"
        job.end_time = job.last_modified = now

    def _inspect_model_folder(self, uri: str) -> tuple[str | None, str, bool]:
        bucket, prefix = _split_s3(uri)
        prefix = prefix if prefix.endswith("/") or not prefix else prefix + "/"
        keys = self._keys(bucket, prefix)
        names = {k[len(prefix) :] for k in keys}
        if "config.json" not in names:
            return (
                (
                    f"The model files at {uri} are missing config.json. Upload the Hugging Face model folder "
                    "(config.json, tokenizer files and .safetensors weights)."
                ),
                "",
                False,
            )
        if not any(n.endswith(".safetensors") for n in names):
            return f"No .safetensors weight files were found at {uri}.", "", False
        try:
            config = json.loads(self._get(bucket, prefix + "config.json") or b"")
        except ValueError:
            return f"config.json at {uri} is not valid JSON.", "", False
        architectures = config.get("architectures") or []
        arch = architectures[0] if architectures else ""
        if arch not in _IMPORT_ARCHITECTURES:
            return (
                (
                    f"The model architecture {arch or '(none)'} is not supported. Supported architectures: "
                    f"{', '.join(sorted(_IMPORT_ARCHITECTURES))}."
                ),
                "",
                False,
            )
        if int(config.get("max_position_embeddings") or 0) > 131072:
            return "The model's maximum context length must be below 128K tokens.", "", False
        instruct = False
        if prefix + "tokenizer_config.json" in keys:
            try:
                tokenizer = json.loads(self._get(bucket, prefix + "tokenizer_config.json") or b"{}")
                instruct = bool(tokenizer.get("chat_template"))
            except ValueError:
                instruct = False
        name = _IMPORT_ARCHITECTURES[arch]
        if name == "llama":
            name = "llama3" if int(config.get("vocab_size") or 0) >= 128000 else "llama2"
        return None, name, instruct

    def _imported_view(self, model: _ImportedModel, *, summary: bool) -> dict[str, Any]:
        view: dict[str, Any] = {
            "modelArn": model.arn,
            "modelName": model.name,
            "creationTime": model.created,
            "instructSupported": model.instruct,
            "modelArchitecture": model.architecture,
        }
        if not summary:
            view.update(
                {
                    "jobName": model.job.name,
                    "jobArn": model.job.arn,
                    "modelDataSource": model.job.params["modelDataSource"],
                    "customModelUnits": {
                        "customModelUnitsPerModelCopy": 1,
                        "customModelUnitsVersion": "v1.0",
                    },
                }
            )
        return view

    def _op_get_imported_model(self, p: dict[str, Any]) -> dict[str, Any]:
        model = self._imported_model(p["modelIdentifier"])
        if model is None:
            raise _not_found("imported model", p["modelIdentifier"])
        return self._imported_view(model, summary=False)

    def _op_list_imported_models(self, p: dict[str, Any]) -> dict[str, Any]:
        for job in self._import_jobs.values():
            self._tick(job)
        items = list(self._imported.values())
        if p.get("nameContains"):
            items = [m for m in items if p["nameContains"] in m.name]
        page, token = self._page(items, p, "ListImportedModels", created=lambda m: m.created)
        return {"modelSummaries": [self._imported_view(m, summary=True) for m in page], "nextToken": token}

    def _op_delete_imported_model(self, p: dict[str, Any]) -> dict[str, Any]:
        model = self._imported_model(p["modelIdentifier"])
        if model is None:
            raise _not_found("imported model", p["modelIdentifier"])
        del self._imported[model.arn]
        return {}
