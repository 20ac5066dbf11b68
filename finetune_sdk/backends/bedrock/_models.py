"""Bedrock models and deployments: custom and imported models, Provisioned Throughput, on-demand deployments.

Private; composed into :class:`finetune_sdk.backends.bedrock.BedrockBackend`.
"""

from __future__ import annotations

import heapq
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

from finetune_sdk import catalog
from finetune_sdk.backends.base import (
    CostEstimate,
    DeploymentRecord,
    DeploymentSpec,
    DeploymentStatus,
    ModelRecord,
)
from finetune_sdk.backends.bedrock import requests as rq
from finetune_sdk.backends.bedrock._base import (
    _DEPLOYMENT_STATUS,
    _PT_STATUS,
    _BedrockBase,
    _created,
    _raw,
    _utc,
)
from finetune_sdk.backends.bedrock.checks import (
    base_model_info,
    model_id_from_arn,
)
from finetune_sdk.errors import (
    ConfigurationError,
    ResourceConflictError,
    ResourceNotFoundError,
    ServiceValidationError,
)

__all__: list[str] = []

logger = logging.getLogger(__name__)


class _BedrockModels(_BedrockBase):
    """Bedrock models and deployments: custom and imported models, Provisioned Throughput, on-demand deployments."""

    # --- models -----------------------------------------------------------------------------------------
    def _custom_model_record(self, raw: Mapping[str, Any]) -> ModelRecord:
        return ModelRecord(
            id=str(raw["modelArn"]),
            name=str(raw.get("modelName") or raw["modelArn"].rsplit("/", 1)[-1]),
            backend=self.name,
            kind="custom",
            base_model=raw.get("baseModelArn"),
            status=raw.get("modelStatus"),
            job_id=raw.get("jobArn"),
            uri=(raw.get("outputDataConfig") or {}).get("s3Uri"),
            created_at=_utc(raw.get("creationTime")),
            supports_chat=True,
            needs_deployment=True,  # custom models are invoked through PT or an on-demand deployment
            raw=_raw(raw),
        )

    def _imported_model_record(self, raw: Mapping[str, Any]) -> ModelRecord:
        return ModelRecord(
            id=str(raw["modelArn"]),
            name=str(raw.get("modelName") or raw["modelArn"].rsplit("/", 1)[-1]),
            backend=self.name,
            kind="imported",
            base_model=raw.get("modelArchitecture"),
            status="Active",
            job_id=raw.get("jobArn"),
            uri=((raw.get("modelDataSource") or {}).get("s3DataSource") or {}).get("s3Uri"),
            created_at=_utc(raw.get("creationTime")),
            supports_chat=bool(raw.get("instructSupported", False)),
            needs_deployment=False,
            raw=_raw(raw),
        )

    def foundation_model(self, model_id: str) -> ModelRecord:
        """A record for invoking a base model on demand: catalog ids map to their runtime id (or profile).

        Raises:
            CatalogError: not a Bedrock model id and not in the catalog.
        """
        info = base_model_info(model_id)
        resource, _ = model_id_from_arn(model_id)
        if info is not None:
            invoke_id = model_id if (resource is not None or model_id != info.id) else info.runtime_id
            return ModelRecord(
                id=invoke_id,
                name=info.name,
                backend=self.name,
                kind="foundation",
                base_model=info.id,
                status="Active",
                raw={"catalog": True},
            )
        if resource in ("foundation-model", "inference-profile", "application-inference-profile") or re.match(
            r"^([a-z]{2,7}\.)?[a-z0-9-]+\.[a-z0-9.:-]+$", model_id
        ):
            return ModelRecord(
                id=model_id,
                name=model_id,
                backend=self.name,
                kind="foundation",
                base_model=None,
                status="Active",
                raw={"catalog": False},
            )
        catalog.get(model_id)  # raises CatalogError with close matches
        raise AssertionError("unreachable")  # pragma: no cover

    def _imported(self, model_id: str) -> Mapping[str, Any]:
        cached = self._imported_cache.get(model_id)
        if cached is None:
            cached = self._call("bedrock", "GetImportedModel", {"modelIdentifier": model_id})
            self._imported_cache[model_id] = cached
        return cached

    def describe_model(self, model_id: str) -> ModelRecord:
        """A custom model (ARN or name), an imported model (ARN or name), or a foundation model (catalog id).

        Raises:
            ResourceNotFoundError: no such custom or imported model.
            ConfigurationError: the id is a deployment, not a model.
        """
        resource, _ = model_id_from_arn(model_id)
        if resource == "imported-model":
            raw = self._call("bedrock", "GetImportedModel", {"modelIdentifier": model_id})
            self._imported_cache[model_id] = raw
            return self._imported_model_record(raw)
        if resource == "custom-model":
            return self._custom_model_record(
                self._call("bedrock", "GetCustomModel", {"modelIdentifier": model_id})
            )
        if resource in ("foundation-model", "inference-profile", "application-inference-profile"):
            return self.foundation_model(model_id)
        if resource is not None:
            raise ConfigurationError(
                f"{model_id} is a {resource}, not a model; use Deployment.get({model_id!r}, "
                f"backend='bedrock')"
                if resource in ("provisioned-model", "custom-model-deployment")
                else f"{model_id} is a {resource}, not a model"
            )
        if base_model_info(model_id) is not None:
            return self.foundation_model(model_id)
        try:
            return self._custom_model_record(
                self._call("bedrock", "GetCustomModel", {"modelIdentifier": model_id})
            )
        except ResourceNotFoundError as first:
            try:
                raw = self._call("bedrock", "GetImportedModel", {"modelIdentifier": model_id})
            except (ResourceNotFoundError, ServiceValidationError):
                raise first from None
            return self._imported_model_record(raw)

    def list_models(self) -> Iterator[ModelRecord]:
        """Custom and imported models in this account and Region, newest first, fetched lazily."""
        params = {"sortBy": "CreationTime", "sortOrder": "Descending"}
        custom = (
            self._custom_model_record(s)
            for s in self._paginate("bedrock", "ListCustomModels", "modelSummaries", params)
        )
        imported = (
            self._imported_model_record(s)
            for s in self._paginate("bedrock", "ListImportedModels", "modelSummaries", params)
        )
        yield from heapq.merge(custom, imported, key=_created, reverse=True)

    def delete_model(self, model_id: str) -> None:
        """Delete a custom or imported model.

        Raises:
            ResourceNotFoundError: no such model.
            ResourceConflictError: the model is in use (a deployment or provisioned throughput serves it).
            ConfigurationError: a foundation model or a deployment id.
        """
        resource, _ = model_id_from_arn(model_id)
        if resource == "imported-model":
            self._call("bedrock", "DeleteImportedModel", {"modelIdentifier": model_id})
            self._imported_cache.pop(model_id, None)
            return
        if resource == "custom-model":
            self._call("bedrock", "DeleteCustomModel", {"modelIdentifier": model_id})
            return
        if resource is not None or base_model_info(model_id) is not None:
            raise ConfigurationError(
                f"{model_id} is not a custom or imported model; there is nothing to delete"
            )
        try:
            self._call("bedrock", "DeleteCustomModel", {"modelIdentifier": model_id})
        except ResourceNotFoundError as first:
            try:
                self._call("bedrock", "DeleteImportedModel", {"modelIdentifier": model_id})
            except (ResourceNotFoundError, ServiceValidationError):
                raise first from None

    # --- deployments ------------------------------------------------------------------------------------
    def _model_arn(self, model_id: str) -> tuple[str, str | None]:
        """``(custom model ARN, base model id)`` of a custom model given by ARN or name."""
        resource, part = model_id_from_arn(model_id)
        if resource == "custom-model":
            return model_id, part
        raw = self._call("bedrock", "GetCustomModel", {"modelIdentifier": model_id})
        base_arn = raw.get("baseModelArn")
        base = model_id_from_arn(str(base_arn))[1] if base_arn else None
        return str(raw["modelArn"]), base

    def estimate_deployment_cost(self, spec: DeploymentSpec, *, hours: float = 1.0) -> CostEstimate | None:
        """Provisioned Throughput: model units × the catalog's no-commitment hourly price × hours.

        On-demand deployments have no hourly charge (billed per token): the estimate is 0 with the token
        prices
        as assumptions. ``None`` when the catalog has no price for the base model.
        """
        resource, _ = model_id_from_arn(spec.model_id)
        info = base_model_info(spec.model_id)
        if info is None and resource is None:
            try:
                info = base_model_info(self._model_arn(spec.model_id)[0])
            except (ResourceNotFoundError, ServiceValidationError, ConfigurationError):
                info = None
        if info is None:
            return None
        prices = info.prices
        if spec.kind == "on_demand":
            return CostEstimate(
                total=0.0,
                breakdown={"hourly charge": 0.0},
                currency=prices.currency,
                price_date=prices.date,
                assumptions=(
                    "on-demand custom model deployments have no hourly charge",
                    f"tokens are billed at ${prices.input_per_1k_tokens} (input) / "
                    f"${prices.output_per_1k_tokens} "
                    f"(output) per 1K for {info.id} ({prices.source})",
                ),
            )
        if prices.provisioned_per_hour_no_commit is None:
            return None
        total = spec.model_units * prices.provisioned_per_hour_no_commit * hours
        assumptions = [
            f"{spec.model_units} model unit(s) × ${prices.provisioned_per_hour_no_commit}/hour (no "
            f"commitment) × "
            f"{hours:g} hour(s), list price for {info.id} as of {prices.date}",
            "billed per hour from creation until the deployment is deleted",
        ]
        if spec.commitment:
            assumptions.append(
                f"a {spec.commitment} commitment is cheaper per hour but billed for the whole term; "
                "its price is not in the catalog (no-commitment price shown)"
            )
        return CostEstimate(
            total=round(total, 4),
            breakdown={"provisioned throughput": round(total, 4)},
            currency=prices.currency,
            price_date=prices.date,
            assumptions=tuple(assumptions),
        )

    def _same_model(self, served_arn: str, model_id: str, model_arn: str | None) -> bool:
        """Whether a deployment's model ARN is the model a spec names (ARN, model id or custom-model name)."""
        if not served_arn:
            return False
        if served_arn in (model_id, model_arn) or served_arn.endswith("/" + model_id):
            return True
        if model_id.startswith("arn:") or base_model_info(model_id) is not None:
            return False
        try:  # a custom model given by name
            return self._model_arn(model_id)[0] == served_arn
        except (ResourceNotFoundError, ServiceValidationError):
            return False

    def _hourly(self, spec: DeploymentSpec) -> float | None:
        estimate = self.estimate_deployment_cost(spec, hours=1.0)
        return estimate.total if estimate is not None else None

    def create_deployment(self, spec: DeploymentSpec) -> DeploymentRecord:
        """Create Provisioned Throughput (default; no commitment unless asked) or an on-demand deployment.

        Idempotent: the client token is derived from the spec, and a name conflict with a deployment of the
        same model attaches to it.

        Raises:
            ConfigurationError: on-demand deployment for a model whose base does not support it, or a kind
                Bedrock does not have.
            ResourceConflictError: the name is taken by a deployment of another model.
            QuotaExceededError: no model units left (commitments need a quota request).
        """
        if spec.kind not in ("provisioned", "on_demand"):
            raise ConfigurationError(
                f"Bedrock deploys with kind='provisioned' (Provisioned Throughput) or kind='on_demand' "
                f"(custom model "
                f"deployment), not {spec.kind!r}"
            )
        if spec.kind == "on_demand":
            model_arn, base = self._model_arn(spec.model_id)
            info = base_model_info(base) if base else None
            if info is None or not info.on_demand_deployment:
                able = [m.id for m in catalog.all_models() if m.on_demand_deployment]
                raise ConfigurationError(
                    f"on-demand deployment is not available for models customised from "
                    f"{base or spec.model_id}; "
                    f"Bedrock supports it for {', '.join(able) or 'no catalog model'}. "
                    "Use kind='provisioned' (Provisioned Throughput) instead."
                )
            operation, params = (
                "CreateCustomModelDeployment",
                rq.custom_model_deployment_request(spec, model_arn=model_arn),
            )
            arn_key, get_op, get_key = (
                "customModelDeploymentArn",
                "GetCustomModelDeployment",
                "customModelDeploymentIdentifier",
            )
        else:
            operation, params = "CreateProvisionedModelThroughput", rq.provisioned_throughput_request(spec)
            arn_key, get_op, get_key = (
                "provisionedModelArn",
                "GetProvisionedModelThroughput",
                "provisionedModelId",
            )

        def existing() -> DeploymentRecord | None:
            try:
                raw = self._call("bedrock", get_op, {get_key: spec.name})
            except ResourceNotFoundError:
                return None
            record = self._deployment_record(raw, hourly=self._hourly(spec))
            served = {record.model_id, str(raw.get("desiredModelArn") or "")}
            if not any(self._same_model(arn, spec.model_id, params.get("modelArn")) for arn in served):
                raise ResourceConflictError(
                    f"a deployment named {spec.name!r} already exists for another model ({record.model_id}). "
                    "Fix: pass another name=",
                    backend=self.name,
                    code="ConflictException",
                )
            return record

        found: list[DeploymentRecord] = []

        def recover() -> dict[str, Any] | None:
            record = existing()
            if record is None:
                return None
            found.append(record)
            return {arn_key: record.id}

        try:
            response = self._call("bedrock", operation, params, recover=recover, model_id=spec.model_id)
        except ResourceConflictError:
            record = existing()
            if record is None:
                raise
            return record
        if found:
            return found[-1]
        arn = str(response[arn_key])
        hourly = self._hourly(spec)
        logger.info(
            "creating Bedrock %s deployment %s (%s)%s",
            spec.kind,
            spec.name,
            arn,
            f", about ${hourly:,.2f}/hour" if hourly else "",
        )
        return DeploymentRecord(
            id=arn,
            name=spec.name,
            backend=self.name,
            model_id=params.get("modelArn", spec.model_id),
            kind=spec.kind,
            status=DeploymentStatus.CREATING,
            raw_status="Creating",
            invoke_id=arn,
            hourly_cost=hourly,
            created_at=self.clock.now(),
            raw={"request": {k: v for k, v in params.items() if k != "clientRequestToken"}},
        )

    def _deployment_record(self, raw: Mapping[str, Any], *, hourly: float | None = None) -> DeploymentRecord:
        if "provisionedModelArn" in raw:
            raw_status = str(raw.get("status") or "Creating")
            arn = str(raw["provisionedModelArn"])
            if hourly is None:
                info = base_model_info(str(raw.get("foundationModelArn") or raw.get("modelArn") or ""))
                price = info.prices.provisioned_per_hour_no_commit if info else None
                units = raw.get("modelUnits")
                hourly = price * int(units) if price is not None and isinstance(units, int) else None
            return DeploymentRecord(
                id=arn,
                name=str(raw.get("provisionedModelName") or arn.rsplit("/", 1)[-1]),
                backend=self.name,
                model_id=str(raw.get("modelArn") or ""),
                kind="provisioned",
                status=_PT_STATUS.get(raw_status, DeploymentStatus.CREATING),
                raw_status=raw_status,
                invoke_id=arn,
                hourly_cost=hourly,
                failure_message=raw.get("failureMessage"),
                created_at=_utc(raw.get("creationTime")),
                raw=_raw(raw),
            )
        arn = str(raw["customModelDeploymentArn"])
        raw_status = str(raw.get("status") or "Creating")
        status = _DEPLOYMENT_STATUS.get(raw_status, DeploymentStatus.CREATING)
        update = (raw.get("updateDetails") or {}).get("updateStatus")
        if update == "Updating" and status is DeploymentStatus.ACTIVE:
            status = DeploymentStatus.UPDATING
        return DeploymentRecord(
            id=arn,
            name=str(
                raw.get("modelDeploymentName")
                or raw.get("customModelDeploymentName")
                or arn.rsplit("/", 1)[-1]
            ),
            backend=self.name,
            model_id=str(raw.get("modelArn") or ""),
            kind="on_demand",
            status=status,
            raw_status=raw_status,
            invoke_id=arn,
            hourly_cost=0.0 if hourly is None else hourly,
            failure_message=raw.get("failureMessage"),
            created_at=_utc(raw.get("createdAt") or raw.get("creationTime")),
            raw=_raw(raw),
        )

    def describe_deployment(self, deployment_id: str) -> DeploymentRecord:
        """A Provisioned Throughput or on-demand deployment, by ARN or name.

        Raises:
            ResourceNotFoundError: no such deployment.
        """
        resource, _ = model_id_from_arn(deployment_id)
        if resource == "provisioned-model":
            return self._deployment_record(
                self._call("bedrock", "GetProvisionedModelThroughput", {"provisionedModelId": deployment_id})
            )
        if resource == "custom-model-deployment":
            return self._deployment_record(
                self._call(
                    "bedrock", "GetCustomModelDeployment", {"customModelDeploymentIdentifier": deployment_id}
                )
            )
        try:
            return self._deployment_record(
                self._call("bedrock", "GetProvisionedModelThroughput", {"provisionedModelId": deployment_id})
            )
        except ResourceNotFoundError as first:
            try:
                return self._deployment_record(
                    self._call(
                        "bedrock",
                        "GetCustomModelDeployment",
                        {"customModelDeploymentIdentifier": deployment_id},
                    )
                )
            except ResourceNotFoundError:
                raise first from None

    def list_deployments(self) -> Iterator[DeploymentRecord]:
        """Provisioned Throughputs and on-demand deployments, newest first, fetched lazily."""
        pts = (
            self._deployment_record(s)
            for s in self._paginate(
                "bedrock",
                "ListProvisionedModelThroughputs",
                "provisionedModelSummaries",
                {"sortBy": "CreationTime", "sortOrder": "Descending"},
            )
        )
        ods = (
            self._deployment_record(s)
            for s in self._paginate(
                "bedrock",
                "ListCustomModelDeployments",
                "modelDeploymentSummaries",
                {"sortBy": "CreationTime", "sortOrder": "Descending"},
            )
        )
        yield from heapq.merge(pts, ods, key=_created, reverse=True)

    def delete_deployment(self, deployment_id: str) -> None:
        """Delete a deployment (billing of Provisioned Throughput stops); one that is gone is a no-op."""
        resource, _ = model_id_from_arn(deployment_id)
        try:
            if resource == "custom-model-deployment":
                self._call(
                    "bedrock",
                    "DeleteCustomModelDeployment",
                    {"customModelDeploymentIdentifier": deployment_id},
                )
                return
            if resource == "provisioned-model":
                self._call(
                    "bedrock", "DeleteProvisionedModelThroughput", {"provisionedModelId": deployment_id}
                )
                return
            record = self.describe_deployment(deployment_id)
        except ResourceNotFoundError:
            logger.info("deployment %s is already gone", deployment_id)
            return
        self.delete_deployment(record.id)
