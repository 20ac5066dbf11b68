"""Bedrock reinforcement fine-tuning: typed ``RFTHyperParameters``, the ``CreateModelCustomizationJob`` request
with ``customizationType="REINFORCEMENT_FINE_TUNING"`` and ``customizationConfig.rftConfig``, and the service
role's ``lambda:InvokeFunction`` grant on the grader is ``iam.data_access_policy(grader_lambda_arns=...)``.

Unlike fine-tuning's string map, ``rftConfig.hyperParameters`` takes native JSON types. Ranges are botocore's
(``RFTHyperParameters`` in the bedrock service model; tests keep them in step); the grader is a Lambda function
(``graderConfig.lambdaGrader.lambdaArn``, the API's only grader kind). Sources: https://docs.aws.amazon.com/
bedrock/latest/APIReference/API_RFTHyperParameters.html, .../userguide/rft-submit-job.html,
.../userguide/rft-access-security.html.

Examples:
    >>> from finetune_sdk.backends.bedrock._rft import RFTHyperParameters, rft_job_request
    >>> RFTHyperParameters(epoch_count=2, learning_rate=1e-5).to_request()
    {'epochCount': 2, 'learningRate': 1e-05}
    >>> request = rft_job_request(
    ...     job_name="rft-aqua", custom_model_name="nova-2-lite-aqua",
    ...     role_arn="arn:aws:iam::123456789012:role/BedrockRFT",
    ...     training_uri="s3://bucket/rft/train.jsonl", output_uri="s3://bucket/rft/out/",
    ...     lambda_arn="arn:aws:lambda:us-east-1:123456789012:function:aqua-grader",
    ...     hyperparameters=RFTHyperParameters(epoch_count=2))
    >>> request["customizationType"], sorted(request["customizationConfig"]["rftConfig"])
    ('REINFORCEMENT_FINE_TUNING', ['graderConfig', 'hyperParameters'])
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from finetune_sdk.errors import ConfigurationError
from finetune_sdk.hyperparameters import Hyperparameters

if TYPE_CHECKING:
    from finetune_sdk.specs import JobSpec

__all__ = [
    "RFT_BASE_MODELS",
    "RFTHyperParameters",
    "check_rft_spec",
    "rft_config",
    "rft_job_request",
]

#: Base models Bedrock reinforcement fine-tuning takes through CreateModelCustomizationJob (us-east-1).
#: Nova Micro/Lite/Pro v1 are not supported (rft-submit-job.html); open-weight RFT uses another API.
RFT_BASE_MODELS: tuple[str, ...] = ("amazon.nova-2-lite-v1:0:256k",)


class RFTHyperParameters(Hyperparameters):
    """``rftConfig.hyperParameters`` (native JSON types). Unset fields are not sent: the service chooses.

    AWS's Nova SDK uses epochCount 1, batchSize 128, learningRate 1e-5, maxPromptLength 8192,
    trainingSamplePerPrompt 8, inferenceMaxTokens 2048, reasoningEffort "medium", evalInterval 10 (its
    defaults, not documented service defaults).
    """

    family: ClassVar[str] = "nova-2-rft"
    epoch_count: int | None = Field(None, alias="epochCount", ge=1, le=50)
    batch_size: int | None = Field(None, alias="batchSize", ge=16, le=512)
    learning_rate: float | None = Field(None, alias="learningRate", ge=1e-7, le=1e-3)
    max_prompt_length: int | None = Field(None, alias="maxPromptLength", ge=1)
    training_sample_per_prompt: int | None = Field(None, alias="trainingSamplePerPrompt", ge=2, le=16)
    inference_max_tokens: int | None = Field(None, alias="inferenceMaxTokens", ge=1)
    reasoning_effort: Literal["low", "medium", "high"] | None = Field(None, alias="reasoningEffort")
    eval_interval: int | None = Field(None, alias="evalInterval", ge=1, le=100)

    def to_request(self) -> dict[str, Any]:
        """The values set, keyed by the service's names, in native JSON types (what ``rftConfig`` takes)."""
        return dict(self.to_dict())


