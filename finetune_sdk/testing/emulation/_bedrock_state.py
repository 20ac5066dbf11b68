"""Bedrock state shared by the handler tables: model resolution and resource state transitions.

Private; composed into :class:`finetune_sdk.testing.emulation.BedrockEmulation`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from finetune_sdk import catalog

if TYPE_CHECKING:
    pass

from finetune_sdk.testing.emulation._base import (
    _DISTILLATION_STAGES,
    _EmulationBase,
    _invalid,
    _not_found,
    _strip_geo,
)
from finetune_sdk.testing.emulation._resources import (
    _BatchJob,
    _CustomizationJob,
    _CustomModel,
    _Deployment,
    _ImportedModel,
    _ImportJob,
    _Provisioned,
    _Resource,
    _Target,
)

__all__: list[str] = []

logger = logging.getLogger(__name__)


class _BedrockState(_EmulationBase):
    """Bedrock model resolution and resource state transitions, used by every Bedrock handler table."""

    if TYPE_CHECKING:  # provided by the handler tables

        def _finish_customization(self, job: _CustomizationJob) -> None: ...

        def _finish_import(self, job: _ImportJob) -> None: ...

        def _finish_batch(self, job: _BatchJob) -> None: ...

    # --- model resolution -----------------------------------------------------------------------------------
    def _catalog_by_id(self, model_id: str) -> catalog.BaseModelInfo | None:
        for info in catalog.all_models():
            if info.id == model_id:
                return info
        return None

    def _catalog_by_runtime(self, model_id: str) -> catalog.BaseModelInfo | None:
        bare = _strip_geo(model_id)
        for info in catalog.all_models():
            if _strip_geo(info.runtime_id) == bare:
                return info
        return None

    def _custom_model(self, ident: str) -> _CustomModel | None:
        found = self._models.get(ident)
        if found is None:
            found = next((m for m in self._models.values() if m.name == ident), None)
        return found

    def _imported_model(self, ident: str) -> _ImportedModel | None:
        found = self._imported.get(ident)
        if found is None:
            found = next((m for m in self._imported.values() if m.name == ident), None)
        return found

    def _runtime_target(self, model_id: str, *, api: str) -> _Target:
        arn_kind = (
            model_id.split(":", 5)[5].split("/", 1)[0]
            if model_id.startswith("arn:") and model_id.count(":") >= 5
            else ""
        )
        if arn_kind == "provisioned-model":
            pt = self._provisioned.get(model_id)
            if pt is None:
                raise _not_found("provisioned model", model_id)
            self._tick(pt)
            if pt.status != "InService":
                raise _invalid(f"The provisioned model {model_id} is not ready (status {pt.status}).")
            return _Target(pt.family, pt.responder_id)
        if arn_kind == "custom-model-deployment":
            deployment = self._deployments.get(model_id)
            if deployment is None or deployment.model is None:
                raise _not_found("custom model deployment", model_id)
            self._tick(deployment)
            if deployment.status != "Active":
                raise _invalid(
                    f"The custom model deployment {model_id} is not ready (status {deployment.status})."
                )
            return _Target(self._family(deployment.model.info), deployment.model.arn)
        if arn_kind == "custom-model":
            if model_id not in self._models:
                raise _invalid("The provided model identifier is invalid.")
            raise _invalid("The provided model doesn't support on-demand throughput.")
        if arn_kind == "imported-model":
            imported = self._imported.get(model_id)
            if imported is None:
                raise _not_found("imported model", model_id)
            if api == "Converse" and not imported.instruct:
                raise _invalid(
                    f"The model {model_id} does not support the Converse API; its tokenizer has no "
                    "chat template. Use InvokeModel."
                )
            return _Target("bedrock_completion", imported.arn, imported.instruct)
        bare = model_id
        if arn_kind in ("foundation-model", "inference-profile"):
            bare = model_id.split("/", 1)[1]
        elif arn_kind:
            raise _invalid("The provided model identifier is invalid.")
        if bare in self.extra_foundation_models:
            return _Target(self.extra_foundation_models[bare], model_id)
        info = self._catalog_by_runtime(bare)
        if info is not None:
            return _Target(info.invoke_body, model_id)
        if self._catalog_by_id(bare) is not None:
            raise _invalid("The provided model doesn't support on-demand throughput.")
        raise _invalid("The provided model identifier is invalid.")

    @staticmethod
    def _family(info: catalog.BaseModelInfo | None) -> str:
        return info.invoke_body if info is not None else "nova_messages"

    # --- state transitions ----------------------------------------------------------------------------------
    def _tick(self, resource: _Resource, *, poll: bool = False) -> None:
        if poll:
            resource.polls += 1
            if resource.stop_at is not None:
                resource.stop_polls += 1
        now = self.clock.now()
        if resource.status == "Stopping":
            waited = self.clock.monotonic() - (resource.stop_at or 0.0)
            if waited >= self.stop_duration_s or (
                self.polls_to_complete is not None and resource.stop_polls >= 1
            ):
                resource.status = "Stopped"
                resource.end_time = resource.last_modified = now
                if isinstance(resource, _CustomizationJob):
                    self._set_stages(resource, terminal="Stopped")
            return
        if isinstance(resource, _CustomizationJob):
            if resource.status == "InProgress":
                if self._due(resource, self.job_duration_s):
                    self._finish(resource)
                else:
                    self._set_stages(resource)
        elif isinstance(resource, _ImportJob):
            if resource.status == "InProgress" and self._due(resource, self.import_duration_s):
                self._finish(resource)
        elif isinstance(resource, _BatchJob):
            if resource.status == "Submitted" and (
                resource.polls >= 1 or self.clock.monotonic() > resource.started
            ):
                resource.status = "InProgress"
                resource.last_modified = now
            if resource.status == "InProgress" and self._due(resource, self.batch_duration_s):
                self._finish(resource)
        elif isinstance(resource, _Provisioned):
            if resource.status == "Creating" and self._due(resource, self.deployment_duration_s):
                resource.status = "InService"
                resource.last_modified = now
        elif (
            isinstance(resource, _Deployment)
            and resource.status == "Creating"
            and self._due(resource, self.deployment_duration_s)
        ):
            resource.status = "Active"
            resource.last_modified = now

    def _fail(self, resource: _Resource, message: str) -> None:
        resource.status = "Failed"
        resource.failure_message = message
        resource.end_time = resource.last_modified = self.clock.now()
        if isinstance(resource, _CustomizationJob):
            self._set_stages(resource, terminal="Failed")
        if isinstance(resource, _BatchJob):
            resource.message = message

    def _finish(self, resource: _Resource) -> None:
        if isinstance(resource, _CustomizationJob):
            self._finish_customization(resource)
        elif isinstance(resource, _ImportJob):
            self._finish_import(resource)
        elif isinstance(resource, _BatchJob):
            self._finish_batch(resource)

    def _set_stages(self, job: _CustomizationJob, *, terminal: str | None = None) -> None:
        if job.customization_type != "DISTILLATION":
            return
        now = self.clock.now()
        if terminal == "Completed":
            current = len(_DISTILLATION_STAGES)
        else:
            fraction = self._fraction(job, self.job_duration_s)
            current = min(int(fraction * len(_DISTILLATION_STAGES)), len(_DISTILLATION_STAGES) - 1)
        for i, stage in enumerate(_DISTILLATION_STAGES):
            if i < current:
                status = "Completed"
            elif i == current:
                status = terminal or "InProgress"
            else:
                status = "NotStarted"
            previous = job.stages.get(stage)
            if previous is None or previous[0] != status:
                job.stages[stage] = (status, now)
