"""JumpStart model metadata: the hub content document and the few fields a training or hosting request needs.

JumpStart keeps each model's metadata in the public hub ``SageMakerPublicHub``; ``DescribeHubContent``
returns it as a JSON string (``HubContentDocument``). :class:`HubDocument` wraps the parsed document with
typed accessors that follow the field names the ``sagemaker`` v3 SDK reads
(``sagemaker/core/jumpstart/hub/interfaces.py``): ``TrainingEcrUri``, ``TrainingScriptUri``,
``TrainingArtifactUri``, ``Hyperparameters``, ``TrainingInstanceTypeVariants``,
``SupportedTrainingInstanceTypes``, ``GatedBucket``, ``TrainingEnableNetworkIsolation``,
``HostingEcrUri``... Per-instance variants override the top-level values: an exact instance type first, then
its family (``ml.g5.12xlarge`` → ``g5``).

Where the document comes from, in order: ``SageMakerOptions(hub_document=...)``, the backend's
``hub_document_loader``, then ``DescribeHubContent`` through boto3 (:func:`describe_hub_document`). The
``sagemaker`` package is not needed for any of it.

Examples:
    >>> from finetune_sdk.backends.sagemaker.jumpstart import HubDocument
    >>> doc = HubDocument("meta-textgeneration-llama-3-8b", {
    ...     "TrainingSupported": True, "GatedBucket": True, "TrainingEcrUri": "img:default",
    ...     "SupportedTrainingInstanceTypes": ["ml.g5.12xlarge", "ml.p4d.24xlarge"],
    ...     "TrainingInstanceTypeVariants": {"Variants": {"g5": {"Properties": {"ImageUri": "img:g5"}}}}})
    >>> doc.training_image("ml.g5.12xlarge"), doc.training_image("ml.p4d.24xlarge"), doc.gated
    ('img:g5', 'img:default', True)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from finetune_sdk.errors import ConfigurationError

__all__ = [
    "DEFAULT_TRAINING_ENTRY_POINT",
    "PUBLIC_HUB",
    "HubDocument",
    "HubDocumentLoader",
    "coerce_document",
    "describe_hub_document",
    "instance_family",
]

#: the hub holding JumpStart's public models
PUBLIC_HUB = "SageMakerPublicHub"
#: the entry script of JumpStart training source tarballs (v2 and v3 SDKs both use this name)
DEFAULT_TRAINING_ENTRY_POINT = "transfer_learning.py"

#: a callable returning the hub document (parsed JSON) of a model id, for offline use and tests
HubDocumentLoader = Callable[[str], Mapping[str, Any]]

_FAMILY = re.compile(r"^ml\.([a-z0-9\-]+)\.[a-z0-9]+$")


def instance_family(instance_type: str) -> str | None:
    """``ml.g5.12xlarge`` → ``g5`` (``None`` for anything else)."""
    m = _FAMILY.match(instance_type)
    return m.group(1) if m else None


class HubDocument:
    """A JumpStart hub content document with typed accessors (the raw dict stays in :attr:`raw`)."""

    def __init__(self, model_id: str, document: Mapping[str, Any], *, version: str | None = None) -> None:
        self.model_id = model_id
        self.raw: Mapping[str, Any] = document
        self.version = version or (str(document["Version"]) if document.get("Version") else None)

    def __repr__(self) -> str:
        return f"HubDocument(model_id={self.model_id!r}, version={self.version!r})"

    # --- generic ---------------------------------------------------------------------------------------
    def _get(self, key: str) -> Any:
        return self.raw.get(key)

    def _variant(self, which: str, instance_type: str | None) -> Mapping[str, Any]:
        variants = (self._get(which) or {}).get("Variants") or {}
        if not instance_type or not isinstance(variants, Mapping):
            return {}
        merged: dict[str, Any] = {}
        family = instance_family(instance_type)
        # family first, then the exact type, so the exact type wins
        for key in (family, instance_type):
            props = (variants.get(key) or {}).get("Properties") if key else None
            if isinstance(props, Mapping):
                merged.update(props)
        return merged

    # --- training --------------------------------------------------------------------------------------
    @property
    def training_supported(self) -> bool:
        """Whether JumpStart can fine-tune this model."""
        return bool(self._get("TrainingSupported"))

    @property
    def gated(self) -> bool:
        """Whether the weights sit in a gated bucket (the EULA must be accepted)."""
        return bool(self._get("GatedBucket"))

    @property
    def supported_training_instance_types(self) -> tuple[str, ...]:
        """``SupportedTrainingInstanceTypes`` (empty when the document does not say)."""
        return tuple(str(t) for t in self._get("SupportedTrainingInstanceTypes") or ())

    @property
    def default_training_instance_type(self) -> str | None:
        """``DefaultTrainingInstanceType``."""
        value = self._get("DefaultTrainingInstanceType")
        return str(value) if value else None

    @property
    def training_volume_size(self) -> int | None:
        """``TrainingVolumeSize`` in GB."""
        value = self._get("TrainingVolumeSize")
        return int(value) if value else None

    @property
    def training_network_isolation(self) -> bool:
        """``TrainingEnableNetworkIsolation`` (``True`` for the gated Meta models)."""
        return bool(self._get("TrainingEnableNetworkIsolation"))

    @property
    def disable_output_compression(self) -> bool:
        """``DisableOutputCompression``."""
        return bool(self._get("DisableOutputCompression"))

    @property
    def training_script_uri(self) -> str | None:
        """``TrainingScriptUri``: the S3 tarball of the JumpStart training script."""
        value = self._get("TrainingScriptUri")
        return str(value) if value else None

    @property
    def training_artifact_compression(self) -> str:
        """The model channel's ``CompressionType``: ``TrainingArtifactCompressionType``, else ``"None"``."""
        return str(self._get("TrainingArtifactCompressionType") or "None")

    @property
    def training_artifact_s3_data_type(self) -> str:
        """The model channel's ``S3DataType`` (``TrainingArtifactS3DataType``, default ``"S3Prefix"``)."""
        return str(self._get("TrainingArtifactS3DataType") or "S3Prefix")

    @property
    def hyperparameters(self) -> tuple[Mapping[str, Any], ...]:
        """The ``Hyperparameters`` entries (``Name``, ``Type``, ``Default``, ``Min``, ``Max``...)."""
        return tuple(h for h in self._get("Hyperparameters") or () if isinstance(h, Mapping))

    def training_image(self, instance_type: str | None) -> str | None:
        """The training image for ``instance_type``: the variant's ``ImageUri``, else ``TrainingEcrUri``."""
        value = self._variant("TrainingInstanceTypeVariants", instance_type).get("ImageUri") or self._get(
            "TrainingEcrUri"
        )
        return str(value) if value else None

    def training_artifact(self, instance_type: str | None) -> str | None:
        """The base weights for the ``model`` channel: the variant's ``GatedModelEnvVarUri`` or
        ``TrainingArtifactUri``, else the top-level ``TrainingArtifactUri`` (the v3 SDK's order)."""
        variant = self._variant("TrainingInstanceTypeVariants", instance_type)
        value = (
            variant.get("GatedModelEnvVarUri")
            or variant.get("TrainingArtifactUri")
            or self._get("TrainingArtifactUri")
        )
        return str(value) if value else None

    def training_environment(self, instance_type: str | None) -> dict[str, str]:
        """The variant's ``EnvironmentVariables``."""
        env = self._variant("TrainingInstanceTypeVariants", instance_type).get("EnvironmentVariables") or {}
        return {str(k): str(v) for k, v in env.items()}

    def default_hyperparameters(self, instance_type: str | None) -> dict[str, Any]:
        """Algorithm-scope defaults, then the variant's overrides (``sagemaker_*`` ones left out)."""
        out: dict[str, Any] = {}
        entries = list(self.hyperparameters)
        entries += [
            h
            for h in self._variant("TrainingInstanceTypeVariants", instance_type).get("Hyperparameters") or ()
            if isinstance(h, Mapping)
        ]
        for h in entries:
            name = str(h.get("Name", ""))
            if (
                not name
                or name.startswith("sagemaker_")
                or str(h.get("Scope", "algorithm")).lower() != "algorithm"
            ):
                continue
            if h.get("Default") is not None:
                out[name] = h["Default"]
        return out

    def metric_definitions(self, instance_type: str | None) -> list[dict[str, str]]:
        """``TrainingMetrics`` (``[{"Name", "Regex"}]``), with the variant's ``Metrics`` added."""
        seen: dict[str, dict[str, str]] = {}
        for m in list(self._get("TrainingMetrics") or ()) + list(
            self._variant("TrainingInstanceTypeVariants", instance_type).get("Metrics") or ()
        ):
            if isinstance(m, Mapping) and m.get("Name") and m.get("Regex"):
                seen[str(m["Name"])] = {"Name": str(m["Name"]), "Regex": str(m["Regex"])}
        return list(seen.values())

    # --- hosting ---------------------------------------------------------------------------------------
    def hosting_image(self, instance_type: str | None) -> str | None:
        """The serving image for ``instance_type``: the variant's ``ImageUri``, else ``HostingEcrUri``."""
        value = self._variant("HostingInstanceTypeVariants", instance_type).get("ImageUri") or self._get(
            "HostingEcrUri"
        )
        return str(value) if value else None

    def hosting_artifact(self, instance_type: str | None) -> str | None:
        """The base weights for hosting (``HostingArtifactUri`` or the variant's
        ``ArtifactKey``/``ModelDataUri``)."""
        variant = self._variant("HostingInstanceTypeVariants", instance_type)
        value = (
            variant.get("ArtifactKey") or variant.get("HostingArtifactUri") or self._get("HostingArtifactUri")
        )
        return str(value) if value else None

    @property
    def default_inference_instance_type(self) -> str | None:
        """``DefaultInferenceInstanceType``."""
        value = self._get("DefaultInferenceInstanceType")
        return str(value) if value else None

    def hosting_environment(self, instance_type: str | None) -> dict[str, str]:
        """Container defaults from ``InferenceEnvironmentVariables`` plus the hosting variant's variables."""
        env: dict[str, str] = {}
        for entry in self._get("InferenceEnvironmentVariables") or ():
            if isinstance(entry, Mapping) and entry.get("Name") and entry.get("Default") is not None:
                env[str(entry["Name"])] = str(entry["Default"])
        variant = (
            self._variant("HostingInstanceTypeVariants", instance_type).get("EnvironmentVariables") or {}
        )
        env.update({str(k): str(v) for k, v in variant.items()})
        return env

    @property
    def default_payload_dialect(self) -> str | None:
        """``"messages"`` or ``"tgi"`` when ``DefaultPayloads`` shows which body the container takes."""
        payloads = self._get("DefaultPayloads") or {}
        for payload in payloads.values() if isinstance(payloads, Mapping) else ():
            body = payload.get("Body") if isinstance(payload, Mapping) else None
            if isinstance(body, Mapping):
                if "messages" in body:
                    return "messages"
                if "inputs" in body:
                    return "tgi"
        return None

    # --- checks ----------------------------------------------------------------------------------------
    def check_training(self, *, instance_type: str, accept_eula: bool) -> None:
        """Refuse what JumpStart would refuse: no training support, an unsupported instance, a gated model
        without ``accept_eula=True``.

        Raises:
            ConfigurationError: with the fix in the message.
        """
        if self._get("TrainingSupported") is not None and not self.training_supported:
            raise ConfigurationError(
                f"JumpStart model {self.model_id} does not support fine-tuning (TrainingSupported is "
                "false); pick a model whose hub document allows training, or use "
                "SageMakerOptions(mode='script')"
            )
        supported = self.supported_training_instance_types
        if supported and instance_type not in supported:
            raise ConfigurationError(
                f"instance_type {instance_type!r} is not supported for training {self.model_id}; "
                f"SupportedTrainingInstanceTypes: {', '.join(supported)}. Pass "
                f"SageMakerOptions(instance_type={supported[0]!r}) or another listed type"
            )
        if self.gated and not accept_eula:
            raise ConfigurationError(
                f"{self.model_id} is a gated model: its weights are released under the provider's end-user "
                "licence agreement (for Meta Llama, the Llama Community License). Read it, then accept it "
                "with SageMakerOptions(accept_eula=True); the acceptance is sent as "
                "ModelAccessConfig.AcceptEula on the 'model' channel. Nothing was submitted"
            )