def rft_job_request(
    *,
    job_name: str,
    custom_model_name: str,
    role_arn: str,
    training_uri: str,
    output_uri: str,
    lambda_arn: str,
    base_model: str = RFT_BASE_MODELS[0],
    hyperparameters: RFTHyperParameters | Mapping[str, Any] | None = None,
    validation_uri: str | None = None,
    tags: Mapping[str, str] | None = None,
    kms_key_id: str | None = None,
) -> dict[str, Any]:
    """``CreateModelCustomizationJob`` keyword arguments for a reinforcement fine-tuning job, checked against
    botocore's service model in full (required members, types, ranges, patterns, the union) before anything is
    sent. ``clientRequestToken`` is derived from the request, so resubmitting it is idempotent.

    Raises:
        ConfigurationError: ``base_model`` does not take RFT on Bedrock.
        HyperparameterError / pydantic ValidationError: a hyperparameter is unknown or out of range.
        RequestValidationError: the request breaks a service constraint (``field`` names the member).
    """
    from finetune_sdk._aws import validate_request

    if base_model not in RFT_BASE_MODELS:
        raise ConfigurationError(
            f"base model {base_model!r} does not take reinforcement fine-tuning on Bedrock; RFT takes "
            f"{', '.join(RFT_BASE_MODELS)} (Nova Micro/Lite/Pro v1 do not). Use Job.fine_tune for them"
        )
    hp = (
        hyperparameters
        if isinstance(hyperparameters, RFTHyperParameters)
        else RFTHyperParameters.model_validate(dict(hyperparameters or {}))
    )
    rft_config: dict[str, Any] = {"graderConfig": {"lambdaGrader": {"lambdaArn": lambda_arn}}}
    values = hp.to_request()
    if values:
        rft_config["hyperParameters"] = values
    request: dict[str, Any] = {
        "jobName": job_name,
        "customModelName": custom_model_name,
        "roleArn": role_arn,
        "baseModelIdentifier": base_model,
        "customizationType": "REINFORCEMENT_FINE_TUNING",
        "trainingDataConfig": {"s3Uri": training_uri},
        "outputDataConfig": {"s3Uri": output_uri},
        "customizationConfig": {"rftConfig": rft_config},
    }
    if validation_uri:
        request["validationDataConfig"] = {"validators": [{"s3Uri": validation_uri}]}
    if tags:
        pairs = [{"key": k, "value": v} for k, v in sorted(tags.items())]
        request["jobTags"] = pairs
        request["customModelTags"] = pairs
    if kms_key_id:
        request["customModelKmsKeyId"] = kms_key_id
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    request["clientRequestToken"] = "rft-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
    validate_request("bedrock", "CreateModelCustomizationJob", request)
    return request


def rft_config(spec: JobSpec) -> dict[str, Any]:
    """``customizationConfig.rftConfig`` of a reinforcement :class:`~finetune_sdk.specs.JobSpec`: the grader
    and the hyperparameters (validated by :class:`RFTHyperParameters`, sent in native JSON types)."""
    assert spec.grader_arn is not None  # JobSpec's validator guarantees it
    config: dict[str, Any] = {"graderConfig": {"lambdaGrader": {"lambdaArn": spec.grader_arn}}}
    values = RFTHyperParameters.model_validate(dict(spec.hyperparameters)).to_request()
    if values:
        config["hyperParameters"] = values
    return config


def check_rft_spec(spec: JobSpec, *, region: str | None) -> None:
    """The SDK's checks of a Bedrock RFT job: a supported base model, in us-east-1, known hyperparameters in
    range.

    Raises:
        ConfigurationError: unsupported base model or Region.
        HyperparameterError: unknown hyperparameter or value out of range.
    """
    from pydantic import ValidationError

    from finetune_sdk.errors import HyperparameterError

    if spec.base_model not in RFT_BASE_MODELS:
        raise ConfigurationError(
            f"base model {spec.base_model!r} does not take reinforcement fine-tuning on Bedrock; RFT takes "
            f"{', '.join(RFT_BASE_MODELS)} (Nova Micro/Lite/Pro v1 do not)"
        )
    if region and region != "us-east-1":
        raise ConfigurationError(
            f"Bedrock reinforcement fine-tuning of {spec.base_model} runs in us-east-1, not {region}. "
            "Fix: backends.get('bedrock', region='us-east-1')"
        )
    try:
        RFTHyperParameters.model_validate(dict(spec.hyperparameters))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise HyperparameterError(
            f"RFT hyperparameter {field}: {first['msg']} (got {first.get('input')!r}); the names and ranges are "
            "botocore's RFTHyperParameters: epochCount 1-50, batchSize 16-512, learningRate 1e-7-1e-3, "
            "trainingSamplePerPrompt 2-16, evalInterval 1-100, reasoningEffort low|medium|high"
        ) from exc
