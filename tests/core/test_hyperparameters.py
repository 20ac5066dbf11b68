from __future__ import annotations

import pytest

from finetune_sdk import catalog
from finetune_sdk.errors import ConfigurationError, HyperparameterError
from finetune_sdk.hyperparameters import (
    ClaudeHaikuHyperparameters,
    CohereCommandHyperparameters,
    Hyperparameters,
    LlamaHyperparameters,
    NovaHyperparameters,
    TitanTextHyperparameters,
    format_service_value,
    validate_hyperparameters,
)

CLASSES: list[tuple[type[Hyperparameters], str]] = [
    (ClaudeHaikuHyperparameters, "anthropic.claude-3-haiku-20240307-v1:0:200k"),
    (LlamaHyperparameters, "meta.llama3-1-8b-instruct-v1:0:128k"),
    (NovaHyperparameters, "amazon.nova-micro-v1:0:128k"),
    (TitanTextHyperparameters, "amazon.titan-text-express-v1:0:8k"),
    (CohereCommandHyperparameters, "cohere.command-light-text-v14:7:4k"),
]


@pytest.mark.parametrize(("cls", "model_id"), CLASSES)
def test_typed_classes_agree_with_the_catalog(cls: type[Hyperparameters], model_id: str) -> None:
    schema = {s.name: s for s in catalog.get(model_id).hyperparameters}
    fields = {f.alias: f for f in cls.model_fields.values()}
    assert set(fields) == set(schema)
    for alias, field in fields.items():
        bounds = {type(m).__name__: m for m in field.metadata}
        lo = getattr(bounds.get("Ge"), "ge", None)
        hi = getattr(bounds.get("Le"), "le", None)
        assert (lo, hi) == (schema[alias].min, schema[alias].max), alias


def test_typed_class_serialises_to_bedrock_strings() -> None:
    hp = ClaudeHaikuHyperparameters(epoch_count=3, learning_rate_multiplier=0.5, early_stopping_patience=2)
    assert hp.to_service() == {"epochCount": "3", "learningRateMultiplier": "0.5", "earlyStoppingPatience": "2"}
    assert ClaudeHaikuHyperparameters(epochCount=4).to_dict() == {"epochCount": 4}  # service names accepted


def test_dicts_are_checked_against_the_same_schema() -> None:
    schema = catalog.get("anthropic.claude-3-haiku-20240307-v1:0:200k").hyperparameters
    assert validate_hyperparameters({"epochCount": "3", "batchSize": 8.0}, schema) == {"epochCount": 3, "batchSize": 8}
    with pytest.raises(HyperparameterError, match=r"'batchSize'.*outside the allowed range \[4, 256\]"):
        validate_hyperparameters({"batchSize": 2}, schema)
    with pytest.raises(HyperparameterError, match="did you mean 'epochCount'"):
        validate_hyperparameters({"epochcount": 2}, schema)
    with pytest.raises(HyperparameterError, match="must be of type int"):
        validate_hyperparameters({"epochCount": "two"}, schema)
    with pytest.raises(HyperparameterError, match="must be of type int"):
        validate_hyperparameters({"epochCount": True}, schema)
    with pytest.raises(ValueError):  # HyperparameterError is a ValueError
        validate_hyperparameters({"learningRateMultiplier": float("nan")}, schema)


def test_typed_instance_is_accepted_and_no_schema_passes_through() -> None:
    schema = catalog.get("amazon.nova-micro-v1:0:128k").hyperparameters
    assert validate_hyperparameters(NovaHyperparameters(epoch_count=2), schema) == {"epochCount": 2}
    assert validate_hyperparameters({"anything": 1}, None) == {"anything": 1}


def test_format_service_value() -> None:
    assert format_service_value(True) == "true"
    assert format_service_value(1e-5) == "0.00001"  # as the AWS samples write it, not "1e-05"
    assert format_service_value(2.0) == "2"  # Java's Integer.parseInt rejects "2.0"
    assert format_service_value(7) == "7"
    with pytest.raises(ConfigurationError, match="not a finite number"):
        format_service_value(float("nan"))


def test_one_serialiser_for_every_backend() -> None:
    """Bedrock's request builder and the typed classes write the same strings (they once disagreed on 1e-05)."""
    from finetune_sdk.backends.bedrock.requests import format_hyperparameter

    for value in (2, 2.0, 1e-05, 5e-05, 1e-7, 0.1, True, "Auto"):
        assert format_hyperparameter(value) == format_service_value(value)
    assert NovaHyperparameters(learning_rate=1e-05).to_service()["learningRate"] == "0.00001"
