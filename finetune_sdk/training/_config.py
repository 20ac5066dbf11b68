"""The local backend's hyperparameters: the schema the ``Job`` handle validates against, and the typed config.

Names follow Bedrock where they mean the same thing (``epochCount``, ``batchSize``, ``learningRate``,
``learningRateWarmupSteps``, ``earlyStoppingThreshold``, ``earlyStoppingPatience``); the rest are the usual
knobs of a Hugging Face causal-LM trainer, in the same camelCase style. This module is light (no torch).

Examples:
    >>> from finetune_sdk.specs import JobKind
    >>> from finetune_sdk.training._config import resolve_config, schema
    >>> cfg = resolve_config({"epochCount": 2, "method": "full"}, JobKind.FINE_TUNING)
    >>> cfg.epochs, cfg.method, cfg.packing
    (2, 'full', False)
    >>> resolve_config({}, JobKind.CONTINUED_PRE_TRAINING).packing
    True
    >>> [s.name for s in schema(JobKind.FINE_TUNING)][:3]
    ['epochCount', 'batchSize', 'learningRate']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from finetune_sdk.catalog import HyperparameterSpec
from finetune_sdk.errors import HyperparameterError
from finetune_sdk.hyperparameters import validate_hyperparameters
from finetune_sdk.specs import JobKind

__all__ = ["METHODS", "PRECISIONS", "SUPPORTS_DISTRIBUTED", "TrainConfig", "resolve_config", "schema"]

#: the trainer runs under ``torchrun`` (one rank per process: sharded data, DDP, rank 0 writes the run
#: folder); the SageMaker backend reads this before launching multi-instance / multi-GPU jobs
SUPPORTS_DISTRIBUTED = True

METHODS = ("lora", "full")
PRECISIONS = ("auto", "bf16", "fp32")


@dataclass(frozen=True)
class _Param:
    name: str
    field: str
    type: Literal["int", "float", "bool", "str"]
    min: float | None
    max: float | None
    default: int | float | bool | str
    description: str
    cpt_default: int | float | bool | str | None = None


_PARAMS: tuple[_Param, ...] = (
    _Param("epochCount", "epochs", "int", 1, 1000, 3, "passes over the training data"),
    _Param("batchSize", "batch_size", "int", 1, 4096, 8, "sequences per micro-batch"),
    _Param("learningRate", "learning_rate", "float", 1e-8, 1.0, 2e-4,
           "peak AdamW learning rate (2e-4 suits LoRA; use ~2e-5 for method=full on a pretrained model)"),
    _Param("learningRateWarmupSteps", "warmup_steps", "int", 0, 100_000, 0,
           "optimizer steps of linear warmup before the linear decay to 0"),
    _Param("earlyStoppingThreshold", "early_stopping_threshold", "float", 0.0, 10.0, 0.0,
           "minimum drop in validation loss that counts as an improvement"),
    _Param("earlyStoppingPatience", "early_stopping_patience", "int", 0, 1000, 0,
           "evaluations without improvement before training stops (0 turns early stopping off)"),
    _Param("method", "method", "str", None, None, "lora",
           "'lora' (PEFT adapter, merged into the weights on export) or 'full'"),
    _Param("loraRank", "lora_rank", "int", 1, 1024, 16, "LoRA rank r"),
    _Param("loraAlpha", "lora_alpha", "int", 1, 4096, 32, "LoRA scaling alpha"),
    _Param("loraDropout", "lora_dropout", "float", 0.0, 0.9, 0.05, "dropout on the LoRA input"),
    _Param("loraTargetModules", "lora_target_modules", "str", None, None, "all-linear",
           "comma-separated module names (q_proj,v_proj) or 'all-linear'"),
    _Param("loraLayers", "lora_layers", "int", 0, 100_000, 0,
           "adapt only the last N transformer layers (0: all); backpropagation then stops at the lowest adapted "
           "layer, so each step is cheaper"),
    _Param("maxSequenceLength", "max_sequence_length", "int", 8, 1_048_576, 1024,
           "tokens per sequence; longer records are truncated (capped at the model's context)"),
    _Param("gradientAccumulationSteps", "gradient_accumulation_steps", "int", 1, 4096, 1,
           "micro-batches per optimizer step"),
    _Param("seed", "seed", "int", 0, 2**31 - 1, 42, "seed of initialisation, data order and dropout"),
    _Param("evalEverySteps", "eval_every_steps", "int", 0, 10_000_000, 0,
           "optimizer steps between validation passes (0: at the end of every epoch)"),
    _Param("saveEverySteps", "save_every_steps", "int", 0, 10_000_000, 100,
           "optimizer steps between checkpoints (0: only when stopped); a run resumes from the last one"),
    _Param("logEverySteps", "log_every_steps", "int", 1, 10_000_000, 10,
           "optimizer steps between rows of metrics.csv"),
    _Param("maxSteps", "max_steps", "int", 0, 100_000_000, 0,
           "stop after this many optimizer steps (0: run every epoch)"),
    _Param("packing", "packing", "bool", None, None, False,
           "pack several records into each sequence (faster; always on for continued pre-training)", True),
    _Param("trainOnInputs", "train_on_inputs", "bool", None, None, False,
           "compute the loss on every token, not only on assistant turns"),
    _Param("weightDecay", "weight_decay", "float", 0.0, 1.0, 0.0, "AdamW weight decay"),
    _Param("maxGradNorm", "max_grad_norm", "float", 0.0, 1000.0, 1.0, "gradient clipping norm (0: off)"),
    _Param("precision", "precision", "str", None, None, "auto",
           "'auto' (bf16 autocast on CUDA GPUs that support it, else fp32), 'bf16' or 'fp32'"),
    _Param("gradientCheckpointing", "gradient_checkpointing", "bool", None, None, False,
           "recompute activations in the backward pass to save memory"),
    _Param("torchCompile", "torch_compile", "bool", None, None, False, "wrap the model in torch.compile"),
)

_CHOICES: dict[str, tuple[str, ...]] = {"method": METHODS, "precision": PRECISIONS}


class TrainConfig(BaseModel):
    """Resolved training settings (every hyperparameter with its default applied), in Python names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: int
    batch_size: int
    learning_rate: float
    warmup_steps: int
    early_stopping_threshold: float
    early_stopping_patience: int
    method: Literal["lora", "full"]
    lora_rank: int
    lora_alpha: int
    lora_dropout: float
    lora_target_modules: str
    lora_layers: int
    max_sequence_length: int
    gradient_accumulation_steps: int
    seed: int
    eval_every_steps: int
    save_every_steps: int
    log_every_steps: int
    max_steps: int
    packing: bool
    train_on_inputs: bool
    weight_decay: float
    max_grad_norm: float
    precision: Literal["auto", "bf16", "fp32"]
    gradient_checkpointing: bool
    torch_compile: bool

    @property
    def target_modules(self) -> str | list[str]:
        """``lora_target_modules`` in the form PEFT takes."""
        value = self.lora_target_modules.strip()
        if value == "all-linear":
            return value
        return [m.strip() for m in value.split(",") if m.strip()]


