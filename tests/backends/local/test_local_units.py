"""Fast checks of the local backend's parts: hyperparameters, spec checks, encoding, exact resume, no-torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from local_helpers import say_records

from finetune_sdk.backends.base import JobKind, JobSpec, JobStatus
from finetune_sdk.backends.local import LocalBackend
from finetune_sdk.data.dataset import Dataset
from finetune_sdk.data.records import Conversation, TextRecord
from finetune_sdk.errors import (
    BackendNotInstalledError,
    ConfigurationError,
    HyperparameterError,
    UnsupportedOperationError,
)
from finetune_sdk.jobs import Job
from finetune_sdk.training import _deps
from finetune_sdk.training._config import resolve_config
from finetune_sdk.training._encode import (
    DEFAULT_CHAT_TEMPLATE,
    IGNORE_INDEX,
    encode_conversation,
    encode_records,
    ensure_chat_template,
    pack_examples,
)
from finetune_sdk.training._run import RunDir, RunState

pytestmark = pytest.mark.local


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    """Just enough of a model folder for the spec checks (nothing is loaded)."""
    folder = tmp_path / "base"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return folder


# --- hyperparameters and spec checks -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"loraRank": 0}, "outside the allowed range [1, 1024]"),
        ({"learningRate": 2.0}, "'learningRate'"),
        ({"epochs": 3}, "did you mean 'epochCount'"),
        ({"method": "qlora"}, "one of 'lora', 'full'"),
        ({"precision": "fp16"}, "one of 'auto', 'bf16', 'fp32'"),
    ],
)
def test_job_handle_rejects_bad_hyperparameters_before_any_run(
    model_folder: Path, tmp_path: Path, values: dict[str, object], fragment: str
) -> None:
    backend = LocalBackend(root=tmp_path / "runs")
    with pytest.raises(HyperparameterError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        Job.fine_tune(model=str(model_folder), train=Dataset.from_records(say_records(4)), backend=backend,
                      hyperparameters=values)
    assert list(backend.list_jobs()) == []
    assert not any(p.name != "_staged" for p in backend.root.glob("*")) if backend.root.exists() else True


def test_config_defaults_follow_the_kind() -> None:
    ft = resolve_config({}, JobKind.FINE_TUNING)
    cpt = resolve_config({}, JobKind.CONTINUED_PRE_TRAINING)
    assert (ft.method, ft.packing, ft.train_on_inputs, ft.lora_rank) == ("lora", False, False, 16)
    assert (cpt.packing, cpt.train_on_inputs) == (True, True)
    assert resolve_config({"loraTargetModules": "q_proj, v_proj"}, JobKind.FINE_TUNING).target_modules == [
        "q_proj", "v_proj"]
    schema = {s.name: s for s in LocalBackend(root="/nonexistent").hyperparameter_schema("x", JobKind.FINE_TUNING)
              or []}
    assert schema["epochCount"].min == 1 and schema["packing"].type == "bool"
    assert LocalBackend(root="/nonexistent").hyperparameter_schema("x", JobKind.DISTILLATION) is None


def _spec(model: str, data: str | None, **changes: object) -> JobSpec:
    values: dict[str, object] = {"kind": JobKind.FINE_TUNING, "base_model": model, "name": "n",
                                 "output_model_name": "m", "training_data": data}
    values.update(changes)
    return JobSpec.model_validate(values)


def test_check_spec_refuses_what_the_worker_cannot_run(model_folder: Path, tmp_path: Path) -> None:
    backend = LocalBackend(root=tmp_path / "runs")
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps(say_records(1)[0].model_dump(mode="json")) + "\n")
    backend.check_spec(_spec(str(model_folder), str(data)))  # fine
    backend.check_spec(_spec("HuggingFaceTB/SmolLM2-135M", f"file://{data}"))  # a hub id is fine too
    with pytest.raises(ConfigurationError, match="not a file on this machine"):
        backend.check_spec(_spec(str(model_folder), "s3://bucket/train.jsonl"))
    with pytest.raises(ConfigurationError, match="Bedrock model ids only train on the bedrock backend"):
        backend.check_spec(_spec("amazon.nova-micro-v1:0:128k", str(data)))
    with pytest.raises(ConfigurationError, match=r"without config\.json"):
        backend.check_spec(_spec(str(tmp_path), str(data)))
    with pytest.raises(ConfigurationError, match="not a local folder"):
        backend.check_spec(_spec(str(model_folder), str(data), output_uri="s3://bucket/out/"))
    with pytest.raises(UnsupportedOperationError, match="Distiller"):
        backend.check_spec(_spec(str(model_folder), str(data), kind=JobKind.DISTILLATION,
                                 teacher={"model_id": "t"}))
    with pytest.raises(ValueError, match=r"LocalBackend\(device="):
        LocalBackend(root=tmp_path, device="tpu")


def test_missing_torch_is_reported_with_the_install_line(
    model_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _deps.find_spec
    monkeypatch.setattr(_deps, "find_spec", lambda name: None if name == "torch" else real(name))
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    backend = LocalBackend(root=tmp_path / "runs")
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps(say_records(1)[0].model_dump(mode="json")) + "\n")
    with pytest.raises(BackendNotInstalledError) as caught:
        backend.submit_job(_spec(str(model_folder), str(data)))
    assert str(caught.value) == ("the local backend needs torch to train a model, but it is not installed. "
                                 "Fix: pip install 'finetune-sdk[local]'")
    assert list(backend.list_jobs()) == []


def test_registry_loads_the_backend_without_importing_torch(tmp_path: Path) -> None:
    code = ("import sys; from finetune_sdk import backends; b = backends.get('local', root=sys.argv[1]); "
            "list(b.list_jobs()); heavy = [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]; "
            "print(b.name, heavy)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "local []"


# --- run folder ------------------------------------------------------------------------------------------
def test_a_dead_worker_shows_as_failed_with_a_resume_hint(model_folder: Path, tmp_path: Path) -> None:
    backend = LocalBackend(root=tmp_path / "runs")
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps(say_records(1)[0].model_dump(mode="json")) + "\n")
    spec = _spec(str(model_folder), str(data))
    run = RunDir(backend.root / backend.run_id_for(spec))
    run.path.mkdir(parents=True)
    run.write_spec(spec, created_at=backend.clock.now(), output_dir=run.path / "output")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    run.write_state(RunState(status=JobStatus.RUNNING, raw_status="training", pid=gone.pid, step=3,
                             total_steps=10))
    record = backend.describe_job(run.run_id)
    assert record.status is JobStatus.FAILED and record.raw_status == "worker_exited"
    assert "at step 3/10" in (record.failure_message or "")
    assert "from the start (no checkpoint was saved yet)" in (record.failure_message or "")
    backend.stop_job(run.run_id)  # stopping a dead run marks it stopped
    assert backend.describe_job(run.run_id).status is JobStatus.STOPPED
    assert backend.run_id_for(spec) == LocalBackend(root=tmp_path / "elsewhere").run_id_for(spec)


# --- encoding --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tokenizer() -> object:
    pytest.importorskip("transformers")
    from finetune_sdk.training.tiny import build_tokenizer

    return build_tokenizer()


def test_only_assistant_tokens_are_learned(tokenizer: object) -> None:
    conv = Conversation.from_pairs("hi", "yo", "again", "ok", system="sys")
    example, truncated = encode_conversation(tokenizer, conv, max_length=512)
    assert example is not None and not truncated
    learned = [t for t in example.labels if t != IGNORE_INDEX]
    decode = tokenizer.decode  # type: ignore[attr-defined]
    assert decode(learned) == "yo<|end|>ok<|end|>"
    assert len(example.labels) == len(example.input_ids)
    everything, _ = encode_conversation(tokenizer, conv, max_length=512, train_on_inputs=True)
    assert everything is not None and everything.labels == everything.input_ids
    cut, truncated = encode_conversation(tokenizer, conv, max_length=8)
    assert cut is None and truncated  # nothing left to learn after truncation


def test_default_template_for_tokenizers_without_one(tokenizer: object) -> None:
    import copy

    bare = copy.deepcopy(tokenizer)
    bare.chat_template = None  # type: ignore[attr-defined]
    assert ensure_chat_template(bare) and bare.chat_template == DEFAULT_CHAT_TEMPLATE  # type: ignore[attr-defined]
    example, _ = encode_conversation(bare, Conversation.from_pairs("q", "answer"), max_length=512)
    assert example is not None
    assert bare.decode([t for t in example.labels if t != IGNORE_INDEX]) == "answer<|end|>"  # type: ignore[attr-defined]


def test_packing(tokenizer: object) -> None:
    convs = [Conversation.from_pairs(f"q{i}", "a" * (i + 1)) for i in range(6)]
    plain = encode_records(tokenizer, convs, max_length=64, train_on_inputs=False, packing=False).examples
    packed = pack_examples(plain, 64)
    assert len(packed) < len(plain)
    assert sum(len(p.input_ids) for p in packed) == sum(len(e.input_ids) for e in plain)
    for p in packed:
        assert p.position_ids is not None and p.position_ids[0] == 0 and len(p.input_ids) <= 64
        assert p.position_ids.count(0) >= 1
    assert sorted(t for p in packed for t in p.labels) == sorted(t for e in plain for t in e.labels)
    texts = [TextRecord(text="x" * 100), TextRecord(text="y" * 30)]
    blocks = encode_records(tokenizer, texts, max_length=32, train_on_inputs=True, packing=True).examples
    assert [len(b.input_ids) for b in blocks] == [32, 32, 32, 32, 6]  # 134 tokens with BOS/EOS, cut in blocks
    chunks = encode_records(tokenizer, texts, max_length=32, train_on_inputs=True, packing=False).examples
    assert [len(b.input_ids) for b in chunks] == [32, 32, 32, 6, 32]


# --- the trainer, in process ------------------------------------------------------------------------------
@pytest.mark.slow
def test_resume_continues_exactly_where_it_stopped(tiny_model: Path, tmp_path: Path) -> None:
    import torch

    from finetune_sdk.training._trainer import NullHooks, Trainer

    config = resolve_config({"epochCount": 2, "batchSize": 4, "learningRate": 0.01, "loraDropout": 0.2,
                             "logEverySteps": 1, "saveEverySteps": 0}, JobKind.FINE_TUNING)  # LoRA, 6 steps

    class StopAt(NullHooks):
        def __init__(self, step: int) -> None:
            self.step = 0
            self.at = step

        def should_stop(self) -> bool:
            return self.step >= self.at

        def on_step_end(self, step: int) -> None:
            self.step = step

    def trainer(run: RunDir | None, hooks: NullHooks) -> Trainer:
        return Trainer(base_model=str(tiny_model), kind=JobKind.FINE_TUNING, config=config,
                       train_records=say_records(12), validation_records=say_records(4), run=run, hooks=hooks,
                       device="cpu")

    straight = trainer(None, NullHooks())
    assert straight.train().step == 6
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    first = trainer(run, StopAt(4)).train()
    assert first.outcome == "stopped" and first.step == 4 and run.latest_checkpoint() is not None
    resumed = trainer(run, NullHooks())
    result = resumed.train()
    assert result.outcome == "completed" and result.resumed_from_step == 4 and result.step == 6
    expected = {n: p for n, p in straight.model.named_parameters() if p.requires_grad}
    for name, param in resumed.model.named_parameters():
        if param.requires_grad:
            assert torch.equal(param, expected[name]), name  # same data order, optimizer state and dropout RNG


def test_outputs_written_to_output_uri_are_found_by_folder(model_folder: Path, tmp_path: Path) -> None:
    backend = LocalBackend(root=tmp_path / "runs")
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps(say_records(1)[0].model_dump(mode="json")) + "\n")
    spec = _spec(str(model_folder), str(data), output_uri=f"file://{tmp_path / 'out'}")
    run = RunDir(backend.root / backend.run_id_for(spec))
    run.path.mkdir(parents=True)
    output_dir = tmp_path / "out" / run.run_id
    run.write_spec(spec, created_at=backend.clock.now(), output_dir=output_dir)
    run.write_state(RunState(status=JobStatus.COMPLETED, raw_status="completed", step=1, total_steps=1))
    (output_dir / "model").mkdir(parents=True)
    (output_dir / "model" / "config.json").write_text("{}")
    record = backend.describe_job(run.run_id)
    assert record.output_model_id == f"model-{run.run_id}" and record.output_uri == str(output_dir)
    by_folder = backend.describe_model(str(output_dir / "model"))
    assert by_folder.kind == "local" and by_folder.id == record.output_model_id
    assert [m.id for m in backend.list_models()] == [record.output_model_id]
    assert backend.describe_model(str(model_folder)).kind == "foundation"  # any other model folder


def test_checkpoint_state_loads_with_weights_only(tmp_path: Path) -> None:
    """Optimizer, scheduler and RNG state round-trip through ``torch.load(weights_only=True)`` (issue 11)."""
    torch = pytest.importorskip("torch")
    from finetune_sdk.training._trainer import _linear_schedule

    param = torch.nn.Parameter(torch.ones(3, 2))
    optimizer = torch.optim.AdamW([param], lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_schedule(2, 10))
    param.grad = torch.ones_like(param)
    optimizer.step()
    scheduler.step()
    torch.save(optimizer.state_dict(), tmp_path / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp_path / "scheduler.pt")
    torch.save({"cpu": torch.get_rng_state()}, tmp_path / "rng.pt")
    opt_state = torch.load(tmp_path / "optimizer.pt", weights_only=True)
    sched_state = torch.load(tmp_path / "scheduler.pt", weights_only=True)
    rng = torch.load(tmp_path / "rng.pt", weights_only=True)
    restored = torch.optim.AdamW([torch.nn.Parameter(torch.ones(3, 2))], lr=1e-3)
    restored.load_state_dict(opt_state)
    assert torch.equal(restored.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
    assert sched_state["last_epoch"] == 1
    assert torch.equal(rng["cpu"], torch.get_rng_state())
    import ast

    source = Path(__file__).parents[3] / "finetune_sdk" / "training" / "_trainer.py"
    loads = [node for node in ast.walk(ast.parse(source.read_text(encoding="utf-8")))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
             and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"]
    assert len(loads) == 3
    for call in loads:
        flags = {k.arg: k.value for k in call.keywords}
        assert isinstance(flags.get("weights_only"), ast.Constant) and flags["weights_only"].value is True


def test_selected_logits_give_the_same_loss_and_lora_layers_limit_the_adapter(tiny_model: Path) -> None:
    """Logits only where a row has a target: the same loss as the full computation, to float precision."""
    torch = pytest.importorskip("torch")
    from finetune_sdk.training._trainer import Trainer, collate, forward_loss_sum

    config = resolve_config({"method": "lora", "loraLayers": 1, "maxSteps": 1}, JobKind.FINE_TUNING)
    trainer = Trainer(base_model=str(tiny_model), kind=JobKind.FINE_TUNING, config=config,
                      train_records=say_records(6), device="cpu")
    assert trainer.select_logits
    batch = collate(trainer.train_set.examples[:4], int(trainer.tokenizer.pad_token_id))
    keep = (batch.targets != -100).any(dim=0)
    assert not bool(keep.all())  # the prompt positions carry no targets, so something is skipped
    with torch.no_grad():
        full = forward_loss_sum(trainer.model, batch, select_logits=False)
        selected = forward_loss_sum(trainer.model, batch, select_logits=True)
    assert float(full) == pytest.approx(float(selected), rel=1e-5)
    adapted = {n.split(".layers.")[1].split(".")[0] for n, p in trainer.model.named_parameters()
               if p.requires_grad and ".layers." in n}
    assert adapted == {"0"}  # the tiny model has one layer: the last 1 is layer 0


def test_lora_layers_adapts_only_the_last_layers(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from finetune_sdk.training._trainer import Trainer
    from finetune_sdk.training.tiny import build_tiny_model

    folder = build_tiny_model(tmp_path / "m3", hidden_size=32, layers=3, heads=2, seed=0)
    config = resolve_config({"method": "lora", "loraLayers": 2, "maxSteps": 1}, JobKind.FINE_TUNING)
    trainer = Trainer(base_model=str(folder), kind=JobKind.FINE_TUNING, config=config,
                      train_records=say_records(4), device="cpu")
    adapted = {n.split(".layers.")[1].split(".")[0] for n, p in trainer.model.named_parameters()
               if p.requires_grad and ".layers." in n}
    assert adapted == {"1", "2"}


def test_transformers_progress_bars_follow_the_sdk_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("transformers")
    from transformers.utils import logging as hf_logging

    from finetune_sdk.training._hf_progress import transformers_progress

    hf_logging.enable_progress_bar()
    monkeypatch.setenv("FINETUNE_SDK_DISABLE_PROGRESS_BARS", "1")
    with transformers_progress():
        assert not hf_logging.is_progress_bar_enabled()
    assert hf_logging.is_progress_bar_enabled()  # restored after the block
    monkeypatch.setenv("FINETUNE_SDK_DISABLE_PROGRESS_BARS", "0")  # forced on (unset: only on a terminal)
    with transformers_progress():
        assert hf_logging.is_progress_bar_enabled()


def test_the_old_tiny_module_warns_on_use_not_on_import() -> None:
    import importlib
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module = importlib.import_module("finetune_sdk.backends.local.tiny")
    with pytest.warns(DeprecationWarning, match="moved to finetune_sdk.training.tiny"):
        from finetune_sdk.backends.local.tiny import build_tiny_model
    from finetune_sdk.training.tiny import build_tiny_model as current

    assert build_tiny_model is current
    with pytest.raises(AttributeError):
        _ = module.nothing_here
