"""Which teacher → student pairs Bedrock's managed distillation supports, and where.

The pairs come from the catalog (``BaseModelInfo.distillation_teachers`` and ``regions`` of each student):
Nova Pro / Premier → Nova Micro / Lite / Pro (us-east-1), Claude 3.5 Sonnet → Claude 3 Haiku (us-west-2),
Llama 3.1 405B / 70B / 3.3 70B → smaller Llama 3 models (us-west-2). Teachers may be given as model ids,
foundation-model ARNs or system inference profile ARNs.

Examples:
    >>> check_distillation_pair("amazon.nova-micro-v1:0:128k", "amazon.nova-pro-v1:0", region="us-east-1")
    'amazon.nova-pro-v1:0'
    >>> try:
    ...     check_distillation_pair("amazon.nova-micro-v1:0:128k", "us.meta.llama3-3-70b-instruct-v1:0")
    ... except ConfigurationError as exc:
    ...     print(str(exc)[:90])
    Bedrock cannot distil us.meta.llama3-3-70b-instruct-v1:0 into amazon.nova-micro-v1:0:128k;
"""

from __future__ import annotations

from collections.abc import Sequence

from finetune_sdk.catalog import BaseModelInfo, all_models
from finetune_sdk.catalog import get as catalog_get
from finetune_sdk.catalog import resolve as catalog_resolve
from finetune_sdk.data.records import Conversation, Record
from finetune_sdk.errors import CatalogError, ConfigurationError

__all__ = [
    "MAX_DISTILLATION_PROMPTS",
    "MIN_DISTILLATION_PROMPTS",
    "check_distillation_data",
    "check_distillation_pair",
    "distillation_pairs",
]

#: Bedrock's limits on distillation input (prompts or prompt-response pairs)
MIN_DISTILLATION_PROMPTS = 100
MAX_DISTILLATION_PROMPTS = 15_000


def _tail(model_id: str) -> str:
    key = model_id.strip()
    return key.rsplit("/", 1)[1] if key.startswith("arn:") and "/" in key else key


def distillation_pairs() -> dict[str, tuple[str, ...]]:
    """Student id → the teacher ids Bedrock distils into it (from the catalog).

    Examples:
        >>> distillation_pairs()["anthropic.claude-3-haiku-20240307-v1:0:200k"][0]
        'anthropic.claude-3-5-sonnet-20240620-v1:0'
    """
    return {m.id: m.distillation_teachers for m in all_models(customization="DISTILLATION")}


def check_distillation_pair(student: str, teacher: str, *, region: str | None = None) -> str:
    """Check that Bedrock can distil ``teacher`` into ``student`` (in ``region`` when given).

    Returns:
        The teacher identifier to send: as given when the catalog lists it (ARNs of a listed model are kept),
        else the listed id of the same model (e.g. its system inference profile).

    Raises:
        ConfigurationError: the student is unknown or cannot be distilled, the teacher is not one of its
            teachers, or the Region is not one where the student's distillation runs. The message lists
            what would work.
    """
    try:
        info: BaseModelInfo = catalog_get(student)
    except CatalogError as exc:
        raise ConfigurationError(
            f"Bedrock distillation needs a catalog student model; {exc} "
            f"Students: {', '.join(distillation_pairs())}."
        ) from exc
    if not info.supports("DISTILLATION") or not info.distillation_teachers:
        raise ConfigurationError(
            f"{info.id} cannot be a Bedrock distillation student (it supports: "
            f"{', '.join(info.customizations) or 'no customization'}). "
            f"Students: {', '.join(distillation_pairs())}. "
            "Fine-tune it on teacher answers instead (Distiller.train(..., method='fine_tune'))."
        )
    teachers = info.distillation_teachers
    tail = _tail(teacher)
    chosen: str | None = teacher if tail in teachers else None
    if chosen is None:
        teacher_info = catalog_resolve(tail)
        if teacher_info is not None:
            for candidate in (teacher_info.runtime_id, teacher_info.id, teacher_info.id.rsplit(":", 1)[0]):
                if candidate in teachers:
                    chosen = candidate
                    break
    if chosen is None:
        raise ConfigurationError(
            f"Bedrock cannot distil {teacher} into {info.id}; its supported teachers are "
            f"{', '.join(teachers)}. "
            "Fine-tune the student on teacher answers instead (Distiller.train(..., method='fine_tune')), "
            "which works with any teacher."
        )
    if region is not None and region not in info.regions:
        raise ConfigurationError(
            f"Bedrock distils into {info.id} only in {', '.join(info.regions)}, not in {region}; "
            f"create the backend with region={info.regions[0]!r}"
        )
    return chosen


def check_distillation_data(records: Sequence[Record], *, student: str) -> None:
    """Check prompts for a Bedrock distillation job with the SDK's distillation validator
    (``validate(purpose="distillation")``: AWS's prompt rules and 100 to 15,000 prompts).

    Raises:
        ConfigurationError: a text record, or the rules broken; the message gives the first issues with
            their record numbers and hints.
    """
    from finetune_sdk.data.validate import validate_records

    for i, record in enumerate(records):
        if not isinstance(record, Conversation):
            raise ConfigurationError(
                f"record {i} is a text record; distillation prompts must be conversations"
            )
    report = validate_records(records, model=catalog_resolve(student), purpose="distillation")
    if not report.ok:
        first = [i.format_line("prompt") for i in report.errors[:3]]
        more = report.error_count - len(first)
        raise ConfigurationError(
            f"the prompts break Bedrock distillation's rules for {student}: " + "; ".join(first)
            + (f"; and {more} more (Dataset.validate(purpose='distillation') lists them)" if more > 0 else "")
            + ". Fix them, or fine-tune on the teacher's answers instead (method='fine_tune')"
        )
