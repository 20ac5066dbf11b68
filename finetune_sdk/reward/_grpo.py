"""Local GRPO: TRL's ``GRPOTrainer`` driven by the same :class:`RewardFunction` the Bedrock grader runs.

The reward sees exactly what the Bedrock grader would see: the completion text, the line's
``reference_answer`` and its other fields in their native JSON types (they are looked up by row, not pushed
through Arrow columns). Needs the ``rft`` extra (``pip install 'finetune-sdk[rft]'``: torch, transformers,
TRL).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from finetune_sdk.data.records import Conversation, Record, TextRecord
from finetune_sdk.errors import BackendNotInstalledError, ConfigurationError, DataError
from finetune_sdk.reward._contract import completion_text
from finetune_sdk.reward._function import RewardFunction, record_fields

__all__ = ["GRPOResult", "GRPOSettings", "local_generator", "train_grpo"]

_INSTALL = "pip install 'finetune-sdk[rft]'"
#: transformers 5 renames gradient checkpointing; TRL still touches the old names on every step.
_NOISE = r".*(gradient_checkpointing|is_gradient_checkpointing).* is deprecated.*"


class GRPOSettings(BaseModel):
    """Settings of a local GRPO run (TRL ``GRPOConfig`` names where they exist).

    ``batch_size`` completions are generated per step, ``num_generations`` per prompt, so it must be a multiple
    of ``num_generations``. The defaults suit a real small model; a randomly initialised test model needs a
    far higher ``learning_rate`` (about 1e-2).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_steps: int = Field(default=50, ge=1)
    learning_rate: float = Field(default=1e-5, gt=0, le=1)
    num_generations: int = Field(default=8, ge=2)
    batch_size: int = Field(default=16, ge=2)
    max_completion_length: int = Field(default=128, ge=1)
    temperature: float = Field(default=1.0, gt=0)
    beta: float = Field(default=0.0, ge=0)
    seed: int = 0
    save_steps: int | None = Field(default=None, ge=1)
    logging_steps: int = Field(default=1, ge=1)
    gradient_checkpointing: bool = False

    @model_validator(mode="after")
    def _divisible(self) -> GRPOSettings:
        if self.batch_size % self.num_generations:
            raise ValueError(
                f"batch_size={self.batch_size} must be a multiple of num_generations={self.num_generations} "
                "(each prompt is sampled num_generations times per step)"
            )
        return self


