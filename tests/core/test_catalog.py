from __future__ import annotations

import pytest

from finetune_sdk import catalog
from finetune_sdk.errors import CatalogError

REQUIRED = [
    "anthropic.claude-3-haiku-20240307-v1:0:200k",
    "meta.llama3-1-8b-instruct-v1:0:128k",
    "meta.llama3-1-70b-instruct-v1:0:128k",
    "meta.llama3-2-1b-instruct-v1:0:128k",
    "meta.llama3-2-3b-instruct-v1:0:128k",
    "meta.llama3-2-11b-instruct-v1:0:128k",
    "meta.llama3-2-90b-instruct-v1:0:128k",
    "meta.llama3-3-70b-instruct-v1:0:128k",
    "amazon.nova-micro-v1:0:128k",
    "amazon.nova-lite-v1:0:300k",
    "amazon.nova-pro-v1:0:300k",
    "amazon.titan-text-express-v1:0:8k",
    "amazon.titan-text-lite-v1:0:4k",
    "amazon.titan-text-premier-v1:0:32k",
    "cohere.command-text-v14:7:4k",
    "cohere.command-light-text-v14:7:4k",
]


@pytest.mark.parametrize("model_id", REQUIRED)
def test_every_required_model_is_complete(model_id: str) -> None:
    m = catalog.get(model_id)
    assert m.id == model_id
    assert m.regions and m.customizations and m.hyperparameters
    assert m.sources and m.date and m.prices.date and m.prices.source
    assert m.format in {"bedrock_messages", "bedrock_conversation", "prompt_completion"}
    names = [h.name for h in m.hyperparameters]
    assert "epochCount" in names
    for spec in m.hyperparameters:
        assert spec.min is None or spec.max is None or spec.min <= spec.max
        if isinstance(spec.default, (int, float)) and spec.min is not None and spec.max is not None:
            assert spec.min <= spec.default <= spec.max, spec


def test_claude_haiku_matches_the_documented_table() -> None:
    m = catalog.get("anthropic.claude-3-haiku-20240307-v1:0:200k")
    got = {h.name: (h.min, h.max, h.default) for h in m.hyperparameters}
    assert got == {
        "epochCount": (1, 10, 2),
        "batchSize": (4, 256, 32),
        "learningRateMultiplier": (0.1, 2.0, 1.0),
        "earlyStoppingThreshold": (0.0, 0.1, 0.001),
        "earlyStoppingPatience": (1, 10, 2),
    }
    assert m.limits.min_train_records == 32 and m.limits.max_total_records == 10000
    assert "\nHuman:" in m.limits.reserved_strings


def test_lookup_by_runtime_id_arn_and_fragment() -> None:
    assert catalog.get("anthropic.claude-3-haiku-20240307-v1:0").id.endswith(":200k")
    arn = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0"
    assert catalog.get(arn).id == "amazon.nova-micro-v1:0:128k"
    assert catalog.get("nova-lite").id == "amazon.nova-lite-v1:0:300k"
    assert catalog.resolve("arn:aws:bedrock:us-west-2:123456789012:custom-model/x/abc") is None


def test_unknown_and_ambiguous_ids_say_what_to_do() -> None:
    with pytest.raises(CatalogError, match=r"not in the finetune_sdk catalog.*Did you mean"):
        catalog.get("anthropic.claude-3-haiku-20250307-v1:0")
    with pytest.raises(CatalogError, match="ambiguous"):
        catalog.get("llama3-2")
    with pytest.raises(LookupError):  # CatalogError is a LookupError too
        catalog.get("nope")


def test_filter_by_customization_and_distillation_pairs() -> None:
    cpt = {m.id for m in catalog.all_models(customization="CONTINUED_PRE_TRAINING")}
    assert "amazon.titan-text-express-v1:0:8k" in cpt and "anthropic.claude-3-haiku-20240307-v1:0:200k" not in cpt
    micro = catalog.get("amazon.nova-micro-v1:0:128k")
    assert any("nova-pro" in t for t in micro.distillation_teachers)


def test_catalog_json_is_generated_from_the_tool(tmp_path) -> None:
    """models.json must be what tools/build_catalog.py writes (the tool is the one place to edit)."""
    import json
    import runpy
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    tool = root / "tools" / "build_catalog.py"
    current = json.loads((root / "finetune_sdk" / "catalog" / "models.json").read_text())
    namespace = runpy.run_path(str(tool), run_name="not_main_but_runs")  # writes the same file again
    regenerated = json.loads((root / "finetune_sdk" / "catalog" / "models.json").read_text())
    assert namespace["models"] and current == regenerated
