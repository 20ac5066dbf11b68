"""Typed hyperparameters: one class per model family for IDE completion, plus schema validation.

Each class uses Python names (``epoch_count``) with the service's names as aliases (``epochCount``), the
ranges and defaults of the catalog, and ``to_service()`` that gives the string map Bedrock expects. Plain
dicts are accepted everywhere and checked against the same schema by :func:`validate_hyperparameters`.

Examples:
    >>> from finetune_sdk.hyperparameters import ClaudeHaikuHyperparameters
    >>> ClaudeHaikuHyperparameters(epoch_count=3, batch_size=8).to_service()
    {'epochCount': '3', 'batchSize': '8'}
    >>> ClaudeHaikuHyperparameters(epoch_count=11)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for ClaudeHaikuHyperparameters
    ...
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from finetune_sdk.catalog import HyperparameterSpec
from finetune_sdk.errors import ConfigurationError, HyperparameterError

__all__ = [
    "ClaudeHaikuHyperparameters",
    "CohereCommandHyperparameters",
    "Hyperparameters",
    "LlamaHyperparameters",
    "NovaHyperparameters",
    "TitanTextHyperparameters",
    "format_service_value",
    "validate_hyperparameters",
]

HyperparameterValue = int | float | bool | str


class Hyperparameters(BaseModel):
    """Base class of the typed hyperparameter classes. Unset fields are not sent (the service default applies)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    family: ClassVar[str] = ""

    def to_dict(self) -> dict[str, HyperparameterValue]:
        """The values the user set, keyed by the service's names."""
        return self.model_dump(by_alias=True, exclude_none=True)

    def to_service(self) -> dict[str, str]:
        """The values the user set as Bedrock's string map."""
        return {k: format_service_value(v) for k, v in self.to_dict().items()}


class ClaudeHaikuHyperparameters(Hyperparameters):
    """Claude 3 Haiku fine-tuning (Bedrock). Early stopping is on validation loss."""

    family: ClassVar[str] = "claude-3-haiku"
    epoch_count: int | None = Field(None, alias="epochCount", ge=1, le=10)
    batch_size: int | None = Field(None, alias="batchSize", ge=4, le=256)
    learning_rate_multiplier: float | None = Field(None, alias="learningRateMultiplier", ge=0.1, le=2.0)
    early_stopping_threshold: float | None = Field(None, alias="earlyStoppingThreshold", ge=0.0, le=0.1)
    early_stopping_patience: int | None = Field(None, alias="earlyStoppingPatience", ge=1, le=10)


class LlamaHyperparameters(Hyperparameters):
    """Llama 3.1 / 3.2 / 3.3 fine-tuning (Bedrock)."""

    family: ClassVar[str] = "llama3"
    epoch_count: int | None = Field(None, alias="epochCount", ge=1, le=10)
    batch_size: int | None = Field(None, alias="batchSize", ge=1, le=1)
    learning_rate: float | None = Field(None, alias="learningRate", ge=5e-6, le=0.1)


class NovaHyperparameters(Hyperparameters):
    """Nova Micro / Lite / Pro fine-tuning (Bedrock)."""

    family: ClassVar[str] = "nova"
    epoch_count: int | None = Field(None, alias="epochCount", ge=1, le=5)
    learning_rate: float | None = Field(None, alias="learningRate", ge=1e-6, le=1e-4)
    learning_rate_warmup_steps: int | None = Field(None, alias="learningRateWarmupSteps", ge=0, le=100)


class TitanTextHyperparameters(Hyperparameters):
    """Titan Text G1 Express / Lite fine-tuning and continued pre-training (Bedrock)."""

    family: ClassVar[str] = "titan-text"
    epoch_count: int | None = Field(None, alias="epochCount", ge=1, le=10)
    batch_size: int | None = Field(None, alias="batchSize", ge=1, le=64)
    learning_rate: float | None = Field(None, alias="learningRate", ge=0.0, le=1.0)
    learning_rate_warmup_steps: int | None = Field(None, alias="learningRateWarmupSteps", ge=0, le=250)


class CohereCommandHyperparameters(Hyperparameters):
    """Cohere Command / Command Light fine-tuning (Bedrock). Light allows batch sizes up to 32."""

    family: ClassVar[str] = "cohere-command"
    epoch_count: int | None = Field(None, alias="epochCount", ge=1, le=100)
    batch_size: int | None = Field(None, alias="batchSize", ge=8, le=32)
    learning_rate: float | None = Field(None, alias="learningRate", ge=5e-6, le=0.1)
    early_stopping_threshold: float | None = Field(None, alias="earlyStoppingThreshold", ge=0.0, le=0.1)
    early_stopping_patience: int | None = Field(None, alias="earlyStoppingPatience", ge=1, le=10)
    eval_percentage: float | None = Field(None, alias="evalPercentage", ge=5.0, le=50.0)