def _default(param: _Param, kind: JobKind) -> int | float | bool | str:
    if kind is JobKind.CONTINUED_PRE_TRAINING and param.cpt_default is not None:
        return param.cpt_default
    return param.default


def schema(kind: JobKind) -> list[HyperparameterSpec]:
    """The hyperparameters the local backend accepts for ``kind``, with inclusive ranges and defaults."""
    out = []
    for p in _PARAMS:
        description = p.description
        if p.name in _CHOICES:
            description += f" (one of {', '.join(_CHOICES[p.name])})"
        out.append(HyperparameterSpec(name=p.name, type=p.type, min=p.min, max=p.max,
                                      default=_default(p, kind), description=description))
    return out


def resolve_config(values: Mapping[str, Any], kind: JobKind) -> TrainConfig:
    """Check ``values`` (Bedrock-style names) against the schema and fill in defaults.

    Raises:
        HyperparameterError: unknown name, wrong type, value out of range, or a choice not in its list.
    """
    typed = validate_hyperparameters(values, schema(kind), model="the local backend")
    for name, choices in _CHOICES.items():
        if name in typed and str(typed[name]) not in choices:
            raise HyperparameterError(
                f"hyperparameter {name!r} for the local backend is {typed[name]!r}; it must be one of "
                f"{', '.join(repr(c) for c in choices)}"
            )
    if str(typed.get("loraTargetModules", "all-linear")).strip() in ("", ","):
        raise HyperparameterError(
            "hyperparameter 'loraTargetModules' is empty; give module names like 'q_proj,v_proj' or "
            "'all-linear'"
        )
    fields = {p.field: typed.get(p.name, _default(p, kind)) for p in _PARAMS}
    if kind is JobKind.CONTINUED_PRE_TRAINING:
        fields["train_on_inputs"] = True
    return TrainConfig.model_validate(fields)
