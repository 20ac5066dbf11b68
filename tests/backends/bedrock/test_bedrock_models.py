"""Models (custom, imported, foundation) and deployments (Provisioned Throughput, on-demand)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from finetune_sdk.backends.base import DeploymentSpec, DeploymentStatus
from finetune_sdk.errors import CatalogError, ConfigurationError, ResourceConflictError, ResourceNotFoundError

R = "arn:aws:bedrock:us-east-1:123456789012"
CUSTOM = f"{R}:custom-model/amazon.titan-text-lite-v1:0:4k/abcdef123456"
IMPORTED = f"{R}:imported-model/abcdef123456"
PT = f"{R}:provisioned-model/abcdef123456"
OD = f"{R}:custom-model-deployment/abcdef123456"
BASE = "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-lite-v1:0:4k"
T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)


def custom_model(**kw: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "modelArn": CUSTOM,
        "modelName": "titan-tuned",
        "jobArn": f"{R}:model-customization-job/x/abcdef123456",
        "baseModelArn": BASE,
        "creationTime": T0,
        "modelStatus": "Active",
        "outputDataConfig": {"s3Uri": "s3://b/out"},
    }
    raw.update(kw)
    return raw


def test_custom_model_needs_a_deployment(backend, stub):
    stub(backend).add_response("get_custom_model", custom_model(), {"modelIdentifier": CUSTOM})
    record = backend.describe_model(CUSTOM)
    assert (record.kind, record.needs_deployment, record.base_model, record.status) == (
        "custom",
        True,
        BASE,
        "Active",
    )


def test_imported_model_chat_support_comes_from_instruct_supported(backend, stub):
    stub(backend).add_response(
        "get_imported_model",
        {
            "modelArn": IMPORTED,
            "modelName": "llama",
            "instructSupported": False,
            "modelArchitecture": "llama",
            "creationTime": T0,
        },
        {"modelIdentifier": IMPORTED},
    )
    record = backend.describe_model(IMPORTED)
    assert (record.kind, record.supports_chat, record.needs_deployment) == ("imported", False, False)


def test_catalog_ids_are_foundation_models_invoked_by_runtime_id(backend, stub):
    stub(backend)  # no request
    record = backend.describe_model("amazon.nova-micro-v1:0:128k")
    assert (record.kind, record.id, record.base_model) == (
        "foundation",
        "us.amazon.nova-micro-v1:0",
        "amazon.nova-micro-v1:0:128k",
    )
    assert backend.foundation_model("us.amazon.nova-pro-v1:0").id == "us.amazon.nova-pro-v1:0"
    assert backend.foundation_model("mistral.mistral-large-2407-v1:0").raw["catalog"] is False
    with pytest.raises(CatalogError):
        backend.foundation_model("not a model")


def test_a_name_is_tried_as_custom_then_imported(backend, stub):
    stubber = stub(backend)
    stubber.add_client_error("get_custom_model", "ResourceNotFoundException", "no", 404)
    stubber.add_response(
        "get_imported_model",
        {"modelArn": IMPORTED, "modelName": "llama", "creationTime": T0},
        {"modelIdentifier": "llama"},
    )
    assert backend.describe_model("llama").kind == "imported"


def test_unknown_model_name(backend, stub):
    stubber = stub(backend)
    stubber.add_client_error("get_custom_model", "ResourceNotFoundException", "no custom", 404)
    stubber.add_client_error("get_imported_model", "ResourceNotFoundException", "no imported", 404)
    with pytest.raises(ResourceNotFoundError, match="no custom"):
        backend.describe_model("ghost")


def test_list_models_merges_custom_and_imported(backend, stub):
    stubber = stub(backend)
    params = {"sortBy": "CreationTime", "sortOrder": "Descending"}
    stubber.add_response(
        "list_custom_models",
        {
            "modelSummaries": [
                {
                    "modelArn": CUSTOM,
                    "modelName": "newest",
                    "creationTime": T0 + timedelta(days=2),
                    "baseModelArn": BASE,
                    "baseModelName": "Titan Lite",
                },
                {
                    "modelArn": CUSTOM + "0",
                    "modelName": "oldest",
                    "creationTime": T0,
                    "baseModelArn": BASE,
                    "baseModelName": "Titan Lite",
                },
            ]
        },
        params,
    )
    stubber.add_response(
        "list_imported_models",
        {
            "modelSummaries": [
                {
                    "modelArn": IMPORTED,
                    "modelName": "middle",
                    "creationTime": T0 + timedelta(days=1),
                    "instructSupported": True,
                }
            ]
        },
        params,
    )
    assert [m.name for m in backend.list_models()] == ["newest", "middle", "oldest"]


def test_delete_models(backend, stub):
    stubber = stub(backend)
    stubber.add_response("delete_custom_model", {}, {"modelIdentifier": CUSTOM})
    stubber.add_response("delete_imported_model", {}, {"modelIdentifier": IMPORTED})
    backend.delete_model(CUSTOM)
    backend.delete_model(IMPORTED)
    with pytest.raises(ConfigurationError, match="nothing to delete"):
        backend.delete_model("amazon.nova-micro-v1:0:128k")


# --- deployments --------------------------------------------------------------------------------------------
def pt(status: str = "InService", **kw: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "modelUnits": 2,
        "desiredModelUnits": 2,
        "provisionedModelName": "titan-pt",
        "provisionedModelArn": PT,
        "modelArn": CUSTOM,
        "desiredModelArn": CUSTOM,
        "foundationModelArn": BASE,
        "status": status,
        "creationTime": T0,
        "lastModifiedTime": T0,
    }
    raw.update(kw)
    return raw


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("Creating", DeploymentStatus.CREATING),
        ("InService", DeploymentStatus.ACTIVE),
        ("Updating", DeploymentStatus.UPDATING),
        ("Failed", DeploymentStatus.FAILED),
    ],
)
def test_provisioned_throughput_statuses(backend, stub, raw, status):
    stub(backend).add_response("get_provisioned_model_throughput", pt(raw), {"provisionedModelId": PT})
    record = backend.describe_deployment(PT)
    assert (record.status, record.raw_status, record.invoke_id, record.kind) == (
        status,
        raw,
        PT,
        "provisioned",
    )
    assert record.hourly_cost == pytest.approx(2 * 7.1)


def test_on_demand_deployment_update_shows_as_updating(backend, stub):
    stub(backend).add_response(
        "get_custom_model_deployment",
        {
            "customModelDeploymentArn": OD,
            "modelDeploymentName": "od",
            "modelArn": CUSTOM,
            "createdAt": T0,
            "status": "Active",
            "updateDetails": {"modelArn": CUSTOM, "updateStatus": "Updating"},
        },
        {"customModelDeploymentIdentifier": OD},
    )
    record = backend.describe_deployment(OD)
    assert (record.status, record.kind, record.invoke_id) == (DeploymentStatus.UPDATING, "on_demand", OD)


def test_create_conflict_for_the_same_model_attaches(backend, stub):
    stubber = stub(backend)
    stubber.add_client_error("create_provisioned_model_throughput", "ConflictException", "name exists", 409)
    stubber.add_response(
        "get_provisioned_model_throughput", pt("Creating"), {"provisionedModelId": "titan-pt"}
    )
    record = backend.create_deployment(DeploymentSpec(model_id=CUSTOM, name="titan-pt", model_units=2))
    assert record.id == PT and record.status is DeploymentStatus.CREATING


def test_create_conflict_for_another_model_is_an_error(backend, stub):
    stubber = stub(backend)
    stubber.add_client_error("create_provisioned_model_throughput", "ConflictException", "name exists", 409)
    stubber.add_response(
        "get_provisioned_model_throughput",
        pt(modelArn=CUSTOM + "0", desiredModelArn=CUSTOM + "0"),
        {"provisionedModelId": "titan-pt"},
    )
    with pytest.raises(ResourceConflictError, match="another model"):
        backend.create_deployment(DeploymentSpec(model_id=CUSTOM, name="titan-pt"))


def test_delete_deployment_that_is_gone_is_a_no_op(backend, stub):
    stubber = stub(backend)
    stubber.add_client_error("delete_provisioned_model_throughput", "ResourceNotFoundException", "gone", 404)
    backend.delete_deployment(PT)
    stubber.add_response("delete_custom_model_deployment", {}, {"customModelDeploymentIdentifier": OD})
    backend.delete_deployment(OD)


def test_list_deployments(backend, stub):
    stubber = stub(backend)
    params = {"sortBy": "CreationTime", "sortOrder": "Descending"}
    stubber.add_response(
        "list_provisioned_model_throughputs",
        {
            "provisionedModelSummaries": [
                {
                    "provisionedModelName": "pt",
                    "provisionedModelArn": PT,
                    "modelArn": CUSTOM,
                    "desiredModelArn": CUSTOM,
                    "foundationModelArn": BASE,
                    "modelUnits": 1,
                    "desiredModelUnits": 1,
                    "status": "InService",
                    "creationTime": T0,
                    "lastModifiedTime": T0,
                }
            ]
        },
        params,
    )
    stubber.add_response(
        "list_custom_model_deployments",
        {
            "modelDeploymentSummaries": [
                {
                    "customModelDeploymentArn": OD,
                    "customModelDeploymentName": "od",
                    "modelArn": CUSTOM,
                    "createdAt": T0 + timedelta(hours=1),
                    "status": "Creating",
                }
            ]
        },
        params,
    )
    assert [(d.kind, d.status) for d in backend.list_deployments()] == [
        ("on_demand", DeploymentStatus.CREATING),
        ("provisioned", DeploymentStatus.ACTIVE),
    ]


def test_deployment_cost_estimates(backend):
    estimate = backend.estimate_deployment_cost(
        DeploymentSpec(model_id=CUSTOM, name="pt", model_units=2), hours=24
    )
    assert estimate is not None and estimate.total == pytest.approx(2 * 7.1 * 24)
    on_demand = backend.estimate_deployment_cost(
        DeploymentSpec(
            model_id=f"{R}:custom-model/amazon.nova-micro-v1:0:128k/abcdef123456", name="od", kind="on_demand"
        )
    )
    assert on_demand is not None and on_demand.total == 0.0 and "per 1K" in on_demand.assumptions[1]
    no_price = DeploymentSpec(
        model_id=f"{R}:custom-model/anthropic.claude-3-haiku-20240307-v1:0:200k/abcdef123456", name="pt"
    )
    assert backend.estimate_deployment_cost(no_price) is None


def test_deployment_kinds_bedrock_does_not_have(backend):
    with pytest.raises(ConfigurationError, match="kind='provisioned'"):
        backend.create_deployment(DeploymentSpec(model_id=CUSTOM, name="x", kind="endpoint"))


def test_create_conflict_for_a_model_given_by_name_attaches(backend, stub):
    stubber = stub(backend)
    stubber.add_client_error("create_provisioned_model_throughput", "ConflictException", "name exists", 409)
    stubber.add_response(
        "get_provisioned_model_throughput", pt("Creating"), {"provisionedModelId": "titan-pt"}
    )
    stubber.add_response("get_custom_model", custom_model(), {"modelIdentifier": "titan-tuned"})  # _hourly
    stubber.add_response(
        "get_custom_model", custom_model(), {"modelIdentifier": "titan-tuned"}
    )  # same model?
    record = backend.create_deployment(DeploymentSpec(model_id="titan-tuned", name="titan-pt"))
    assert record.id == PT