def format_service_value(value: HyperparameterValue) -> str:
    """The one string form of a hyperparameter value in the services' string maps (Bedrock ``hyperParameters``,
    SageMaker ``HyperParameters``): ``2`` → ``"2"``, ``1e-05`` → ``"0.00001"``, ``True`` → ``"true"``.

    Floats are written in plain decimal notation, as the AWS samples pass them (``"learningRate": "0.00005"``),
    and integral floats without a fraction, so a value is read alike by every parser on the other side (Java's
    ``Integer.parseInt`` rejects ``"2.0"``; some parsers reject ``"1e-05"``).

    Raises:
        ConfigurationError: a float that is not finite (``nan``, ``inf``).

    Examples:
        >>> [format_service_value(v) for v in (2, 1e-05, 0.5, 2.0, True, "Auto")]
        ['2', '0.00001', '0.5', '2', 'true', 'Auto']
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigurationError(f"hyperparameter value {value!r} is not a finite number; pass a real number")
        if value.is_integer():
            return str(int(value))
        text = format(Decimal(repr(value)), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


def _coerce(spec: HyperparameterSpec, value: Any) -> HyperparameterValue:
    kind = spec.type
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.strip().lower() in ("true", "1", "yes")
        raise ValueError("expected true or false")
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError("expected an integer, got a bool")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            return int(value.strip())
        raise ValueError(f"expected an integer, got {type(value).__name__}")
    if kind == "float":
        if isinstance(value, bool):
            raise ValueError("expected a number, got a bool")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError("expected a finite number")
        return number
    return str(value)


def _bound(value: float | None, kind: str) -> str:
    if value is None:
        return "unbounded"
    return str(int(value)) if kind == "int" else repr(value)


def validate_hyperparameters(
    values: Mapping[str, Any] | Hyperparameters | None,
    schema: Sequence[HyperparameterSpec] | None,
    *,
    model: str = "",
) -> dict[str, HyperparameterValue]:
    """Check ``values`` against ``schema`` and return them typed, keyed by the service's names.

    Unknown names and out-of-range values fail here, before any request. ``schema=None`` means the backend
    does not check hyperparameters, so values pass through unchanged.

    Raises:
        HyperparameterError: names the parameter, the allowed range and the valid names.

    Examples:
        >>> from finetune_sdk import catalog
        >>> schema = catalog.get("amazon.nova-micro-v1:0:128k").hyperparameters
        >>> validate_hyperparameters({"epochCount": "3", "learningRate": 5e-5}, schema)
        {'epochCount': 3, 'learningRate': 5e-05}
        >>> validate_hyperparameters({"epochs": 3}, schema, model="nova-micro")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        finetune_sdk.errors.HyperparameterError: unknown hyperparameter 'epochs' for nova-micro ...
    """
    if values is None:
        return {}
    raw: dict[str, Any] = values.to_dict() if isinstance(values, Hyperparameters) else dict(values)
    if schema is None:
        return raw
    by_name = {s.name: s for s in schema}
    where = f" for {model}" if model else ""
    out: dict[str, HyperparameterValue] = {}
    for name, value in raw.items():
        spec = by_name.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, list(by_name), n=1)
            maybe = f" (did you mean {close[0]!r}?)" if close else ""
            valid = ", ".join(by_name) or "none"
            raise HyperparameterError(f"unknown hyperparameter {name!r}{where}{maybe}. Valid names: {valid}")
        try:
            typed = _coerce(spec, value)
        except (TypeError, ValueError) as exc:
            raise HyperparameterError(
                f"hyperparameter {name!r}{where} must be of type {spec.type}, got {value!r}: {exc}"
            ) from exc
        numeric = isinstance(typed, (int, float)) and not isinstance(typed, bool)
        if numeric and (
            (spec.min is not None and typed < spec.min) or (spec.max is not None and typed > spec.max)  # type: ignore[operator]
        ):
            lo, hi = (_bound(b, spec.type) for b in (spec.min, spec.max))
            raise HyperparameterError(
                f"hyperparameter {name!r}{where} is {typed!r}, outside the allowed range "
                f"[{lo}, {hi}] (default {spec.default!r}). Pick a value in range or leave it unset."
            )
        out[name] = typed
    return out
