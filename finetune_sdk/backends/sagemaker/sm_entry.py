"""Entry script of script-mode SageMaker training jobs (copied to the root of the job's source tarball).

The SageMaker training toolkit in the Hugging Face / PyTorch training images unpacks the tarball into
``/opt/ml/code``, installs ``requirements.txt`` and runs ``python sm_entry.py`` once on every instance. This
script then:

1. reads the job's hyperparameters (``/opt/ml/input/config/hyperparameters.json``, values JSON-encoded as the
   SDK sent them) and the cluster (``resourceconfig.json``: ``hosts``, ``current_host``; falling back to
   ``SM_HOSTS`` / ``SM_CURRENT_HOST``);
2. prepares a local-backend run folder: ``spec.json`` and the training / validation records copied from the
   ``training`` / ``validation`` channels. With checkpointing the folder lives under ``/opt/ml/checkpoints``,
   which SageMaker syncs to S3 and restores after a spot interruption, so the worker resumes;
3. starts the worker, ``python -m finetune_sdk.training.worker <run_dir>``, directly for one process,
   else through ``torchrun --nnodes <hosts> --nproc_per_node <N> --node_rank <index of this host>
   --master_addr <first host> --master_port 29500 -m finetune_sdk.training.worker <run_dir>``;
4. on the first host, echoes each new ``metrics.csv`` row as a ``finetune_sdk_metric {...}`` log line (what
   the job's ``MetricDefinitions`` and the SDK's ``job_metrics`` read), then copies the merged model to
   ``/opt/ml/model`` and the adapter and ``metrics.csv`` to ``/opt/ml/output/data``;
5. on failure writes the worker's message to ``/opt/ml/output/failure``, which SageMaker reports as the job's
   ``FailureReason``.

This path is verified offline only (request shape, command construction, folder preparation); it has not run
in a real training container. Everything but :func:`main` is a pure function, tested in
``tests/backends/sagemaker``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

OPT_ML = Path(os.environ.get("SM_OPT_ML", "/opt/ml"))
WORKER_MODULE = "finetune_sdk.training.worker"
MASTER_PORT = 29500


def load_hyperparameters(path: Path | None = None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The job's hyperparameters with JSON-encoded values decoded (plain strings are kept as they are)."""
    env = os.environ if env is None else env
    path = path or OPT_ML / "input" / "config" / "hyperparameters.json"
    text = path.read_text(encoding="utf-8") if path.is_file() else env.get("SM_HPS", "{}")
    raw: Mapping[str, Any] = json.loads(text)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, str):
            try:
                out[key] = json.loads(value)
                continue
            except json.JSONDecodeError:
                pass
        out[key] = value
    return out


def cluster(path: Path | None = None, env: Mapping[str, str] | None = None) -> tuple[list[str], str]:
    """``(hosts, current_host)`` from ``resourceconfig.json``, else ``SM_HOSTS`` / ``SM_CURRENT_HOST``."""
    env = os.environ if env is None else env
    path = path or OPT_ML / "input" / "config" / "resourceconfig.json"
    if path.is_file():
        config = json.loads(path.read_text(encoding="utf-8"))
        hosts = [str(h) for h in config.get("hosts", [])]
        current = str(config.get("current_host", ""))
    else:
        hosts = [str(h) for h in json.loads(env.get("SM_HOSTS", "[]"))]
        current = env.get("SM_CURRENT_HOST", "")
    hosts = sorted(hosts) or [current or "algo-1"]
    return hosts, current or hosts[0]


def detect_gpus(env: Mapping[str, str] | None = None) -> int:
    """GPUs on this instance: ``SM_NUM_GPUS`` when the toolkit set it, else ``nvidia-smi -L``, else 0."""
    env = os.environ if env is None else env
    if env.get("SM_NUM_GPUS", "").isdigit():
        return int(env["SM_NUM_GPUS"])
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def processes_per_host(requested: Any, gpus: int) -> int:
    """``requested`` when it is a positive number, else one process per GPU (at least one)."""
    if isinstance(requested, int) and not isinstance(requested, bool) and requested > 0:
        return requested
    if isinstance(requested, str) and requested.isdigit() and int(requested) > 0:
        return int(requested)
    return max(gpus, 1)


