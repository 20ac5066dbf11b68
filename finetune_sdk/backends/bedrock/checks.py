"""Local checks for everything botocore does not check before sending a Bedrock request.

botocore validates required members, types, minimum lengths/values and unions, but not ``max``, ``pattern`` or
``enum`` (verified against botocore 1.43.11: ``jobName="job_bad!"``, ``customizationType="FOO"``, 11
validators
and a two-key ``requestMetadataFilters.equals`` are all sent). The service then rejects them, or worse, a job
fails hours later. :func:`validate_request` walks botocore's own service model and checks every constraint it
declares, so the rules can never drift from the API version installed. On top of that, :func:`check_job_spec`
adds the SDK's catalog checks: customisation type supported by the base model, Region, distillation teacher
pairs and hyperparameter ranges.

Examples:
    >>> from finetune_sdk.backends.bedrock.checks import find_request_problems
    >>> problems = find_request_problems("bedrock", "StopModelCustomizationJob", {"jobIdentifier": "a_b"})
    >>> [p.field for p in problems]
    ['jobIdentifier']
    >>> validate_request("bedrock", "StopModelCustomizationJob", {"jobIdentifier": "job_1"})
    Traceback (most recent call last):
    ...
    finetune_sdk.errors.RequestValidationError: jobIdentifier = 'job_1' does not match ...
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from finetune_sdk import catalog
from finetune_sdk._aws.validation import RequestProblem, find_request_problems, validate_request
from finetune_sdk.backends.base import JobKind, JobSpec
from finetune_sdk.catalog import BaseModelInfo, HyperparameterSpec
from finetune_sdk.errors import ConfigurationError, HyperparameterError

__all__ = [
    "CUSTOMIZATION_TYPE",
    "RequestProblem",
    "base_model_info",
    "check_distillation_pair",
    "check_hyperparameters",
    "check_job_spec",
    "find_request_problems",
    "hyperparameter_schema",
    "model_id_from_arn",
    "validate_request",
]

logger = logging.getLogger(__name__)

#: JobKind -> Bedrock customizationType (IMPORT has its own API)
CUSTOMIZATION_TYPE: dict[JobKind, str] = {
    JobKind.FINE_TUNING: "FINE_TUNING",
    JobKind.CONTINUED_PRE_TRAINING: "CONTINUED_PRE_TRAINING",
    JobKind.DISTILLATION: "DISTILLATION",
    JobKind.REINFORCEMENT: "REINFORCEMENT_FINE_TUNING",
}


# --- catalog checks -------------------------------------------------------------------------------------
_ARN = re.compile(
    r"^arn:aws[a-z-]*:bedrock:(?P<region>[a-z0-9-]*):(?P<account>\d*):(?P<resource>[a-z-]+)/(?P<rest>.+)$"
)


def model_id_from_arn(model_id: str) -> tuple[str | None, str]:
    """``(resource_type, model_part)`` of a Bedrock ARN; ``(None, model_id)`` for anything else.

    For ``custom-model/<base>/<id>`` the model part is the base model id.

    Examples:
        >>> model_id_from_arn("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0")
        ('foundation-model', 'amazon.nova-micro-v1:0')
        >>> model_id_from_arn("arn:aws:bedrock:us-east-1:123456789012:custom-model/"
        ...                   "amazon.nova-micro-v1:0:128k/ab12cd34ef56")
        ('custom-model', 'amazon.nova-micro-v1:0:128k')
    """
    m = _ARN.match(model_id)
    if not m:
        return None, model_id
    resource, rest = m.group("resource"), m.group("rest")
    if resource == "custom-model" and "/" in rest:
        return resource, rest.rsplit("/", 1)[0]
    return resource, rest


def base_model_info(model_id: str) -> BaseModelInfo | None:
    """The catalog entry behind a model id, a foundation-model / inference-profile ARN or a custom-model ARN.

    ``None`` for ids without one (imported models, provisioned throughput, unknown names). Unlike
    ``catalog.resolve`` this never matches an ARN's random suffix against catalog fragments.
    """
    resource, part = model_id_from_arn(model_id)
    if resource is not None and resource not in ("foundation-model", "inference-profile", "custom-model"):
        return None
    if resource == "custom-model" and part == "imported":
        return None
    if resource is None and ("/" in part or not re.match(r"^[a-z0-9-]+\.[a-z0-9.-]+", part)):
        return None  # a name, path or URI: not a catalog id
    return catalog.resolve(part)


def hyperparameter_schema(base_model: str, kind: JobKind) -> tuple[HyperparameterSpec, ...] | None:
    """The catalog's hyperparameters for ``base_model`` and ``kind`` (``None``: not checked).

    Distillation has no documented hyperparameters and imports have none, so both give ``None``.
    """
    if kind in (JobKind.DISTILLATION, JobKind.IMPORT):
        return None
    info = base_model_info(base_model)
    if info is None or not info.hyperparameters:
        return None
    return info.hyperparameters


def check_hyperparameters(
    values: Mapping[str, Any], schema: Sequence[HyperparameterSpec], *, model: str
) -> None:
    """Names known and values in range for ``model``.

    Raises:
        HyperparameterError: the message names the hyperparameter, the range and the default.
    """
    by_name = {s.name: s for s in schema}
    for name, value in values.items():
        spec = by_name.get(name)
        if spec is None:
            raise HyperparameterError(
                f"hyperparameter {name!r} is not accepted for {model}; valid names: {', '.join(by_name)}. "
                "Bedrock ignores or rejects unknown names, so fix the spelling or drop it."
            )
        number: float | None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, (int, float)):
            number = float(value)
        else:
            try:
                number = float(str(value))
            except ValueError:
                number = None
        if spec.type in ("int", "float"):
            if number is None or (spec.type == "int" and not float(number).is_integer()):
                raise HyperparameterError(
                    f"hyperparameter {name}={value!r} for {model} must be "
                    f"{'an integer' if spec.type == 'int' else 'a number'}"
                    f" in [{_num(spec.min)}, {_num(spec.max)}] (default {spec.default})"
                )
            if (spec.min is not None and number < spec.min) or (spec.max is not None and number > spec.max):
                raise HyperparameterError(
                    f"hyperparameter {name}={value!r} is out of range for {model}: allowed "
                    f"[{_num(spec.min)}, {_num(spec.max)}], default {spec.default}. Fix: pick a value in "
                    f"range."
                )


def _num(value: float | None) -> str:
    if value is None:
        return "..."
    return str(int(value)) if float(value).is_integer() and abs(value) >= 1 else f"{value:g}"


def _teacher_key(teacher: str) -> str:
    resource, part = model_id_from_arn(teacher)
    return part if resource in ("foundation-model", "inference-profile") else teacher


def check_distillation_pair(student: BaseModelInfo, teacher: str) -> None:
    """The teacher is one the catalog lists for ``student``.

    Raises:
        ConfigurationError: the message lists the teachers that work for this student.
    """
    key = _teacher_key(teacher)
    if key in student.distillation_teachers:
        return
    allowed = ", ".join(student.distillation_teachers) or "none"
    extra = ""
    if f"us.{key}" in student.distillation_teachers:
        extra = f" This teacher needs its inference profile: use 'us.{key}'."
    raise ConfigurationError(
        f"{teacher} cannot teach {student.id} in a Bedrock distillation job. Teachers for this student: "
        f"{allowed}.{extra} Cross-Region teachers must be system inference profiles (us./eu./apac. ids)."
    )


def check_job_spec(spec: JobSpec, *, region: str | None) -> None:
    """The SDK's catalog checks for one job (the request itself is checked by :func:`validate_request`).

    - the base model supports the customisation type, in this Region;
    - a distillation teacher is one the catalog pairs with the student;
    - hyperparameters are known and in range (distillation has no documented ones: they are passed through
      with a warning).

    Raises:
        ConfigurationError: unsupported type, Region or teacher.
        HyperparameterError: unknown name or value out of range.
    """
    if spec.kind is JobKind.IMPORT:
        return
    if spec.kind is JobKind.REINFORCEMENT:  # issue 17: RFT rules live with the RFT request
        from finetune_sdk.backends.bedrock._rft import check_rft_spec

        check_rft_spec(spec, region=region)
        return
    info = base_model_info(spec.base_model)
    if info is None:
        logger.debug("%s is not in the catalog (a custom model?): catalog checks skipped", spec.base_model)
        return
    ctype = CUSTOMIZATION_TYPE[spec.kind]
    if not info.supports(ctype):  # type: ignore[arg-type]
        can = [m.id for m in catalog.all_models(customization=ctype)]  # type: ignore[arg-type]
        raise ConfigurationError(
            f"{info.id} does not support {ctype} on Bedrock (it supports: "
            f"{', '.join(info.customizations) or 'no customisation'}). Models that do: "
            f"{', '.join(can) or 'none'}."
        )
    if region and info.regions and region not in info.regions:
        raise ConfigurationError(
            f"{info.id} can be customised only in {', '.join(info.regions)}, not {region}. "
            f"Fix: backends.get('bedrock', region={info.regions[0]!r})."
        )
    if spec.kind is JobKind.DISTILLATION:
        assert spec.teacher is not None  # guaranteed by JobSpec's validator
        check_distillation_pair(info, spec.teacher.model_id)
        if spec.hyperparameters:
            logger.warning(
                "Bedrock documents no hyperparameters for distillation; %s are sent unchecked",
                ", ".join(spec.hyperparameters),
            )
        return
    if spec.hyperparameters and info.hyperparameters:
        check_hyperparameters(spec.hyperparameters, info.hyperparameters, model=info.id)
