"""``Job.reinforce``: a reinforcement fine-tuning job from one reward function (issue 17)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_sdk.errors import ConfigurationError, UnsupportedOperationError
from finetune_sdk.specs import JobKind, JobSpec

if TYPE_CHECKING:
    from finetune_sdk.backends.base import Backend
    from finetune_sdk.data.dataset import Dataset
    from finetune_sdk.reward._function import RewardFunction
    from finetune_sdk.specs import BackendOptions

__all__ = ["reinforce_spec", "rft_lines"]


def rft_lines(data: Dataset | Iterable[Mapping[str, Any]]) -> list[Any]:
    """The RFT JSONL lines of ``data``: the objects a Dataset was read from (``reference_answer``, ``id`` and
    extra fields kept as they are), or canonical records with their metadata back at the top level."""
    from finetune_sdk.data._rft_rules import record_to_line
    from finetune_sdk.data.dataset import Dataset

    if isinstance(data, Dataset):
        if data._raw is not None:
            return list(data._raw)
        if data._path is not None:
            from finetune_sdk.data.io import iter_jsonl

            return [
                jl.value
                for jl in iter_jsonl(data._path, session=data._session, endpoint_url=data._endpoint_url)
                if jl.value is not None
            ]
        return [record_to_line(r) for r in data.records]
    return [dict(row) for row in data]


def _stage(be: Backend, lines: list[Any], *, output_uri: str | None, name: str) -> str:
    from finetune_sdk.data.upload import upload_file

    base = (output_uri or getattr(be, "output_uri", None) or "").rstrip("/")
    if not base.startswith("s3://"):
        raise ConfigurationError(
            f"the {be.name} backend needs an S3 location to stage the RFT prompts: pass output_uri='s3://bucket/prefix'"
        )
    with tempfile.TemporaryDirectory(prefix="finetune-rft-") as tmp:
        path = Path(tmp) / f"{name}.jsonl"
        path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
        return upload_file(
            path,
            f"{base}/data/",
            session=getattr(be, "session", None),
            endpoint_url=getattr(be, "s3_endpoint_url", None),
        )


def _default_name(model: str, payload: Mapping[str, Any]) -> str:
    """``rft-<model slug>-<digest>``: derived from the request, so a rerun is idempotent (like ``Job``'s names)."""
    import hashlib
    import re

    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:10]
    tail = re.sub(r"^(amazon|us|eu|apac)\.", "", model.rsplit("/", 1)[-1])
    slug = re.sub(r"[^a-z0-9]+", "-", tail.lower()).strip("-")[:36].strip("-") or "model"
    return f"rft-{slug}-{digest}"


def _fingerprint(dataset: Dataset) -> str:
    import hashlib

    h = hashlib.sha256()
    for record in dataset:
        h.update(record.model_dump_json().encode())
        h.update(b"\n")
    return h.hexdigest()


def reinforce_spec(
    *,
    model: str,
    train: Dataset | str | Iterable[Mapping[str, Any]],
    reward: RewardFunction | None = None,
    grader_arn: str | None = None,
    grader_role_arn: str | None = None,
    grader_name: str | None = None,
    hyperparameters: Mapping[str, Any] | Any | None = None,
    backend: str | Backend | None = None,
    validation: Dataset | str | None = None,
    name: str | None = None,
    output_model_name: str | None = None,
    output_uri: str | None = None,
    role_arn: str | None = None,
    tags: Mapping[str, str] | None = None,
    validate: bool = True,
    backend_options: BackendOptions | None = None,
) -> tuple[JobSpec, Backend]:
    """The reinforcement :class:`JobSpec` and the resolved backend behind :meth:`finetune_sdk.Job.reinforce`
    (data validated and staged, grader deployed); ``Job.reinforce`` submits it."""
    import re

    from finetune_sdk import backends as _backends
    from finetune_sdk.data.dataset import Dataset

    be = _backends.resolve(backend)
    if JobKind.REINFORCEMENT not in be.supported_kinds:
        can = [n for n, row in _backends.capability_matrix().items() if row.get(JobKind.REINFORCEMENT.value)]
        raise UnsupportedOperationError(
            f"the {be.name!r} backend cannot run reinforcement jobs; backends that can: {', '.join(can) or 'none'}. "
            "To train with GRPO on this machine use finetune_sdk.reward.train_grpo(reward, model, prompts, ...)"
        )
    if grader_arn is None and reward is None:
        raise ConfigurationError("reinforce() needs reward= (a RewardFunction, deployed as the grader) or grader_arn=")
    hp_values: dict[str, Any] = {}
    if hyperparameters is not None:
        to_request = getattr(hyperparameters, "to_request", None)
        hp_values = dict(to_request() if callable(to_request) else hyperparameters)
    if isinstance(train, Dataset) or not isinstance(train, str):
        data = train if isinstance(train, Dataset) else Dataset.from_records(list(train))
        if validate:
            val = validation if isinstance(validation, Dataset) else None
            data.validate(purpose="reinforcement", validation=val).raise_for_errors()
        fingerprint: str = _fingerprint(data)
    else:
        data = None
        fingerprint = train
    payload = {
        "kind": JobKind.REINFORCEMENT.value,
        "model": model,
        "hp": hp_values,
        "train": fingerprint,
        "reward": reward.params() if reward is not None else grader_arn,
        "output_uri": output_uri,
    }
    default = _default_name(model, payload)
    job_name = name or default
    model_name = output_model_name or (re.sub(r"[^0-9A-Za-z]+", "-", name) if name else default)
    if grader_arn is None:
        assert reward is not None
        if not grader_role_arn:
            raise ConfigurationError(
                "deploying the reward as the grader Lambda needs grader_role_arn= (its execution role); or deploy "
                "it yourself with reward.deploy_lambda(...) and pass grader_arn="
            )
        grader_arn = reward.deploy_lambda(
            name=grader_name or re.sub(r"[^a-zA-Z0-9-_]", "-", f"{reward.name}-grader")[:64],
            role_arn=grader_role_arn,
            session=getattr(be, "session", None),
            region=getattr(be, "region", None),
        )
    training = (
        _stage(be, rft_lines(data), output_uri=output_uri, name=f"{job_name}-train") if data is not None else train
    )
    assert isinstance(training, str)
    validation_uri: str | None
    if isinstance(validation, Dataset):
        validation_uri = _stage(be, rft_lines(validation), output_uri=output_uri, name=f"{job_name}-validation")
    else:
        validation_uri = validation
    spec = JobSpec(
        kind=JobKind.REINFORCEMENT,
        base_model=model,
        name=job_name,
        output_model_name=model_name,
        training_data=training,
        validation_data=validation_uri,
        output_uri=output_uri,
        hyperparameters=hp_values,
        grader_arn=grader_arn,
        role_arn=role_arn,
        tags=dict(tags or {}),
        backend_options=backend_options,
    )
    return spec, be