def worker_command(
    *,
    hosts: Sequence[str],
    current_host: str,
    nproc_per_node: int,
    run_dir: str | Path,
    python: str = sys.executable,
    torchrun: str | None = "torchrun",
    master_port: int = MASTER_PORT,
) -> list[str]:
    """The command that runs the worker on this host.

    One process in all: the worker itself. Otherwise ``torchrun`` with a static rendezvous on the first host
    (``torchrun=None`` uses ``python -m torch.distributed.run``, the same launcher).

    Examples:
        >>> worker_command(hosts=["algo-1", "algo-2"], current_host="algo-2", nproc_per_node=4, run_dir="/r",
        ...                python="python3")  # doctest: +NORMALIZE_WHITESPACE
        ['torchrun', '--nnodes', '2', '--nproc_per_node', '4', '--node_rank', '1', '--master_addr', 'algo-1',
         '--master_port', '29500', '-m', 'finetune_sdk.training.worker', '/r']
        >>> worker_command(hosts=["algo-1"], current_host="algo-1", nproc_per_node=1, run_dir="/r",
        ...                python="python3")
        ['python3', '-m', 'finetune_sdk.training.worker', '/r']
    """
    hosts = list(hosts)
    if current_host not in hosts:
        raise ValueError(f"current host {current_host!r} is not among the job's hosts {hosts}")
    if len(hosts) == 1 and nproc_per_node == 1:
        return [python, "-m", WORKER_MODULE, str(run_dir)]
    launcher = [torchrun] if torchrun else [python, "-m", "torch.distributed.run"]
    return [
        *launcher,
        "--nnodes",
        str(len(hosts)),
        "--nproc_per_node",
        str(nproc_per_node),
        "--node_rank",
        str(hosts.index(current_host)),
        "--master_addr",
        hosts[0],
        "--master_port",
        str(master_port),
        "-m",
        WORKER_MODULE,
        str(run_dir),
    ]


def trainer_is_distributed() -> bool:
    """Whether the SDK trainer trains across processes: ``SUPPORTS_DISTRIBUTED`` in the light module
    ``finetune_sdk.training._config`` (absent means no: each process would train the whole model)."""
    try:
        from finetune_sdk.training import _config
    except ImportError:
        return False
    return bool(getattr(_config, "SUPPORTS_DISTRIBUTED", False))


def plan_processes(hosts: Sequence[str], requested: Any, gpus: int, *, distributed: bool) -> int:
    """Processes per host to launch, refusing what the trainer cannot do.

    ``"auto"`` means one per GPU when the trainer is distributed, else one. An explicit count above one, or
    several hosts, with a single-process trainer raises ``RuntimeError`` (written to the failure file), since
    every process would otherwise train and write the whole model on its own.
    """
    explicit = requested not in (None, "auto", "")
    nproc = processes_per_host(requested, gpus) if (explicit or distributed) else 1
    if not distributed and (nproc > 1 or len(hosts) > 1):
        raise RuntimeError(
            f"this finetune_sdk trainer runs one process, but the job asks for {len(hosts)} instance(s) x "
            f"{nproc} process(es); use SageMakerOptions(instance_count=1, processes_per_host=1), or a "
            "finetune_sdk version whose trainer supports torchrun "
            "(finetune_sdk.training._config.SUPPORTS_DISTRIBUTED)"
        )
    return nproc


def find_data_file(channel_dir: Path) -> Path | None:
    """The JSONL file of a channel (``train.jsonl`` first, else the only ``*.jsonl``)."""
    if not channel_dir.is_dir():
        return None
    preferred = channel_dir / "train.jsonl"
    if preferred.is_file():
        return preferred
    found = sorted(p for p in channel_dir.rglob("*.jsonl") if p.is_file())
    if len(found) > 1:
        raise RuntimeError(
            f"channel {channel_dir} holds several JSONL files ({[p.name for p in found]}); stage one file "
            "per channel"
        )
    return found[0] if found else None


