"""Data that goes to the model as it is sent: render a Dataset in the target model's wire format.

:func:`prepare_for_model` is what ``Job.fine_tune``, ``continue_pretraining`` and ``distill`` (and so the
Distiller) call before validating and uploading: a chat Dataset sent to Nova, Llama 3.2 or Titan is rendered in
``bedrock_conversation`` or ``prompt_completion`` when nothing is lost, and the
:class:`~finetune_sdk.data.report.ConversionReport` is kept on the job. A conversion that would lose
information (multi-turn conversations flattened for a single-turn format, media dropped, a system prompt merged
into the prompt...) is refused with the report, unless ``allow_lossy=True``.

Examples:
    >>> from finetune_sdk.data import Dataset
    >>> from finetune_sdk.data.prepare import prepare_for_model
    >>> chat = Dataset.from_records([{"messages": [{"role": "user", "content": "2+2?"},
    ...                                            {"role": "assistant", "content": "4"}]}] * 100)
    >>> ready, report = prepare_for_model(chat, "amazon.nova-lite-v1:0:300k")
    >>> ready.format, report.summary()
    ('bedrock_conversation', 'bedrock_messages -> bedrock_conversation: 100 records in, 100 written; nothing lost')
    >>> prepare_for_model(ready, "amazon.nova-lite-v1:0:300k")[1] is None  # already in the model's format
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from finetune_sdk.data.report import ConversionReport
from finetune_sdk.data.validate import resolve_model
from finetune_sdk.errors import LossyConversionError

if TYPE_CHECKING:
    from finetune_sdk.catalog import BaseModelInfo, CustomizationType
    from finetune_sdk.data.dataset import Dataset

__all__ = ["Purpose", "prepare_for_model", "prepare_job_data", "target_format"]

Purpose = Literal["fine_tuning", "continued_pretraining", "distillation"]


def target_format(model: BaseModelInfo, purpose: Purpose = "fine_tuning") -> str:
    """The wire format ``model`` reads for ``purpose``: its fine-tuning format, ``text`` for continued
    pre-training, ``bedrock_conversation`` for distillation prompts."""
    if purpose == "continued_pretraining":
        return "text"
    if purpose == "distillation":
        return "bedrock_conversation"
    return model.format


def prepare_for_model(
    dataset: Dataset,
    model: str | BaseModelInfo,
    *,
    purpose: Purpose = "fine_tuning",
    allow_lossy: bool = False,
) -> tuple[Dataset, ConversionReport | None]:
    """``dataset`` in the wire format ``model`` reads, and the report of the conversion (``None`` when the
    data already is in that format and is sent as it is).

    Args:
        dataset: the training (or validation, or prompt) data.
        model: a catalog model id or entry.
        purpose: ``"fine_tuning"``, ``"continued_pretraining"`` or ``"distillation"``.
        allow_lossy: convert even when the format cannot hold everything (the report says what was lost).

    Raises:
        UnsupportedOperationError: finetune_sdk does not build the model's data format (image models).
        LossyConversionError: the conversion would lose information and ``allow_lossy`` is false;
            ``exc.conversion`` is the report (loss kinds with example record numbers).
        DatasetValidationError: lines of the source cannot be read as records.
        CatalogError: ``model`` is not in the catalog.
    """
    info = resolve_model(model)
    assert info is not None
    info.require_data_support()
    target = target_format(info, purpose)
    if dataset.format == target:
        return dataset, None
    converted = dataset.convert(target)
    report: ConversionReport = converted.last_report
    if not report.lossless and not allow_lossy:
        raise LossyConversionError(
            f"{info.id} reads {target} records for {purpose.replace('_', ' ')}, and converting "
            f"{report.source_format or 'these records'} to it loses information: "
            + "; ".join(report.to_text().splitlines())
            + ". Convert the data yourself (Dataset.convert / map), or pass allow_lossy=True to accept the loss",
            conversion=report,
        )
    return converted, report


def prepare_job_data(
    train: Dataset | str | None,
    validation: Dataset | str | None,
    model: str,
    *,
    purpose: Purpose,
    allow_lossy: bool,
) -> tuple[Dataset | str | None, Dataset | str | None, dict[str, ConversionReport]]:
    """What a job sends: each of ``train`` and ``validation`` that is a Dataset, prepared with
    :func:`prepare_for_model` (URIs and ``None`` pass through), and the conversion reports by role
    (``"train"``, ``"validation"``; a role is absent when nothing was converted). Models outside the catalog
    (custom model ARNs, Hugging Face ids) get the data as it is.

    Raises:
        ConfigurationError: the customisation is unverified in the catalog and not opted in.
        UnsupportedOperationError: finetune_sdk does not build the model's data format and a Dataset was given.
        LossyConversionError, DatasetValidationError: as :func:`prepare_for_model`.
    """
    from finetune_sdk import catalog
    from finetune_sdk.data.dataset import Dataset

    info = catalog.resolve(model)
    reports: dict[str, ConversionReport] = {}
    if info is None or not info.customizable:
        return train, validation, reports
    ctype: CustomizationType = {
        "fine_tuning": "FINE_TUNING",
        "continued_pretraining": "CONTINUED_PRE_TRAINING",
        "distillation": "DISTILLATION",
    }[purpose]  # type: ignore[assignment]
    info.check_customization(ctype, with_dataset=isinstance(train, Dataset) or isinstance(validation, Dataset))
    out: list[Dataset | str | None] = []
    for role, data in (("train", train), ("validation", validation)):
        if isinstance(data, Dataset):
            data, report = prepare_for_model(data, info, purpose=purpose, allow_lossy=allow_lossy)
            if report is not None:
                reports[role] = report
        out.append(data)
    return out[0], out[1], reports
