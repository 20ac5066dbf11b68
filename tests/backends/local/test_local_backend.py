"""One real LoRA fine-tune of a tiny Llama on the CPU, through the Job handle, and what it leaves behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from local_helpers import kill_workers, say_records

from finetune_sdk.backends.base import InferenceConfig, JobStatus
from finetune_sdk.backends.local import LocalBackend
from finetune_sdk.data.dataset import Dataset
from finetune_sdk.errors import ResourceConflictError, ResourceNotFoundError
from finetune_sdk.jobs import Job
from finetune_sdk.models import Model

pytest.importorskip("torch")
pytestmark = pytest.mark.local

HYPERPARAMETERS = {"epochCount": 3, "batchSize": 4, "learningRate": 0.02, "loraRank": 8, "loraAlpha": 16,
                   "loraDropout": 0.0, "logEverySteps": 1, "evalEverySteps": 2, "seed": 7}


@pytest.fixture(scope="module")
def finished(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("local-runs")
    backend = LocalBackend(root=root, device="cpu")
    try:
        job = Job.fine_tune(model=str(tiny_model), train=Dataset.from_records(say_records(24)),
                            validation=Dataset.from_records(say_records(8, offset=3)), backend=backend,
                            hyperparameters=HYPERPARAMETERS)
        job.wait(timeout=600, progress=False)
        yield {"job": job, "backend": backend, "root": root, "base": tiny_model}
    finally:
        kill_workers(root)


@pytest.mark.slow
def test_fine_tune_completes_and_validation_loss_falls(finished: dict[str, Any]) -> None:
    job: Job = finished["job"]
    assert job.status is JobStatus.COMPLETED
    assert job.record.raw_status == "completed"
    assert job.record.progress == 1.0
    points = job.metric_points()
    validation = [p.validation_loss for p in points if p.validation_loss is not None]
    assert len(validation) >= 3
    assert validation[-1] < validation[0] - 0.05, validation
    assert [p.step for p in points] == sorted({p.step for p in points})
    frame = job.metrics()
    assert list(frame.columns) == ["step", "epoch", "training_loss", "validation_loss", "perplexity"]
    assert frame["step"].max() == job.record.raw["total_steps"] == 18  # 24 records / batch 4 * 3 epochs


@pytest.mark.slow
def test_output_folder_has_the_custom_model_import_layout(finished: dict[str, Any]) -> None:
    from finetune_sdk.backends.bedrock.preflight import preflight_import

    model = finished["job"].model
    folder = Path(model.record.uri)
    assert folder == Path(finished["job"].record.output_uri) / "model"
    names = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
            "tokenizer_config.json", "special_tokens_map.json"} <= names
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["torch_dtype"] == "float32"
    tok_config = json.loads((folder / "tokenizer_config.json").read_text())
    assert "<|assistant|>" in tok_config["chat_template"]
    assert tok_config["tokenizer_class"] == "PreTrainedTokenizerFast"
    adapter = folder.parent / "adapter"
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    report = preflight_import(str(folder))
    assert report.ok, str(report)
    assert report.architecture == "LlamaForCausalLM"


@pytest.mark.slow
def test_merged_weights_differ_from_the_base(finished: dict[str, Any]) -> None:
    from safetensors.torch import load_file

    base = load_file(str(finished["base"] / "model.safetensors"))
    tuned = load_file(str(Path(finished["job"].model.record.uri) / "model.safetensors"))
    assert set(base) == set(tuned)
    changed = [k for k in base if not bool((base[k] == tuned[k]).all())]
    assert any("q_proj" in k for k in changed) and not any("embed_tokens" in k for k in changed)


@pytest.mark.slow
def test_attach_from_a_fresh_backend_instance(finished: dict[str, Any]) -> None:
    job: Job = finished["job"]
    attached = Job.attach(job.id, backend=LocalBackend(root=finished["root"]))
    assert attached.status is JobStatus.COMPLETED
    assert attached.record.output_model_id == job.record.output_model_id
    assert attached.metric_points() == job.metric_points()
    assert Job.attach(job.name, backend=LocalBackend(root=finished["root"])).id == job.id
    assert attached.model.record.kind == "local"


@pytest.mark.slow
def test_chat_reports_exact_token_counts(finished: dict[str, Any]) -> None:
    from transformers import AutoTokenizer

    model: Model = finished["job"].model
    answer = model.chat("say plum", max_tokens=12)
    tokenizer = AutoTokenizer.from_pretrained(model.record.uri)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "say plum"}], tokenize=False,
                                           add_generation_prompt=True)
    assert answer.input_tokens == len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert answer.tokens_estimated is False
    assert answer.stop_reason in ("end_turn", "max_tokens")
    assert 1 <= answer.output_tokens <= 12
    assert answer.latency_s > 0
    short = model.chat("say plum", config=InferenceConfig(max_tokens=1))
    assert short.output_tokens == 1
    base = Model.foundation(str(finished["base"]), backend=finished["backend"])
    assert base.record.kind == "foundation"
    reply = base.chat([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}], max_tokens=5)
    assert reply.input_tokens > answer.input_tokens - 10 and reply.output_tokens <= 5


@pytest.mark.slow
def test_plot_metrics_writes_a_png(finished: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "loss.png"
    finished["job"].plot_metrics(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_resubmitting_the_same_request_returns_the_completed_run(finished: dict[str, Any]) -> None:
    job: Job = finished["job"]
    again = Job.fine_tune(model=str(finished["base"]), train=Dataset.from_records(say_records(24)),
                          validation=Dataset.from_records(say_records(8, offset=3)), backend=finished["backend"],
                          hyperparameters=HYPERPARAMETERS)
    assert again.id == job.id and again.status is JobStatus.COMPLETED
    assert job.record.raw["attempt"] == again.record.raw["attempt"] == 1


@pytest.mark.slow
def test_list_describe_and_delete_model(finished: dict[str, Any]) -> None:
    backend: LocalBackend = finished["backend"]
    model = finished["job"].model
    assert model.id in [m.id for m in backend.list_models()]
    assert backend.describe_model(model.record.uri).id == model.id  # by folder too
    assert backend.describe_model(model.name).id == model.id  # and by name
    with pytest.raises(ResourceConflictError):
        backend.delete_model(str(finished["base"]))  # a folder no run produced is never deleted
    model.delete()
    assert not Path(model.record.uri).exists() and not (Path(model.record.uri).parent / "adapter").exists()
    with pytest.raises(ResourceNotFoundError):
        backend.describe_model(model.id)
    assert backend.describe_job(finished["job"].id).status is JobStatus.COMPLETED