def run_dir_for(hps: Mapping[str, Any]) -> Path:
    """The run folder: under ``/opt/ml/checkpoints`` with checkpointing (synced to S3), else in ``/tmp``."""
    checkpoint_dir = hps.get("finetune_sdk_checkpoint_dir")
    if checkpoint_dir:
        return Path(str(checkpoint_dir)) / "finetune_sdk_run"
    return Path("/tmp/finetune_sdk_run")


def prepare_run_dir(
    run_dir: Path,
    hps: Mapping[str, Any],
    *,
    training_file: Path,
    validation_file: Path | None,
    now: datetime | None = None,
) -> bool:
    """Write ``spec.json`` and copy the data into ``run_dir`` (a local-backend run folder).

    Returns ``False`` (and leaves the folder alone) when it already holds a run: a restarted spot job resumes.
    """
    from finetune_sdk.backends.base import JobKind, JobSpec
    from finetune_sdk.training._run import RunDir

    run = RunDir(run_dir)
    if run.exists():
        return False
    run.path.mkdir(parents=True, exist_ok=True)
    run.data_dir.mkdir(exist_ok=True)
    train_copy = run.data_dir / "train.jsonl"
    shutil.copyfile(training_file, train_copy)
    validation_copy: Path | None = None
    if validation_file is not None:
        validation_copy = run.data_dir / "validation.jsonl"
        shutil.copyfile(validation_file, validation_copy)
    raw_hps = hps.get("finetune_sdk_hyperparameters") or {}
    if isinstance(raw_hps, str):
        raw_hps = json.loads(raw_hps)
    spec = JobSpec(
        kind=JobKind(str(hps["finetune_sdk_kind"])),
        base_model=str(hps["finetune_sdk_base_model"]),
        name=str(hps.get("finetune_sdk_job_name") or hps.get("sagemaker_job_name") or run.run_id),
        output_model_name=str(hps.get("finetune_sdk_output_model_name") or "model"),
        training_data=str(train_copy),
        validation_data=str(validation_copy) if validation_copy else None,
        hyperparameters=dict(raw_hps),
    )
    run.write_spec(spec, created_at=now or datetime.now(timezone.utc), output_dir=run.path / "output")
    return True


class MetricsEcho:
    """Prints each new ``metrics.csv`` row of a run as a ``finetune_sdk_metric`` line, from a thread."""

    def __init__(self, run_dir: Path, *, interval_s: float = 10.0, out: Any = None) -> None:
        self.run_dir = run_dir
        self.interval_s = interval_s
        self.out = out or sys.stdout
        self._printed: set[tuple[int, float | None, float | None]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="finetune-sdk-metrics", daemon=True)

    def flush(self) -> int:
        """Print the rows not printed yet; returns how many."""
        from finetune_sdk.backends.sagemaker.metrics import format_metric_line
        from finetune_sdk.training._run import RunDir

        count = 0
        try:
            points = RunDir(self.run_dir).read_metrics()
        except (OSError, ValueError):
            return 0
        for p in points:
            key = (p.step, p.training_loss, p.validation_loss)
            if key in self._printed:
                continue
            self._printed.add(key)
            print(
                format_metric_line(
                    p.step,
                    {
                        "epoch": p.epoch,
                        "training_loss": p.training_loss,
                        "validation_loss": p.validation_loss,
                        "perplexity": p.perplexity,
                    },
                ),
                file=self.out,
                flush=True,
            )
            count += 1
        return count

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.flush()

    def __enter__(self) -> MetricsEcho:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval_s + 5)
        self.flush()