class GRPOResult(BaseModel):
    """What a local GRPO run left behind.

    Attributes:
        output_dir: the run folder.
        model_dir: the trained model (Hugging Face folder: safetensors, config, tokenizer).
        checkpoints: the ``checkpoint-N`` folders (resumable with ``resume=True``).
        metrics_path: ``metrics.jsonl``, one TRL log entry per line (``reward``, ``reward_std``, ``loss``...).
        metrics: those entries.
        steps: optimisation steps done in total.
        runtime_s: wall time of this call.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    reward: str
    output_dir: str
    model_dir: str
    checkpoints: tuple[str, ...]
    metrics_path: str
    metrics: tuple[dict[str, Any], ...]
    steps: int
    runtime_s: float

    @property
    def rewards(self) -> list[float]:
        """The mean training reward of each logged step, in order."""
        return [float(m["reward"]) for m in self.metrics if "reward" in m]


def _prompt_messages(record: Record | Mapping[str, Any]) -> list[dict[str, str]]:
    if isinstance(record, Conversation):
        msgs = [{"role": "system", "content": record.system}] if record.system else []
        return msgs + [{"role": t.role, "content": t.text} for t in record.prompt_turns]
    if isinstance(record, TextRecord):
        raise DataError("GRPO needs prompts (conversations or RFT lines), got a text record")
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise DataError("an RFT line needs a non-empty 'messages' list (OpenAI chat)")
    out = [
        {"role": str(m.get("role")), "content": completion_text(m.get("content", ""))}
        for m in messages
        if isinstance(m, Mapping)
    ]
    while out and out[-1]["role"] == "assistant":
        out.pop()
    return out


def _require() -> tuple[Any, Any, Any, Any]:
    try:
        import datasets
        import transformers
        import trl
    except ImportError as exc:
        raise BackendNotInstalledError(
            f"local GRPO needs TRL and transformers ({exc.name} is missing): {_INSTALL}"
        ) from exc
    return datasets, transformers, trl, trl.GRPOConfig  # type: ignore[attr-defined, unused-ignore]


def train_grpo(
    reward: RewardFunction,
    model: str | os.PathLike[str],
    train: Iterable[Record | Mapping[str, Any]],
    *,
    output_dir: str | os.PathLike[str],
    settings: GRPOSettings | None = None,
    resume: bool = False,
) -> GRPOResult:
    """Train ``model`` with GRPO on ``train``'s prompts, rewarded by ``reward``, on this machine (CPU or GPU).

    Args:
        reward: the reward function (the same object that builds the Bedrock grader).
        model: a Hugging Face model folder or hub id (e.g. one from ``build_tiny_model``).
        train: RFT lines (``messages`` + ``reference_answer``), canonical conversations, or a ``Dataset``.
        output_dir: the run folder: ``checkpoints/``, ``model/``, ``metrics.jsonl``.
        settings: :class:`GRPOSettings`.
        resume: continue from the newest checkpoint in ``output_dir`` (``max_steps`` is the total).

    Returns:
        A :class:`GRPOResult`.

    Raises:
        BackendNotInstalledError: TRL/transformers are missing (``pip install 'finetune-sdk[rft]'``).
        DataError: a record is not a prompt, or there are fewer prompts than one step needs.
    """
    settings = settings or GRPOSettings()
    datasets, transformers, trl, grpo_config = _require()
    rows: list[dict[str, Any]] = []
    references: list[Any] = []
    fields: list[dict[str, Any]] = []
    for i, record in enumerate(train):
        ref, extra = record_fields(record)
        rows.append({"prompt": _prompt_messages(record), "rft_row": i})
        references.append(ref)
        fields.append(extra)
    prompts_per_step = settings.batch_size // settings.num_generations
    if len(rows) < prompts_per_step:
        raise DataError(f"{len(rows)} prompts; one GRPO step here needs at least {prompts_per_step}")
    core = reward._core

    def reward_func(prompts: Any = None, completions: Any = (), rft_row: Any = (), **_: Any) -> list[float | None]:
        out: list[float | None] = []
        for completion, row in zip(completions, rft_row, strict=True):
            try:
                out.append(core.call(completion_text(completion), references[row], fields[row]))
            except Exception:  # not gradable for this step; the grader reports it the same way
                out.append(None)
        return out

    reward_func.__name__ = reward.name
    out = Path(output_dir)
    ckpt_dir = out / "checkpoints"
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(model))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    started = time.monotonic()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_NOISE, category=FutureWarning)
        config = grpo_config(
            output_dir=str(ckpt_dir),
            max_steps=settings.max_steps,
            learning_rate=settings.learning_rate,
            num_generations=settings.num_generations,
            per_device_train_batch_size=settings.batch_size,
            max_completion_length=settings.max_completion_length,
            temperature=settings.temperature,
            beta=settings.beta,
            seed=settings.seed,
            logging_steps=settings.logging_steps,
            save_steps=settings.save_steps or settings.max_steps,
            report_to="none",
            disable_tqdm=True,
            gradient_checkpointing=settings.gradient_checkpointing,
            use_cpu=not _has_accelerator(),
        )
        policy = transformers.AutoModelForCausalLM.from_pretrained(str(model))
        trainer = trl.GRPOTrainer(
            model=policy,
            reward_funcs=[reward_func],
            args=config,
            train_dataset=datasets.Dataset.from_list(rows),
            processing_class=tokenizer,
        )
        last = _last_checkpoint(ckpt_dir) if resume else None
        trainer.train(resume_from_checkpoint=str(last) if last is not None else None)
        model_dir = out / "model"
        trainer.save_model(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    history = [dict(h) for h in trainer.state.log_history]
    metrics_path = out / "metrics.jsonl"
    with metrics_path.open("a" if last is not None else "w", encoding="utf-8") as fh:
        for entry in history:
            fh.write(json.dumps(entry, sort_keys=True, default=str) + "\n")
    checkpoints = tuple(str(p) for p in sorted(ckpt_dir.glob("checkpoint-*"), key=_step_of))
    return GRPOResult(
        reward=reward.name,
        output_dir=str(out),
        model_dir=str(model_dir),
        checkpoints=checkpoints,
        metrics_path=str(metrics_path),
        metrics=tuple(history),
        steps=int(trainer.state.global_step),
        runtime_s=time.monotonic() - started,
    )


def _step_of(path: Path) -> int:
    tail = path.name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def _last_checkpoint(folder: Path) -> Path | None:
    found = sorted(folder.glob("checkpoint-*"), key=_step_of)
    return found[-1] if found else None


def _has_accelerator() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def local_generator(
    model: str | os.PathLike[str],
    *,
    max_new_tokens: int = 64,
    temperature: float = 0.0,
    seed: int = 0,
    system: str | None = None,
) -> Callable[[str], str]:
    """A ``prompt -> answer`` callable over a local Hugging Face model (chat template applied), for
    ``Evaluator.evaluate`` / ``compare`` and for :meth:`RewardFunction.verify` baselines.

    Args:
        temperature: ``0`` decodes greedily; above 0 samples (seeded per call for repeatability).

    Raises:
        BackendNotInstalledError: transformers is missing.
        ConfigurationError: ``max_new_tokens`` < 1.
    """
    if max_new_tokens < 1:
        raise ConfigurationError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    _, transformers, _, _ = _require()
    import torch

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(model))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_NOISE, category=FutureWarning)
        policy = transformers.AutoModelForCausalLM.from_pretrained(str(model))
    policy.eval()

    def generate(prompt: str) -> str:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        enc = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        torch.manual_seed(seed)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        )
        with torch.no_grad():
            output = policy.generate(
                **enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **sampling
            )
        return str(tokenizer.decode(output[0][enc["input_ids"].shape[1] :], skip_special_tokens=True))

    generate.__name__ = Path(str(model)).name or "local"
    return generate
