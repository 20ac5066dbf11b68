"""The script-mode entry script (``sm_entry.py``), exercised on a fake ``/opt/ml`` tree: no container, no
GPU."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from finetune_sdk.backends.base import JobKind
from finetune_sdk.backends.sagemaker import sm_entry
from finetune_sdk.backends.sagemaker.metrics import parse_metric_lines
from finetune_sdk.data.records import Conversation
from finetune_sdk.training._run import RunDir

pytestmark = pytest.mark.sagemaker

HPS = {
    "sagemaker_program": '"sm_entry.py"',
    "finetune_sdk_kind": '"fine_tuning"',
    "finetune_sdk_base_model": '"meta-llama/Llama-3.2-1B"',
    "finetune_sdk_job_name": '"aqua-script"',
    "finetune_sdk_output_model_name": '"aqua-model"',
    "finetune_sdk_hyperparameters": '{"epochCount": 2, "method": "lora"}',
    "finetune_sdk_processes_per_host": '"auto"',
    "plain": "not json",
}


def test_hyperparameters_are_json_decoded(tmp_path: Path) -> None:
    path = tmp_path / "hyperparameters.json"
    path.write_text(json.dumps(HPS))
    hps = sm_entry.load_hyperparameters(path)
    assert hps["finetune_sdk_hyperparameters"] == {"epochCount": 2, "method": "lora"}
    assert hps["sagemaker_program"] == "sm_entry.py" and hps["plain"] == "not json"
    from_env = sm_entry.load_hyperparameters(tmp_path / "missing.json", {"SM_HPS": json.dumps({"a": "1"})})
    assert from_env == {"a": 1}


def test_cluster_from_resource_config_or_environment(tmp_path: Path) -> None:
    config = tmp_path / "resourceconfig.json"
    config.write_text(json.dumps({"current_host": "algo-2", "hosts": ["algo-2", "algo-1"]}))
    assert sm_entry.cluster(config) == (["algo-1", "algo-2"], "algo-2")
    env = {"SM_HOSTS": '["algo-1", "algo-2", "algo-3"]', "SM_CURRENT_HOST": "algo-3"}
    assert sm_entry.cluster(tmp_path / "none.json", env) == (["algo-1", "algo-2", "algo-3"], "algo-3")
    assert sm_entry.cluster(tmp_path / "none.json", {}) == (["algo-1"], "algo-1")


def test_worker_command_across_nodes() -> None:
    hosts = ["algo-1", "algo-2", "algo-3"]
    first = sm_entry.worker_command(hosts=hosts, current_host="algo-1", nproc_per_node=8, run_dir="/r")
    third = sm_entry.worker_command(
        hosts=hosts, current_host="algo-3", nproc_per_node=8, run_dir="/r", torchrun=None, python="python3"
    )
    assert first[first.index("--node_rank") + 1] == "0" and third[third.index("--node_rank") + 1] == "2"
    assert third[:3] == ["python3", "-m", "torch.distributed.run"]
    assert third[third.index("--master_addr") + 1] == "algo-1" and third[third.index("--nnodes") + 1] == "3"
    with pytest.raises(ValueError, match="not among"):
        sm_entry.worker_command(hosts=hosts, current_host="algo-9", nproc_per_node=1, run_dir="/r")


def test_process_plan_refuses_what_a_single_process_trainer_cannot_do() -> None:
    assert sm_entry.plan_processes(["algo-1"], "auto", 4, distributed=False) == 1
    assert sm_entry.plan_processes(["algo-1"], "auto", 4, distributed=True) == 4
    assert sm_entry.plan_processes(["algo-1", "algo-2"], 2, 4, distributed=True) == 2
    with pytest.raises(RuntimeError, match="one process"):
        sm_entry.plan_processes(["algo-1", "algo-2"], "auto", 4, distributed=False)
    with pytest.raises(RuntimeError, match="processes_per_host=1"):
        sm_entry.plan_processes(["algo-1"], 4, 4, distributed=False)
    assert sm_entry.processes_per_host("auto", 0) == 1


def test_this_trainer_runs_multi_instance_multi_gpu_jobs() -> None:
    assert sm_entry.trainer_is_distributed() is True
    distributed = sm_entry.trainer_is_distributed()
    assert sm_entry.plan_processes(["algo-1", "algo-2"], "auto", 4, distributed=distributed) == 4
    assert sm_entry.plan_processes(["algo-1", "algo-2"], "auto", 0, distributed=distributed) == 1
    assert sm_entry.plan_processes(["algo-1"], 2, 0, distributed=distributed) == 2


def test_run_folder_is_a_local_backend_run(tmp_path: Path) -> None:
    channel = tmp_path / "training"
    channel.mkdir()
    record = Conversation.from_pairs("q", "a")
    (channel / "train.jsonl").write_text(json.dumps(record.model_dump(mode="json")) + "\n")
    hps = {k: json.loads(v) if v.startswith(('"', "{")) else v for k, v in HPS.items()}
    run_dir = sm_entry.run_dir_for({"finetune_sdk_checkpoint_dir": str(tmp_path / "ckpt")})
    assert run_dir == tmp_path / "ckpt" / "finetune_sdk_run"
    training = sm_entry.find_data_file(channel)
    assert training is not None
    assert sm_entry.prepare_run_dir(run_dir, hps, training_file=training, validation_file=None) is True
    run = RunDir(run_dir)
    spec = run.read_spec()
    assert spec.kind is JobKind.FINE_TUNING and spec.base_model == "meta-llama/Llama-3.2-1B"
    assert spec.hyperparameters == {"epochCount": 2, "method": "lora"}
    assert spec.training_data == str(run.data_dir / "train.jsonl")
    assert (run.data_dir / "train.jsonl").read_text() == (channel / "train.jsonl").read_text()
    # a restarted (spot) job finds its run and resumes instead of starting over
    assert sm_entry.prepare_run_dir(run_dir, hps, training_file=training, validation_file=None) is False


def test_find_data_file(tmp_path: Path) -> None:
    assert sm_entry.find_data_file(tmp_path / "absent") is None
    (tmp_path / "a.jsonl").write_text("{}\n")
    assert sm_entry.find_data_file(tmp_path) == tmp_path / "a.jsonl"
    (tmp_path / "b.jsonl").write_text("{}\n")
    with pytest.raises(RuntimeError, match="several"):
        sm_entry.find_data_file(tmp_path)


def test_outputs_metrics_and_failure_file(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    (run.path / "output" / "model").mkdir(parents=True)
    (run.path / "output" / "model" / "config.json").write_text("{}")
    (run.path / "output" / "adapter").mkdir()
    (run.path / "output" / "adapter" / "adapter_config.json").write_text("{}")
    run.append_metrics({"step": 10, "epoch": 0.5, "training_loss": 1.5})
    run.append_metrics({"step": 20, "epoch": 1.0, "training_loss": 1.1, "validation_loss": 1.2})

    out = io.StringIO()
    echo = sm_entry.MetricsEcho(run.path, out=out)
    assert echo.flush() == 2 and echo.flush() == 0
    points = parse_metric_lines(out.getvalue().splitlines())
    assert [(p.step, p.training_loss, p.validation_loss) for p in points] == [(10, 1.5, None), (20, 1.1, 1.2)]

    model_dir, data_dir = tmp_path / "opt-ml-model", tmp_path / "opt-ml-output-data"
    copied = sm_entry.publish_outputs(run.path, model_dir=model_dir, output_data_dir=data_dir)
    assert len(copied) == 3
    assert (model_dir / "config.json").exists() and not (model_dir / "adapter").exists()
    assert (data_dir / "adapter" / "adapter_config.json").exists() and (data_dir / "metrics.csv").exists()

    run.update_state(failure_message="CUDA out of memory")
    assert sm_entry.failure_message(run.path, 1) == "CUDA out of memory"
    assert "status 3" in sm_entry.failure_message(tmp_path / "nowhere", 3)


def test_adapter_only_run_publishes_the_adapter_in_the_model_folder(tmp_path: Path) -> None:
    (tmp_path / "run" / "output" / "adapter").mkdir(parents=True)
    (tmp_path / "run" / "output" / "adapter" / "adapter_config.json").write_text("{}")
    sm_entry.publish_outputs(tmp_path / "run", model_dir=tmp_path / "m", output_data_dir=tmp_path / "d")
    assert (tmp_path / "m" / "adapter" / "adapter_config.json").exists()


@pytest.mark.slow
@pytest.mark.local
def test_entry_script_trains_with_the_real_worker_on_cpu(tmp_path: Path) -> None:
    """``sm_entry.py`` end to end in a fake ``/opt/ml`` tree, with the real local worker and a tiny model.

    This is the container side of a script-mode job short of SageMaker itself: hyperparameters and
    resource config as SageMaker writes them, the ``training`` channel as the backend stages it, one process.
    """
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("peft")
    import subprocess
    import sys

    from finetune_sdk.backends.bedrock.preflight import preflight_import
    from finetune_sdk.backends.sagemaker.staging import render_layouts
    from finetune_sdk.export import check_model_files
    from finetune_sdk.training.tiny import build_tiny_model

    model = build_tiny_model(tmp_path / "tiny", hidden_size=32, layers=1, heads=2)
    opt = tmp_path / "opt" / "ml"
    (opt / "input" / "config").mkdir(parents=True)
    (opt / "input" / "data" / "training").mkdir(parents=True)
    records = [Conversation.from_pairs(f"What is {i} plus 1?", str(i + 1)) for i in range(8)]
    rows = render_layouts(records)["records"]
    (opt / "input" / "data" / "training" / "train.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows)
    )
    hps = {
        **HPS,
        "finetune_sdk_base_model": json.dumps(str(model)),
        "finetune_sdk_hyperparameters": json.dumps(
            {"epochCount": 1, "batchSize": 4, "logEverySteps": 1, "maxSequenceLength": 64}
        ),
        "finetune_sdk_checkpoint_dir": json.dumps(str(tmp_path / "checkpoints")),
    }
    (opt / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hps))
    (opt / "input" / "config" / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]})
    )
    root = Path(sm_entry.__file__).resolve().parents[3]
    env = {
        **os.environ,
        "SM_OPT_ML": str(opt),
        "PYTHONPATH": str(root),
        "FINETUNE_SDK_DISABLE_PROGRESS_BARS": "1",
    }
    out = subprocess.run(
        [sys.executable, sm_entry.__file__, "--finetune_sdk_kind", "fine_tuning"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert not (opt / "output" / "failure").exists()

    points = parse_metric_lines(out.stdout.splitlines())
    assert [p.step for p in points] == [1, 2] and all(p.training_loss is not None for p in points)
    files = sorted(p.name for p in (opt / "model").iterdir())
    assert check_model_files(files) == [], files
    assert preflight_import(opt / "model").ok
    assert (opt / "output" / "data" / "metrics.csv").exists()
    assert (opt / "output" / "data" / "adapter" / "adapter_config.json").exists()