def publish_outputs(run_dir: Path, *, model_dir: Path, output_data_dir: Path) -> list[str]:
    """Copy the run's outputs where SageMaker uploads them; returns what was copied (for the log).

    ``output/model/`` (merged weights, config, tokenizer) becomes the content of ``model_dir``, so with
    ``CompressionType=NONE`` the S3 folder ``<job>/output/model/`` is what Bedrock Custom Model Import reads.
    A run that only produced an adapter puts ``adapter/`` under ``model_dir`` (Bedrock export refuses it).
    """
    copied: list[str] = []
    output = run_dir / "output"
    model_dir.mkdir(parents=True, exist_ok=True)
    output_data_dir.mkdir(parents=True, exist_ok=True)
    merged = output / "model"
    adapter = output / "adapter"
    if merged.is_dir():
        shutil.copytree(merged, model_dir, dirs_exist_ok=True)
        copied.append(f"{merged} -> {model_dir}")
        if adapter.is_dir():
            shutil.copytree(adapter, output_data_dir / "adapter", dirs_exist_ok=True)
            copied.append(f"{adapter} -> {output_data_dir / 'adapter'}")
    elif adapter.is_dir():
        shutil.copytree(adapter, model_dir / "adapter", dirs_exist_ok=True)
        copied.append(f"{adapter} -> {model_dir / 'adapter'}")
    metrics = run_dir / "metrics.csv"
    if metrics.is_file():
        shutil.copyfile(metrics, output_data_dir / "metrics.csv")
        copied.append(f"{metrics} -> {output_data_dir / 'metrics.csv'}")
    return copied


def failure_message(run_dir: Path, returncode: int) -> str:
    """What to write to ``/opt/ml/output/failure``: the worker's own message when it left one."""
    try:
        state = json.loads((run_dir / "status.json").read_text(encoding="utf-8"))
        message = state.get("failure_message")
        if message:
            return str(message)[:1000]
    except (OSError, ValueError):
        pass
    return f"the finetune_sdk worker exited with status {returncode}; see the job's CloudWatch logs"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job on this instance (``argv``: the hyperparameters as the toolkit passes them; ignored)."""
    hps = load_hyperparameters()
    hosts, current = cluster()
    first = current == hosts[0]
    try:
        nproc = plan_processes(hosts, hps.get("finetune_sdk_processes_per_host"), detect_gpus(),
                               distributed=trainer_is_distributed())
    except RuntimeError as exc:
        (OPT_ML / "output").mkdir(parents=True, exist_ok=True)
        (OPT_ML / "output" / "failure").write_text(str(exc), encoding="utf-8")
        return 1
    channels = OPT_ML / "input" / "data"
    training = find_data_file(Path(os.environ.get("SM_CHANNEL_TRAINING", channels / "training")))
    if training is None:
        (OPT_ML / "output").mkdir(parents=True, exist_ok=True)
        (OPT_ML / "output" / "failure").write_text(
            "the 'training' channel holds no .jsonl file", encoding="utf-8"
        )
        return 1
    validation = find_data_file(Path(os.environ.get("SM_CHANNEL_VALIDATION", channels / "validation")))
    run_dir = run_dir_for(hps)
    fresh = prepare_run_dir(run_dir, hps, training_file=training, validation_file=validation)
    print(
        f"finetune_sdk: {'new' if fresh else 'resumed'} run in {run_dir}; hosts={hosts} current={current} "
        f"processes_per_host={nproc}",
        flush=True,
    )
    command = worker_command(
        hosts=hosts,
        current_host=current,
        nproc_per_node=nproc,
        run_dir=run_dir,
        torchrun="torchrun" if shutil.which("torchrun") else None,
    )
    print("finetune_sdk: " + " ".join(command), flush=True)
    if first:
        with MetricsEcho(run_dir):
            returncode = subprocess.call(command)
    else:
        returncode = subprocess.call(command)
    if returncode != 0:
        (OPT_ML / "output").mkdir(parents=True, exist_ok=True)
        (OPT_ML / "output" / "failure").write_text(failure_message(run_dir, returncode), encoding="utf-8")
        return returncode
    if first:
        for line in publish_outputs(
            run_dir,
            model_dir=Path(os.environ.get("SM_MODEL_DIR", OPT_ML / "model")),
            output_data_dir=OPT_ML / "output" / "data",
        ):
            print(f"finetune_sdk: copied {line}", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover - runs inside the training container
    sys.exit(main(sys.argv[1:]))