def describe_hub_document(
    client: Any, model_id: str, *, version: str | None = None, hub_name: str = PUBLIC_HUB
) -> HubDocument:
    """Fetch a model's hub document with ``DescribeHubContent`` (``HubContentType="Model"``).

    Args:
        client: a boto3 ``sagemaker`` client.

    Raises:
        ConfigurationError: the answer holds no parseable document.
        botocore ClientError: the call failed (the backend translates it).
    """
    params: dict[str, Any] = {"HubName": hub_name, "HubContentType": "Model", "HubContentName": model_id}
    if version:
        params["HubContentVersion"] = version
    response = client.describe_hub_content(**params)
    text = response.get("HubContentDocument")
    try:
        document = json.loads(text) if isinstance(text, str) else dict(text or {})
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"DescribeHubContent returned a HubContentDocument for {model_id} that is not JSON: {exc}"
        ) from exc
    if not isinstance(document, dict) or not document:
        raise ConfigurationError(f"DescribeHubContent returned no HubContentDocument for {model_id}")
    return HubDocument(model_id, document, version=response.get("HubContentVersion") or version)


def coerce_document(model_id: str, document: Mapping[str, Any] | str) -> HubDocument:
    """A :class:`HubDocument` from a user-supplied dict, or the JSON string ``DescribeHubContent`` returns.

    Raises:
        ConfigurationError: not a JSON object.
    """
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"hub_document for {model_id} is not valid JSON: {exc}") from exc
    if not isinstance(document, Mapping):
        raise ConfigurationError(f"hub_document for {model_id} must be a JSON object (a dict)")
    # a whole DescribeHubContent response is accepted too
    inner = document.get("HubContentDocument")
    if inner is not None:
        return coerce_document(model_id, inner)
    return HubDocument(model_id, document)
