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
    assert m.regions and (m.customizations or m.unverified_customizations) and m.hyperparameters
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


# -- issue 14: a truthful catalog --------------------------------------------------------------------------

#: AWS's supported-models page for fine-tuning (custom-model-supported / custom-model-fine-tuning, versions read
#: 2026-12-03; Nova 2 Lite is left to the reinforcement fine-tuning issue).
AWS_FINE_TUNING = [
    "amazon.nova-canvas-v1:0",
    "amazon.nova-lite-v1:0:300k",
    "amazon.nova-micro-v1:0:128k",
    "amazon.nova-pro-v1:0:300k",
    "amazon.titan-image-generator-v1:0",
    "amazon.titan-image-generator-v2:0",
    "amazon.titan-embed-image-v1:0",
    "amazon.titan-text-express-v1:0:8k",
    "amazon.titan-text-lite-v1:0:4k",
    "amazon.titan-text-premier-v1:0:32k",
    "anthropic.claude-3-haiku-20240307-v1:0:200k",
    "meta.llama3-1-70b-instruct-v1:0:128k",
    "meta.llama3-1-8b-instruct-v1:0:128k",
    "meta.llama3-2-11b-instruct-v1:0:128k",
    "meta.llama3-2-1b-instruct-v1:0:128k",
    "meta.llama3-2-3b-instruct-v1:0:128k",
    "meta.llama3-2-90b-instruct-v1:0:128k",
]


def test_every_model_aws_lists_for_fine_tuning_is_in_the_catalog() -> None:
    offered = {m.id for m in catalog.all_models(customization="FINE_TUNING")}
    assert offered == set(AWS_FINE_TUNING)  # nothing more is offered, nothing is missing


def test_every_entry_cites_a_source_and_a_date() -> None:
    import re

    for m in catalog.all_models():
        assert m.sources and all(s.strip() for s in m.sources), m.id
        assert any(s.startswith("https://docs.aws.amazon.com/") for s in m.sources), m.id
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", m.date) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", m.prices.date)
        if m.customizations and m.id in AWS_FINE_TUNING:
            assert any("custom-model-supported" in s for s in m.sources), m.id
        if m.unverified_customizations or m.data_support == "not_built":
            assert m.support_note, m.id


def test_llama_3_3_fine_tuning_is_unverified_and_refused_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune_sdk import Dataset, Job
    from finetune_sdk.catalog import ALLOW_UNVERIFIED_ENV
    from finetune_sdk.errors import ConfigurationError
    from finetune_sdk.testing import FakeBackend

    m = catalog.get("meta.llama3-3-70b-instruct-v1:0:128k")
    assert m.customizations == ("DISTILLATION",) and m.unverified_customizations == ("FINE_TUNING",)
    monkeypatch.delenv(ALLOW_UNVERIFIED_ENV, raising=False)
    assert not m.supports("FINE_TUNING")
    rows = [
        {
            "schemaVersion": "bedrock-conversation-2024",
            "messages": [
                {"role": "user", "content": [{"text": f"q{i}"}]},
                {"role": "assistant", "content": [{"text": "a"}]},
            ],
        }
        for i in range(120)
    ]
    with pytest.raises(ConfigurationError, match=ALLOW_UNVERIFIED_ENV):
        Job.fine_tune(model=m.id, train=Dataset.from_records(rows), backend=FakeBackend())
    monkeypatch.setenv(ALLOW_UNVERIFIED_ENV, "1")
    assert m.supports("FINE_TUNING")
    assert Job.fine_tune(model=m.id, train=Dataset.from_records(rows), backend=FakeBackend()).spec is not None


def test_image_and_embedding_models_are_listed_but_their_data_format_is_not_built() -> None:
    from finetune_sdk import Dataset
    from finetune_sdk.data.prepare import prepare_job_data
    from finetune_sdk.errors import UnsupportedOperationError

    for mid in ("amazon.titan-image-generator-v2:0", "amazon.titan-embed-image-v1:0", "amazon.nova-canvas-v1:0"):
        m = catalog.get(mid)
        assert m.supports("FINE_TUNING") and m.data_support == "not_built"
        data = Dataset.from_records([{"image-ref": "s3://b/a.png", "caption": "a cat"}])
        with pytest.raises(UnsupportedOperationError, match="does not build or validate the image-caption"):
            data.validate(for_model=mid)
        with pytest.raises(UnsupportedOperationError, match="pass its s3:// URI"):
            prepare_job_data(data, None, mid, purpose="fine_tuning", allow_lossy=False)
        # a hand-prepared URI goes through
        assert prepare_job_data("s3://b/train.jsonl", None, mid, purpose="fine_tuning", allow_lossy=False)[0]


def test_distillation_pairs_follow_the_aws_table() -> None:
    """prequisites-model-distillation: 405B -> 3.1 8B/70B, 3.2 1B, 3.3 70B; 3.1 70B and 3.3 70B (profile) ->
    3.1 8B, 3.2 1B/3B; Nova Pro -> Lite/Micro; Nova Premier -> Lite/Micro/Pro; Claude 3.5 Sonnet -> Haiku."""

    def teachers(mid: str) -> set[str]:
        return {catalog.get(t).id for t in catalog.get(mid).distillation_teachers}

    l405, l70, l33 = (
        "meta.llama3-1-405b-instruct-v1:0",
        "meta.llama3-1-70b-instruct-v1:0:128k",
        "meta.llama3-3-70b-instruct-v1:0:128k",
    )
    assert teachers("meta.llama3-1-8b-instruct-v1:0:128k") == {l405, l70, l33}
    assert teachers("meta.llama3-1-70b-instruct-v1:0:128k") == {l405}
    assert teachers("meta.llama3-2-1b-instruct-v1:0:128k") == {l405, l70, l33}
    assert teachers("meta.llama3-2-3b-instruct-v1:0:128k") == {l70, l33}
    assert teachers("meta.llama3-3-70b-instruct-v1:0:128k") == {l405}
    for student in catalog.all_models(customization="DISTILLATION"):
        assert student.distillation_teachers, student.id
        for t in student.distillation_teachers:
            assert catalog.resolve(t) is not None, (student.id, t)


def test_models_list_customizable_cli(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from finetune_sdk.cli.main import main

    assert main(["models", "list", "--customizable", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(AWS_FINE_TUNING) <= set(rows)
    assert rows["amazon.nova-canvas-v1:0"]["status"] == "data format not built"
    assert rows["meta.llama3-3-70b-instruct-v1:0:128k"]["status"].startswith("unverified FINE_TUNING")
    assert rows["anthropic.claude-3-haiku-20240307-v1:0:200k"]["status"] == "supported"
    assert main(["models", "list", "--customizable"]) == 0
    assert "Titan Multimodal Embeddings G1" in capsys.readouterr().out
