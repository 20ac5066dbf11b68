"""The base-model catalog: which models can be customised where, with which data, limits and prices.

The catalog is packaged data (``models.json``) behind a typed loader; adding a model is a data change.
Every entry cites its sources and the date it was checked.

Examples:
    >>> from finetune_sdk import catalog
    >>> m = catalog.get("anthropic.claude-3-haiku-20240307-v1:0:200k")
    >>> m.format, m.limits.max_tokens_per_record, m.hyperparameter("epochCount").default
    ('bedrock_messages', 32000, 2)
    >>> catalog.get("claude-3-haiku").id  # a unique fragment works too
    'anthropic.claude-3-haiku-20240307-v1:0:200k'
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from finetune_sdk.errors import CatalogError

__all__ = [
    "ALLOW_UNVERIFIED_ENV",
    "BaseModelInfo",
    "CustomizationType",
    "HyperparameterSpec",
    "ModelLimits",
    "Prices",
    "all_models",
    "get",
    "resolve",
    "unverified_allowed",
]

CustomizationType = Literal["FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HyperparameterSpec(_Frozen):
    """One hyperparameter of a model family: its type, inclusive range and default."""

    name: str
    type: Literal["int", "float", "bool", "str"]
    min: float | None = None
    max: float | None = None
    default: int | float | bool | str | None = None
    description: str = ""


class ModelLimits(_Frozen):
    """Dataset limits for one base model. ``None`` means no documented limit."""

    min_train_records: int | None = None
    max_train_records: int | None = None
    min_validation_records: int | None = None
    max_validation_records: int | None = None
    max_total_records: int | None = None
    max_tokens_per_record: int | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    max_train_file_bytes: int | None = None
    max_validation_file_bytes: int | None = None
    chars_per_token: float = 6.0
    supports_images: bool = False
    supports_video: bool = False
    max_images_per_record: int = 0
    max_videos_per_record: int = 0
    reserved_strings: tuple[str, ...] = ()
    multi_turn: bool = True
    single_system_block: bool = False


class Prices(_Frozen):
    """Price inputs in USD, with the date they were read and where from."""

    training_per_1k_tokens: float | None = None
    storage_per_month: float | None = None
    input_per_1k_tokens: float | None = None
    output_per_1k_tokens: float | None = None
    provisioned_per_hour_no_commit: float | None = None
    currency: str = "USD"
    date: str
    source: str
    note: str = ""


class BaseModelInfo(_Frozen):
    """One catalog entry.

    Attributes:
        id: the customisation id (``baseModelIdentifier``), e.g. ``amazon.nova-micro-v1:0:128k``.
        runtime_id: the id (or inference profile) used to invoke the base model on demand.
        format: the wire format its training data must use (a name from ``finetune_sdk.data.formats``).
        invoke_body: the InvokeModel body dialect of the family.
        customizations: the customisation types AWS lists for the model (its supported-models pages).
        unverified_customizations: types the catalog keeps although AWS's supported-models page does not list
            them (e.g. Llama 3.3 70B fine-tuning); refused unless ``FINETUNE_SDK_ALLOW_UNVERIFIED_MODELS=1``.
        data_support: ``"not_built"`` when AWS customises the model but finetune_sdk does not build or
            validate its data format (image-caption data of Titan Image Generator, Titan Multimodal
            Embeddings, Nova Canvas); ``support_note`` says so and what to do.
    """

    id: str
    runtime_id: str
    name: str
    provider: str
    family: str
    regions: tuple[str, ...]
    customizations: tuple[CustomizationType, ...]
    format: str
    invoke_body: str
    limits: ModelLimits
    hyperparameters: tuple[HyperparameterSpec, ...] = ()
    prices: Prices
    distillation_teachers: tuple[str, ...] = ()
    on_demand_deployment: bool = False
    customizable: bool = True
    unverified_customizations: tuple[CustomizationType, ...] = ()
    data_support: Literal["built", "not_built"] = "built"
    support_note: str = ""
    sources: tuple[str, ...] = ()
    date: str = Field(description="When this entry was last checked against its sources.")

    def hyperparameter(self, name: str) -> HyperparameterSpec:
        """The spec of hyperparameter ``name``; raises ``CatalogError`` listing the valid names."""
        for spec in self.hyperparameters:
            if spec.name == name:
                return spec
        valid = ", ".join(s.name for s in self.hyperparameters) or "none"
        raise CatalogError(f"{self.id} has no hyperparameter {name!r}; valid names: {valid}")

    def supports(self, customization: CustomizationType) -> bool:
        """Whether Bedrock can run this customisation type on the model (an unverified type only when
        ``FINETUNE_SDK_ALLOW_UNVERIFIED_MODELS=1`` opts in)."""
        return customization in self.customizations or (
            customization in self.unverified_customizations and unverified_allowed()
        )

    def check_customization(self, customization: CustomizationType, *, with_dataset: bool = True) -> None:
        """Refuse what the catalog does not offer, saying why.

        Raises:
            ConfigurationError: the type is unverified (not on AWS's supported-models page) and not opted in.
            UnsupportedOperationError: finetune_sdk does not build this model's data format and a Dataset was
                given (an ``s3://`` URI of data prepared by hand is passed through).
        """
        from finetune_sdk.errors import ConfigurationError, UnsupportedOperationError

        if customization in self.unverified_customizations and not unverified_allowed():
            raise ConfigurationError(
                f"{self.id} {customization} is not on AWS's supported-models page, so the catalog marks it "
                f"unverified and does not offer it: {self.support_note or 'no AWS source lists it'}. Set "
                f"{ALLOW_UNVERIFIED_ENV}=1 to submit it anyway, or pick a listed model "
                "(`finetune models list --customizable`)."
            )
        if with_dataset and self.data_support == "not_built":
            raise UnsupportedOperationError(
                f"{self.id}: {self.support_note or 'finetune_sdk does not build this data format yet'}"
            )

    def require_data_support(self) -> None:
        """Raise when finetune_sdk cannot validate or write this model's data format.

        Raises:
            UnsupportedOperationError: ``data_support`` is ``"not_built"`` (the message says what to do).
        """
        if self.data_support == "not_built":
            from finetune_sdk.errors import UnsupportedOperationError

            raise UnsupportedOperationError(f"{self.id}: {self.support_note}")


#: Environment variable that opts in to customisation types the catalog marks unverified.
ALLOW_UNVERIFIED_ENV = "FINETUNE_SDK_ALLOW_UNVERIFIED_MODELS"


def unverified_allowed() -> bool:
    """Whether ``FINETUNE_SDK_ALLOW_UNVERIFIED_MODELS`` opts in to unverified customisation types."""
    import os

    return os.environ.get(ALLOW_UNVERIFIED_ENV, "").strip().lower() in ("1", "true", "yes")


class _Catalog(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    schema_version: int
    models: tuple[BaseModelInfo, ...]


@lru_cache(maxsize=1)
def _load() -> _Catalog:
    text = resources.files("finetune_sdk.catalog").joinpath("models.json").read_text(encoding="utf-8")
    return _Catalog.model_validate(json.loads(text))


def all_models(*, customization: CustomizationType | None = None) -> list[BaseModelInfo]:
    """Every catalog entry, optionally only those supporting ``customization``.

    Examples:
        >>> from finetune_sdk import catalog
        >>> cpt = catalog.all_models(customization="CONTINUED_PRE_TRAINING")
        >>> "amazon.titan-text-lite-v1:0:4k" in [m.id for m in cpt]
        True
    """
    models = _load().models
    if customization is None:
        return list(models)
    return [m for m in models if customization in m.customizations]


def resolve(model_id: str) -> BaseModelInfo | None:
    """Like :func:`get` but returns ``None`` for ids the catalog does not know (custom model ARNs, paths)."""
    try:
        return get(model_id)
    except CatalogError:
        return None


def get(model_id: str) -> BaseModelInfo:
    """Look a model up by customisation id, runtime id, foundation-model ARN, or a unique fragment.

    Raises:
        CatalogError: no entry (or more than one) matches; the message lists close matches.
    """
    models = _load().models
    key = model_id.strip()
    if key.startswith("arn:") and "/" in key:
        key = key.rsplit("/", 1)[1]
    for m in models:
        if key in (m.id, m.runtime_id) or key.removeprefix("us.") == m.runtime_id.removeprefix("us."):
            return m
    # Accept a foundation-model id without the context suffix (":128k").
    exact_prefix = [m for m in models if m.id.rsplit(":", 1)[0] == key]
    if len(exact_prefix) == 1:
        return exact_prefix[0]
    fragment = [m for m in models if key.lower() in m.id.lower() or key.lower() == m.name.lower()]
    if len(fragment) == 1:
        return fragment[0]
    ids = [m.id for m in models]
    if len(fragment) > 1:
        raise CatalogError(
            f"model id {model_id!r} is ambiguous; it matches {', '.join(m.id for m in fragment)}. Use the full id."
        )
    close = difflib.get_close_matches(key, ids, n=3, cutoff=0.4)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise CatalogError(
        f"model id {model_id!r} is not in the finetune_sdk catalog.{hint} "
        "List the known ids with `finetune_sdk.catalog.all_models()`; custom model ARNs need no catalog entry."
    )
