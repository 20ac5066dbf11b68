"""Bedrock handler table, serving: Provisioned Throughput and on-demand custom model deployments.

Private; composed into :class:`finetune_sdk.testing.emulation.BedrockEmulation`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

from finetune_sdk.testing.emulation._base import (
    _conflict,
    _invalid,
    _not_found,
)
from finetune_sdk.testing.emulation._bedrock_state import _BedrockState
from finetune_sdk.testing.emulation._resources import (
    _Deployment,
    _Provisioned,
)

__all__: list[str] = []

logger = logging.getLogger(__name__)


class _BedrockServingHandlers(_BedrockState):
    """Bedrock handler table, serving: Provisioned Throughput and on-demand custom model deployments."""

    # --- provisioned throughput -----------------------------------------------------------------------------
    def _op_create_provisioned_model_throughput(self, p: dict[str, Any]) -> dict[str, Any]:
        existing = self._idempotent("provisioned", p)
        if existing is not None:
            return {"provisionedModelArn": existing}
        if any(pt.name == p["provisionedModelName"] for pt in self._provisioned.values()):
            raise _conflict(f"A provisioned model with the name {p['provisionedModelName']} already exists.")
        model_id = p["modelId"]
        custom = self._custom_model(model_id)
        if custom is not None:
            model_arn, fm_arn, family, responder_id = (
                custom.arn,
                self._fm_arn(custom.fm_id),
                self._family(custom.info),
                custom.arn,
            )
        else:
            bare = (
                model_id.split("/", 1)[1]
                if model_id.startswith("arn:") and ":foundation-model/" in model_id
                else model_id
            )
            if model_id.startswith("arn:") and ":foundation-model/" not in model_id:
                raise _not_found("model", model_id)
            info = self._catalog_by_id(bare) or self._catalog_by_runtime(bare)
            if info is None:
                raise _invalid("The provided model identifier is invalid.")
            model_arn = fm_arn = self._fm_arn(info.id)
            family, responder_id = info.invoke_body, bare
        rid = self._new_id()
        arn = self._arn(f"provisioned-model/{rid}")
        now = self.clock.now()
        pt = _Provisioned(
            arn=arn,
            rid=rid,
            seq=self._next_seq(),
            created=now,
            started=self.clock.monotonic(),
            status="Creating",
            token=p.get("clientRequestToken"),
            last_modified=now,
            name=p["provisionedModelName"],
            params=dict(p),
            model_arn=model_arn,
            fm_arn=fm_arn,
            family=family,
            responder_id=responder_id,
        )
        self._provisioned[arn] = pt
        self._remember("provisioned", p, arn)
        self._set_tags(arn, p.get("tags"))
        return {"provisionedModelArn": arn}

    def _pt(self, ident: str) -> _Provisioned:
        pt = self._provisioned.get(ident) or next(
            (x for x in self._provisioned.values() if x.name == ident), None
        )
        if pt is None:
            raise _not_found("provisioned model", ident)
        return pt

    def _pt_view(self, pt: _Provisioned) -> dict[str, Any]:
        units = pt.params["modelUnits"]
        view: dict[str, Any] = {
            "modelUnits": units,
            "desiredModelUnits": units,
            "provisionedModelName": pt.name,
            "provisionedModelArn": pt.arn,
            "modelArn": pt.model_arn,
            "desiredModelArn": pt.model_arn,
            "foundationModelArn": pt.fm_arn,
            "status": pt.status,
            "creationTime": pt.created,
            "lastModifiedTime": pt.last_modified or pt.created,
            "commitmentDuration": pt.params.get("commitmentDuration"),
        }
        if pt.params.get("commitmentDuration"):
            months = 1 if pt.params["commitmentDuration"] == "OneMonth" else 6
            view["commitmentExpirationTime"] = pt.created + timedelta(days=30 * months)
        return view

    def _op_get_provisioned_model_throughput(self, p: dict[str, Any]) -> dict[str, Any]:
        pt = self._pt(p["provisionedModelId"])
        self._tick(pt, poll=True)
        view = self._pt_view(pt)
        view["failureMessage"] = pt.failure_message
        return view

    def _op_list_provisioned_model_throughputs(self, p: dict[str, Any]) -> dict[str, Any]:
        for pt in self._provisioned.values():
            self._tick(pt)
        items = list(self._provisioned.values())
        if p.get("statusEquals"):
            items = [x for x in items if x.status == p["statusEquals"]]
        if p.get("modelArnEquals"):
            items = [x for x in items if x.model_arn == p["modelArnEquals"]]
        if p.get("nameContains"):
            items = [x for x in items if p["nameContains"] in x.name]
        page, token = self._page(items, p, "ListProvisionedModelThroughputs", created=lambda x: x.created)
        return {"provisionedModelSummaries": [self._pt_view(x) for x in page], "nextToken": token}

    def _op_delete_provisioned_model_throughput(self, p: dict[str, Any]) -> dict[str, Any]:
        pt = self._pt(p["provisionedModelId"])
        del self._provisioned[pt.arn]
        return {}

    # --- on-demand custom model deployments -----------------------------------------------------------------
    def _op_create_custom_model_deployment(self, p: dict[str, Any]) -> dict[str, Any]:
        existing = self._idempotent("deployment", p)
        if existing is not None:
            return {"customModelDeploymentArn": existing}
        if any(d.name == p["modelDeploymentName"] for d in self._deployments.values()):
            raise _conflict(
                f"A custom model deployment with the name {p['modelDeploymentName']} already exists."
            )
        model = self._models.get(p["modelArn"])
        if model is None:
            raise _not_found("custom model", p["modelArn"])
        if model.info is not None and not model.info.on_demand_deployment:
            raise _invalid(
                f"On-demand deployment is not supported for custom models based on {model.info.id}; "
                "use Provisioned Throughput."
            )
        rid = self._new_id()
        arn = self._arn(f"custom-model-deployment/{rid}")
        now = self.clock.now()
        deployment = _Deployment(
            arn=arn,
            rid=rid,
            seq=self._next_seq(),
            created=now,
            started=self.clock.monotonic(),
            status="Creating",
            token=p.get("clientRequestToken"),
            last_modified=now,
            name=p["modelDeploymentName"],
            params=dict(p),
            model=model,
        )
        self._deployments[arn] = deployment
        self._remember("deployment", p, arn)
        self._set_tags(arn, p.get("tags"))
        return {"customModelDeploymentArn": arn}

    def _deployment(self, ident: str) -> _Deployment:
        found = self._deployments.get(ident) or next(
            (d for d in self._deployments.values() if d.name == ident), None
        )
        if found is None:
            raise _not_found("custom model deployment", ident)
        return found

    def _op_get_custom_model_deployment(self, p: dict[str, Any]) -> dict[str, Any]:
        d = self._deployment(p["customModelDeploymentIdentifier"])
        self._tick(d, poll=True)
        return {
            "customModelDeploymentArn": d.arn,
            "modelDeploymentName": d.name,
            "modelArn": d.params["modelArn"],
            "createdAt": d.created,
            "status": d.status,
            "description": d.params.get("description"),
            "failureMessage": d.failure_message,
            "lastUpdatedAt": d.last_modified,
        }

    def _op_list_custom_model_deployments(self, p: dict[str, Any]) -> dict[str, Any]:
        for d in self._deployments.values():
            self._tick(d)
        items = list(self._deployments.values())
        if p.get("statusEquals"):
            items = [d for d in items if d.status == p["statusEquals"]]
        if p.get("modelArnEquals"):
            items = [d for d in items if d.params["modelArn"] == p["modelArnEquals"]]
        if p.get("nameContains"):
            items = [d for d in items if p["nameContains"] in d.name]
        page, token = self._page(
            items,
            p,
            "ListCustomModelDeployments",
            created=lambda d: d.created,
            after="createdAfter",
            before="createdBefore",
        )
        return {
            "modelDeploymentSummaries": [
                {
                    "customModelDeploymentArn": d.arn,
                    "customModelDeploymentName": d.name,
                    "modelArn": d.params["modelArn"],
                    "createdAt": d.created,
                    "status": d.status,
                    "lastUpdatedAt": d.last_modified,
                    "failureMessage": d.failure_message,
                }
                for d in page
            ],
            "nextToken": token,
        }

    def _op_delete_custom_model_deployment(self, p: dict[str, Any]) -> dict[str, Any]:
        d = self._deployment(p["customModelDeploymentIdentifier"])
        del self._deployments[d.arn]
        return {}
