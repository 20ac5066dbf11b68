"""Hyperparameters of the SageMaker JumpStart Llama 3.x fine-tuning script, typed.

JumpStart passes every hyperparameter to its script as a string, and the Meta text-generation script
parses booleans as the Python spellings ``"True"`` / ``"False"`` (the v3 ``sagemaker`` SDK would send
``"true"``); :func:`jumpstart_value` writes them that way.

The ranges below are the SDK's sanity bounds. The defaults are deliberately *not* here: they change with
the model version and are read from the hub document (``Hyperparameters[].Default``) at submit time, which
also contributes its own ``Min`` / ``Max`` / ``Options`` (see :func:`schema_for`).

Examples:
    >>> from finetune_sdk.backends.sagemaker import JumpStartLlamaHyperparameters
    >>> hp = JumpStartLlamaHyperparameters(epoch=1, learning_rate=1e-4, instruction_tuned=True, lora_r=8)
    >>> hp.to_service()
    {'epoch': '1', 'learning_rate': '0.0001', 'lora_r': '8', 'instruction_tuned': 'True'}
    >>> JumpStartLlamaHyperparameters(lora_dropout=1.5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for JumpStartLlamaHyperparameters
    ...
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from finetune_sdk.catalog import HyperparameterSpec
from finetune_sdk.hyperparameters import Hyperparameters, format_service_value

__all__ = ["JumpStartLlamaHyperparameters", "is_llama3", "jumpstart_value", "schema_for"]


def jumpstart_value(value: Any) -> str:
    """A hyperparameter value as the JumpStart scripts read it: the SDK's one serialiser
    (:func:`finetune_sdk.hyperparameters.format_service_value`), except that booleans are written the way the
    scripts compare them, ``"True"``/``"False"``.

    Examples:
        >>> [jumpstart_value(v) for v in (True, False, 3, 0.0001, 2e-05, "Llama3.1", None)]
        ['True', 'False', '3', '0.0001', '0.00002', 'Llama3.1', 'None']
    """
    if isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return "None"
    return format_service_value(value)


class JumpStartLlamaHyperparameters(Hyperparameters):
    """The Meta Llama 3.x JumpStart fine-tuning script's hyperparameters (``meta-textgeneration-llama-3*``).

    Unset fields are not sent by the user, so the hub document's default applies. ``instruction_tuned`` and
    ``chat_dataset`` pick the data format (instruction records + ``template.json``, or ``{"dialog": [...]}``
    conversations); both ``False`` means domain adaptation on raw text.
    """

    family: ClassVar[str] = "jumpstart-llama3"

    epoch: int | None = Field(None, ge=1, le=1000, description="passes over the training data")
    learning_rate: float | None = Field(None, gt=0.0, le=1.0)
    lora_r: int | None = Field(None, ge=1, le=1024, description="LoRA rank")
    lora_alpha: int | None = Field(None, ge=1, le=4096, description="LoRA scaling")
    lora_dropout: float | None = Field(None, ge=0.0, lt=1.0)
    instruction_tuned: bool | None = Field(None, description="train on instruction records + template.json")
    chat_dataset: bool | None = Field(None, description='train on {"dialog": [...]} conversations')
    add_input_output_demarcation_key: bool | None = None
    per_device_train_batch_size: int | None = Field(None, ge=1, le=1024)
    per_device_eval_batch_size: int | None = Field(None, ge=1, le=1024)
    max_train_samples: int | None = Field(None, ge=-1, description="-1: all")
    max_val_samples: int | None = Field(None, ge=-1, description="-1: all")
    seed: int | None = Field(None, ge=0)
    max_input_length: int | None = Field(None, ge=-1, description="-1: the model's maximum")
    validation_split_ratio: float | None = Field(None, ge=0.0, lt=1.0)
    train_data_split_seed: int | None = Field(None, ge=0)
    preprocessing_num_workers: int | None = Field(None, ge=1)
    int8_quantization: bool | None = None
    enable_fsdp: bool | None = None

    @model_validator(mode="after")
    def _one_data_format(self) -> JumpStartLlamaHyperparameters:
        if self.instruction_tuned and self.chat_dataset:
            raise ValueError(
                "instruction_tuned and chat_dataset are exclusive: pick instruction records "
                "(instruction_tuned=True) or dialog conversations (chat_dataset=True)"
            )
        return self

    def to_service(self) -> dict[str, str]:
        """The values the user set, as JumpStart strings (``"True"``/``"False"`` for booleans)."""
        return {k: jumpstart_value(v) for k, v in self.to_dict().items()}

    @classmethod
    def specs(cls) -> tuple[HyperparameterSpec, ...]:
        """One :class:`HyperparameterSpec` per field, with the SDK's bounds and no defaults."""
        specs: list[HyperparameterSpec] = []
        hints = typing.get_type_hints(cls)
        for name, field in cls.model_fields.items():
            kind = _kind_of(hints[name])
            low: float | None = None
            high: float | None = None
            for meta in field.metadata:
                for attr in ("ge", "gt"):
                    if getattr(meta, attr, None) is not None:
                        low = float(getattr(meta, attr))
                for attr in ("le", "lt"):
                    if getattr(meta, attr, None) is not None:
                        high = float(getattr(meta, attr))
            specs.append(
                HyperparameterSpec(
                    name=name, type=kind, min=low, max=high, description=field.description or ""
                )
            )
        return tuple(specs)


def _kind_of(annotation: Any) -> Literal["int", "float", "bool", "str"]:
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    for arg in args:
        if arg is bool:
            return "bool"
        if arg is int:
            return "int"
        if arg is float:
            return "float"
    return "str"


def _hub_kind(entry: Mapping[str, Any]) -> Literal["int", "float", "bool", "str"]:
    kind = str(entry.get("Type", "text")).lower()
    options = [str(o) for o in entry.get("Options") or ()]
    if kind == "text" and options and {o.lower() for o in options} <= {"true", "false"}:
        return "bool"
    if kind in ("int", "integer"):
        return "int"
    if kind == "float":
        return "float"
    if kind == "text" and str(entry.get("Default", "")).lower() in ("true", "false") and not options:
        return "bool"
    return "str"


def _hub_default(entry: Mapping[str, Any], kind: str) -> int | float | bool | str | None:
    default = entry.get("Default")
    if default is None:
        return None
    try:
        if kind == "bool":
            return str(default).lower() == "true"
        if kind == "int":
            return int(default)
        if kind == "float":
            return float(default)
    except (TypeError, ValueError):
        return str(default)
    return str(default)


def _tighter(a: float | None, b: float | None, pick: Any) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return float(pick(a, b))


def schema_for(
    model_id: str, hub_hyperparameters: Sequence[Mapping[str, Any]] | None
) -> tuple[HyperparameterSpec, ...] | None:
    """The hyperparameter schema of a JumpStart model: the typed Llama bounds (for
    ``meta-textgeneration-llama-3*``)
    merged with the hub document's algorithm-scope entries (their defaults, the tighter of both ranges, and
    any names the typed class does not know, such as ``target_modules`` or ``chat_template``).

    Returns ``None`` when neither is known (nothing is checked locally then).

    Examples:
        >>> hub = [{"Name": "epoch", "Type": "int", "Default": 5, "Min": 1, "Max": 1000,
        ...         "Scope": "algorithm"},
        ...        {"Name": "chat_template", "Type": "text", "Default": "Llama3.1", "Scope": "algorithm"},
        ...        {"Name": "sagemaker_program", "Type": "text", "Default": "x.py", "Scope": "container"}]
        >>> specs = {s.name: s for s in schema_for("meta-textgeneration-llama-3-8b", hub)}
        >>> specs["epoch"].default, specs["chat_template"].type, "sagemaker_program" in specs
        (5, 'str', False)
    """
    typed = {s.name: s for s in JumpStartLlamaHyperparameters.specs()} if is_llama3(model_id) else {}
    if not typed and not hub_hyperparameters:
        return None
    merged: dict[str, HyperparameterSpec] = dict(typed)
    for entry in hub_hyperparameters or ():
        name = str(entry.get("Name", ""))
        if (
            not name
            or str(entry.get("Scope", "algorithm")).lower() != "algorithm"
            or name.startswith("sagemaker_")
        ):
            continue
        kind = _hub_kind(entry)
        low = float(entry["Min"]) if entry.get("Min") is not None else None
        high = float(entry["Max"]) if entry.get("Max") is not None else None
        base = merged.get(name)
        if base is not None:
            kind = base.type
            low = _tighter(base.min, low, max)
            high = _tighter(base.max, high, min)
        description = base.description if base else "from the hub document"
        if entry.get("Options") and kind != "bool":
            description += f" (one of {', '.join(str(o) for o in entry['Options'])})"
        merged[name] = HyperparameterSpec(
            name=name,
            type=kind,
            min=low,
            max=high,
            default=_hub_default(entry, kind),
            description=description,
        )
    return tuple(merged.values())


def is_llama3(model_id: str) -> bool:
    """Whether ``model_id`` is a JumpStart Meta Llama 3.x text-generation model (the typed class applies)."""
    return model_id.startswith("meta-textgeneration-llama-3")
