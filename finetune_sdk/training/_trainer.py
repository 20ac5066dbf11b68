"""The local trainer: LoRA or full fine-tuning and continued pre-training of a Hugging Face causal LM.

One plain PyTorch loop (no ``transformers.Trainer``), so every step can be checkpointed, stopped and resumed
exactly, and the same code runs in the local worker, in the benchmark and (at scale) in a SageMaker
container:

- AdamW (fused on CUDA), linear warmup then linear decay to 0, gradient clipping, gradient accumulation
  with a token-weighted loss (every label token counts the same however the batches are cut);
- bf16 autocast on CUDA GPUs that support it (``precision="auto"``), TF32 matmuls, optional
  ``torch.compile`` and gradient checkpointing;
- loss on assistant turns only by default (``trainOnInputs`` for every token), packing (``packing``);
- validation loss every ``evalEverySteps`` (or each epoch) with early stopping on it;
- checkpoints (trainable weights, optimizer, scheduler, RNG, position in the data) every
  ``saveEverySteps`` and when stopped; a resumed run continues at the same step with the same data order;
- export: ``adapter/`` (LoRA) and ``model/`` (merged safetensors + config + tokenizer files, the layout
  Amazon Bedrock Custom Model Import reads).

This module imports torch at import time; only the worker and the benchmark import it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import math
import random
import shutil
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
import torch.nn.functional as F

from finetune_sdk.data.records import Record
from finetune_sdk.specs import JobKind
from finetune_sdk.training._config import TrainConfig
from finetune_sdk.training._deps import dtype_kwargs
from finetune_sdk.training._dist import DistContext, shard_indices
from finetune_sdk.training._encode import (
    IGNORE_INDEX,
    Example,
    encode_records,
    ensure_chat_template,
)
from finetune_sdk.training._hf_folder import finalize_model_folder
from finetune_sdk.training._run import RunDir
from finetune_sdk.training._threads import cpu_threads_for

__all__ = [
    "Batch",
    "NullHooks",
    "TrainResult",
    "Trainer",
    "TrainerHooks",
    "autocast_dtype",
    "collate",
    "pick_device",
]

logger = logging.getLogger(__name__)

#: checkpoints kept on disk (older ones are deleted once a newer one is complete)
KEEP_CHECKPOINTS = 2
_STATE_FILE = "trainer_state.json"
_WEIGHTS_FILE = "trainable.safetensors"


class TrainerHooks(Protocol):
    """How the trainer reports to whoever runs it (the worker writes these to the run folder)."""

    def should_stop(self) -> bool: ...

    def on_status(self, **fields: Any) -> None: ...

    def on_metrics(self, row: dict[str, float | int | None]) -> None: ...

    def on_step_end(self, step: int) -> None: ...


class NullHooks:
    """Hooks that report nothing and never stop (benchmarks, tests)."""

    def should_stop(self) -> bool:
        return False

    def on_status(self, **fields: Any) -> None:
        return None

    def on_metrics(self, row: dict[str, float | int | None]) -> None:
        return None

    def on_step_end(self, step: int) -> None:
        return None


@dataclass
class TrainResult:
    """How a training run ended."""

    outcome: Literal["completed", "early_stopped", "stopped"]
    step: int
    total_steps: int
    epoch: float
    training_loss: float | None
    validation_loss: float | None
    tokens_seen: int
    train_seconds: float
    resumed_from_step: int | None = None

    @property
    def tokens_per_second(self) -> float | None:
        return self.tokens_seen / self.train_seconds if self.train_seconds > 0 else None


@dataclass
class Batch:
    """Tensors of one micro-batch (on the CPU until ``to``)."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    targets: torch.Tensor
    attention_mask: torch.Tensor | None
    position_ids: torch.Tensor | None
    n_tokens: int
    n_label_tokens: int

    def to(self, device: torch.device) -> Batch:
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device, non_blocking=True)

        return Batch(self.input_ids.to(device, non_blocking=True), self.labels.to(device, non_blocking=True),
                     self.targets.to(device, non_blocking=True), move(self.attention_mask),
                     move(self.position_ids), self.n_tokens, self.n_label_tokens)

    def model_inputs(self) -> dict[str, torch.Tensor]:
        inputs = {"input_ids": self.input_ids}
        if self.attention_mask is not None:
            inputs["attention_mask"] = self.attention_mask
        if self.position_ids is not None:
            inputs["position_ids"] = self.position_ids
        return inputs


def collate(examples: Sequence[Example], pad_id: int) -> Batch:
    """Right-pad ``examples`` into one batch.

    Packed fine-tuning sequences carry ``position_ids`` and no attention mask (transformers derives the
    block-diagonal mask from the position resets; padding becomes its own block with no labels). Other
    batches use an attention mask.
    """
    width = max(len(e.input_ids) for e in examples)
    packed = all(e.position_ids is not None for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = None if packed else torch.zeros((len(examples), width), dtype=torch.long)
    positions = torch.zeros((len(examples), width), dtype=torch.long) if packed else None
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids, dtype=torch.long)
        labels[row, :n] = torch.tensor(e.labels, dtype=torch.long)
        if mask is not None:
            mask[row, :n] = 1
        if positions is not None and e.position_ids is not None:
            positions[row, :n] = torch.tensor(e.position_ids, dtype=torch.long)
            positions[row, n:] = torch.arange(width - n, dtype=torch.long)
    if mask is not None and bool(mask.all()):
        mask = None  # no padding: a plain causal mask is faster (and lets SDPA pick flash kernels)
    n_tokens = sum(len(e.input_ids) for e in examples)
    # Next-token targets: labels shifted left here, on the CPU, so the loss needs no copy of the logits.
    targets = torch.full_like(labels, IGNORE_INDEX)
    targets[:, :-1] = labels[:, 1:]
    n_label = int((targets != IGNORE_INDEX).sum())
    return Batch(ids, labels, targets, mask, positions, n_tokens, n_label)


def _transformers() -> Any:
    """transformers as ``Any``: its stubs are partial, so the trainer talks to it untyped."""
    return importlib.import_module("transformers")


def pick_device(requested: str | None) -> torch.device:
    """``cuda`` when available (or asked for), else ``cpu``.

    Raises:
        RuntimeError: CUDA was asked for but is not available.
    """
    if requested in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(str(requested))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} was requested but CUDA is not available on this machine")
    return device


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (``None``: plain fp32)."""
    if precision == "fp32":
        return None
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16
        if precision == "bf16":
            raise RuntimeError("precision='bf16' was requested but this GPU does not support bfloat16")
        return None
    return torch.bfloat16 if precision == "bf16" else None


def configure_backends(device: torch.device) -> None:
    """TF32 matmuls and cuDNN autotuning on CUDA (no effect on the CPU)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")


def token_loss_sum(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Summed next-token cross-entropy (fp32) of ``logits`` against already shifted ``targets``."""
    vocab = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, vocab).float(), targets.reshape(-1), ignore_index=IGNORE_INDEX,
                           reduction="sum")


def _accepts_logits_to_keep(model: Any) -> bool:
    """Whether the (unwrapped) causal LM's ``forward`` takes ``logits_to_keep`` (Llama and most others do)."""
    import inspect

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        return "logits_to_keep" in inspect.signature(inner.forward).parameters
    except (TypeError, ValueError):
        return False


def forward_loss_sum(model: Any, batch: Batch, *, select_logits: bool) -> torch.Tensor:
    """Summed next-token loss of ``batch``; with ``select_logits``, logits are computed only at the positions
    where some row has a target (the output projection over a large vocabulary is a big share of a small
    model's compute, and fine-tuning trains on the answer tokens only)."""
    if select_logits:
        keep = (batch.targets != IGNORE_INDEX).any(dim=0)
        if not bool(keep.all()):
            index = keep.nonzero().squeeze(-1)
            logits = model(**batch.model_inputs(), use_cache=False, logits_to_keep=index).logits
            return token_loss_sum(logits, batch.targets[:, index])
    logits = model(**batch.model_inputs(), use_cache=False).logits
    return token_loss_sum(logits, batch.targets)


def _linear_schedule(warmup: int, total: int) -> Any:
    def factor(step: int) -> float:
        if warmup > 0 and step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


@dataclass
class _Position:
    step: int = 0
    best_validation: float | None = None
    bad_evaluations: int = 0
    tokens_seen: int = 0
    train_seconds: float = 0.0
    last_validation: float | None = None
    last_training: float | None = None


class Trainer:
    """One training run. Build it, then call :meth:`train`, then :meth:`export`.

    Args:
        base_model: a Hugging Face model folder or hub id, a GGUF file (or a folder holding one), or an alias
            like ``smollm2-135m-instruct`` (converted once to a folder, see :mod:`finetune_sdk.training._gguf`).
        kind: fine-tuning or continued pre-training.
        config: the resolved hyperparameters.
        train_records / validation_records: canonical records.
        run: the run folder for checkpoints (``None``: no checkpoints, e.g. in the benchmark).
        hooks: status, metrics and stop requests.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``None`` for automatic.
        dist: this process's place in a ``torchrun`` launch whose process group is already initialised
            (``None`` or one process: the single-process path). Each rank then trains on its shard of every
            epoch through ``DistributedDataParallel``; only rank 0 writes checkpoints (give the other ranks
            hooks that write nothing); stop and early-stopping decisions come from rank 0.
    """

    def __init__(
        self,
        *,
        base_model: str,
        kind: JobKind,
        config: TrainConfig,
        train_records: Sequence[Record],
        validation_records: Sequence[Record] = (),
        run: RunDir | None = None,
        hooks: TrainerHooks | None = None,
        device: str | None = None,
        dist: DistContext | None = None,
    ) -> None:
        from finetune_sdk.training._gguf import materialize_if_gguf
        from finetune_sdk.training._hf_progress import sync_transformers_progress

        sync_transformers_progress()
        self.dist = dist or DistContext()
        self.base_model = materialize_if_gguf(base_model)
        self.kind = kind
        self.config = config
        self.run = run
        self.hooks: TrainerHooks = hooks or NullHooks()
        self.device = pick_device(device)
        self.amp_dtype = autocast_dtype(self.device, config.precision)
        configure_backends(self.device)
        self._seed_everything(config.seed)
        self.tokenizer = self._load_tokenizer()
        self.model, self.save_dtype = self._load_model()
        self.select_logits = _accepts_logits_to_keep(self.model)
        self.n_params = sum(p.numel() for p in self.model.parameters())
        threads = cpu_threads_for(self.n_params) if self.device.type == "cpu" else None
        if threads is not None and self.dist.enabled:
            threads = max(1, threads // self.dist.local_world_size) if threads > 1 else threads
        if threads is not None:
            torch.set_num_threads(threads)  # the worker is its own process: this affects only this run
        self.forward_model: Any = self.model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            # DDP copies rank 0's weights (and LoRA initialisation) to every rank. Buffers (rotary
            # frequencies) are constants, so they are not re-broadcast at every forward.
            self.forward_model = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                broadcast_buffers=False)
            if self.dist.rank:
                torch.manual_seed(config.seed + 7919 * self.dist.rank)  # dropout differs across ranks
        if config.torch_compile:
            self.forward_model = torch.compile(self.forward_model)
        # Validation runs on each rank's share without DDP (no collectives inside the forward).
        self.eval_model: Any = self.model if self.dist.enabled else self.forward_model
        self.train_set = encode_records(self.tokenizer, train_records, max_length=self.max_length,
                                        train_on_inputs=config.train_on_inputs, packing=config.packing)
        if not self.train_set.examples:
            raise ValueError(
                "no training examples are left after encoding: every record lost its assistant turn to "
                f"maxSequenceLength={config.max_sequence_length}, or the data is empty"
            )
        self.validation_set = encode_records(self.tokenizer, validation_records, max_length=self.max_length,
                                             train_on_inputs=config.train_on_inputs, packing=False)
        n = len(self.train_set.examples)
        if self.dist.enabled:
            n = math.ceil(n / self.dist.world_size)  # each rank's shard (see _dist.shard_indices)
        self.micro_batches_per_epoch = math.ceil(n / config.batch_size)
        self.steps_per_epoch = math.ceil(self.micro_batches_per_epoch / config.gradient_accumulation_steps)
        total = self.steps_per_epoch * config.epochs
        self.total_steps = min(total, config.max_steps) if config.max_steps else total
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = self._optimizer()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, _linear_schedule(config.warmup_steps, self.total_steps)
        )
        self.position = _Position()
        self.resumed_from_step: int | None = None

    # --- setup -----------------------------------------------------------------------------------------
    @staticmethod
    def _seed_everything(seed: int) -> None:
        random.seed(seed)
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)

    def _load_tokenizer(self) -> Any:
        tokenizer = _transformers().AutoTokenizer.from_pretrained(self.base_model)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        if ensure_chat_template(tokenizer):
            logger.info("%s has no chat template; using the SDK's default template", self.base_model)
        return tokenizer

    @property
    def max_length(self) -> int:
        """``maxSequenceLength`` capped at the model's context length."""
        limit = self.config.max_sequence_length
        context = getattr(self.model.config, "max_position_embeddings", None)
        return min(limit, context) if isinstance(context, int) and context > 0 else limit

    def _load_model(self) -> tuple[Any, torch.dtype]:
        transformers = _transformers()
        base_config = transformers.AutoConfig.from_pretrained(self.base_model)
        save_dtype = getattr(base_config, "dtype", None) or getattr(base_config, "torch_dtype", None)
        if isinstance(save_dtype, str):
            save_dtype = getattr(torch, save_dtype, torch.float32)
        if not isinstance(save_dtype, torch.dtype):
            save_dtype = torch.float32
        # Frozen LoRA base weights can live in bf16 on a GPU; trained weights stay fp32 (autocast computes
        # in bf16).
        load_dtype = torch.bfloat16 if self.config.method == "lora" and self.amp_dtype is torch.bfloat16 \
            and self.device.type == "cuda" else torch.float32
        model: Any = transformers.AutoModelForCausalLM.from_pretrained(
            self.base_model, **dtype_kwargs(load_dtype)
        )
        model.to(self.device)
        model.config.use_cache = False
        if self.config.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if self.config.method == "lora":
            peft: Any = importlib.import_module("peft")
            if self.config.gradient_checkpointing:
                model.enable_input_require_grads()
            layers: dict[str, Any] = {}
            n_layers = int(getattr(model.config, "num_hidden_layers", 0) or 0)
            if self.config.lora_layers and n_layers:
                first = max(0, n_layers - self.config.lora_layers)
                layers = {"layers_to_transform": list(range(first, n_layers))}
            targets = self.config.target_modules
            if layers and targets == "all-linear":  # PEFT wants names with layers_to_transform
                output = model.get_output_embeddings()
                targets = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                                  if isinstance(module, torch.nn.Linear) and module is not output})
            lora = peft.LoraConfig(r=self.config.lora_rank, lora_alpha=self.config.lora_alpha,
                                   lora_dropout=self.config.lora_dropout,
                                   target_modules=targets, task_type="CAUSAL_LM", **layers)
            with warnings.catch_warnings():
                # peft reads a property transformers 5 deprecated; the warning is theirs, not the user's
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*",
                                        category=FutureWarning)
                model = peft.get_peft_model(model, lora)
        model.train()
        return model, save_dtype

    def _optimizer(self) -> torch.optim.Optimizer:
        decay = [p for p in self.params if p.ndim >= 2]
        no_decay = [p for p in self.params if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": self.config.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        options: dict[str, Any] = {"lr": self.config.learning_rate, "betas": (0.9, 0.999), "eps": 1e-8}
        if self.device.type == "cuda":
            options["fused"] = True
        return torch.optim.AdamW([g for g in groups if g["params"]], **options)

    # --- data order ------------------------------------------------------------------------------------
    def epoch_order(self, epoch: int) -> list[int]:
        """The shuffled example order of ``epoch`` (a pure function of the seed and the epoch)."""
        order = list(range(len(self.train_set.examples)))
        random.Random(self.config.seed * 1_000_003 + epoch).shuffle(order)
        return order

    def _step_groups(self, start_step: int) -> Iterator[tuple[int, list[Batch]]]:
        """``(epoch, micro-batches)`` of every optimizer step from ``start_step`` on."""
        bs, accum = self.config.batch_size, self.config.gradient_accumulation_steps
        pad = int(self.tokenizer.pad_token_id)
        examples = self.train_set.examples
        step = start_step
        while step < self.total_steps:
            epoch, offset = divmod(step, self.steps_per_epoch)
            order = self.epoch_order(epoch)
            if self.dist.enabled:
                order = shard_indices(order, rank=self.dist.rank, world_size=self.dist.world_size)
            micro = [order[i : i + bs] for i in range(0, len(order), bs)]
            for k in range(offset, self.steps_per_epoch):
                if step >= self.total_steps:
                    return
                group = micro[k * accum : (k + 1) * accum]
                yield epoch, [collate([examples[i] for i in idx], pad) for idx in group]
                step += 1

    # --- training --------------------------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    # --- distributed helpers (no-ops in a single process) ------------------------------------------------
    def _sum_across_ranks(self, values: Sequence[float]) -> list[float]:
        """``values`` summed over every rank (float64, one collective)."""
        import torch.distributed as dist

        t = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return [float(v) for v in t.tolist()]

    def _from_main(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (the flag itself in a single process)."""
        if not self.dist.enabled:
            return flag
        import torch.distributed as dist

        t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=self.device)
        dist.broadcast(t, src=0)
        return bool(t.item())

    def _should_stop(self) -> bool:
        return self._from_main(self.hooks.should_stop())

    def train(self) -> TrainResult:
        """Run (or resume) training to the end, early stopping, or a stop request."""
        cfg = self.config
        if self.run is not None:
            self._maybe_resume()
        pos = self.position
        self.hooks.on_status(raw_status="training", step=pos.step, total_steps=self.total_steps,
                             epoch=pos.step / self.steps_per_epoch, device=str(self.device),
                             resumed_from_step=self.resumed_from_step,
                             stages={"load": "completed", "train": "in_progress", "export": "not_started"})
        has_validation = bool(self.validation_set.examples)
        window_loss = torch.zeros((), device=self.device)
        window_tokens = 0
        window_seq_tokens = 0
        window_start = time.perf_counter()
        last_logged_step = pos.step
        outcome: Literal["completed", "early_stopped", "stopped"] = "completed"
        if self._should_stop():
            return self._stop()
        self.model.train()
        distributed = self.dist.enabled
        for _epoch, micro_batches in self._step_groups(pos.step):
            step_tokens = sum(b.n_label_tokens for b in micro_batches)
            seq_tokens = sum(b.n_tokens for b in micro_batches)
            scale = 1.0
            if distributed:
                # DDP averages gradients over ranks: scaling each rank's summed loss by world / (label tokens
                # of all ranks) makes the step the token-weighted mean over the global batch.
                step_tokens, seq_tokens = (int(v) for v in self._sum_across_ranks([step_tokens, seq_tokens]))
                scale = float(self.dist.world_size)
            denom = max(step_tokens, 1)
            for k, batch in enumerate(micro_batches):
                batch = batch.to(self.device)
                sync: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
                if distributed and k < len(micro_batches) - 1:
                    sync = self.forward_model.no_sync()  # all-reduce once per optimizer step
                with sync:
                    with self._autocast():
                        loss_sum = forward_loss_sum(self.forward_model, batch, select_logits=self.select_logits)
                    scaled: Any = loss_sum * scale / denom if distributed else loss_sum / denom
                    scaled.backward()
                window_loss += loss_sum.detach()
                del loss_sum
            if cfg.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            pos.step += 1
            pos.tokens_seen += seq_tokens
            window_tokens += step_tokens
            window_seq_tokens += seq_tokens
            epoch_float = round(pos.step / self.steps_per_epoch, 6)
            row: dict[str, float | int | None] = {}
            if pos.step % cfg.log_every_steps == 0 or pos.step == self.total_steps:
                window_sum = float(window_loss.item())
                if distributed:
                    window_sum = self._sum_across_ranks([window_sum])[0]
                train_loss = window_sum / max(window_tokens, 1)
                elapsed = time.perf_counter() - window_start
                pos.train_seconds += elapsed
                pos.last_training = train_loss
                row.update(step=pos.step, epoch=epoch_float, training_loss=round(train_loss, 6))
                speed = round(window_seq_tokens / elapsed, 1) if elapsed else None
                self.hooks.on_status(training_loss=row["training_loss"], tokens_per_second=speed)
                window_loss.zero_()
                window_tokens = window_seq_tokens = 0
                window_start = time.perf_counter()
                last_logged_step = pos.step
            at_epoch_end = pos.step % self.steps_per_epoch == 0
            due = (pos.step % cfg.eval_every_steps == 0) if cfg.eval_every_steps else at_epoch_end
            if has_validation and (due or pos.step == self.total_steps):
                eval_start = time.perf_counter()
                val = self.evaluate()
                window_start += time.perf_counter() - eval_start  # evaluation is not training time
                pos.last_validation = val
                row.update(step=pos.step, epoch=epoch_float, validation_loss=round(val, 6))
                self.hooks.on_status(validation_loss=row["validation_loss"])
                if self._from_main(self._early_stop(val)):
                    outcome = "early_stopped"
            if row:
                loss_for_ppl = row.get("training_loss")
                loss_for_ppl = loss_for_ppl if loss_for_ppl is not None else row.get("validation_loss")
                row["perplexity"] = round(math.exp(min(float(loss_for_ppl), 50.0)), 6) \
                    if loss_for_ppl is not None else None
                self.hooks.on_metrics(row)
            self.hooks.on_status(step=pos.step, epoch=epoch_float, tokens_seen=pos.tokens_seen)
            self.hooks.on_step_end(pos.step)
            if self.run is not None and self.dist.is_main and cfg.save_every_steps \
                    and pos.step % cfg.save_every_steps == 0 and pos.step < self.total_steps:
                self.save_checkpoint()
            if outcome == "early_stopped":
                break
            if pos.step < self.total_steps and self._should_stop():
                return self._stop()
        if pos.step > last_logged_step:
            pos.train_seconds += time.perf_counter() - window_start
        return self._result(outcome)

    def _result(self, outcome: Literal["completed", "early_stopped", "stopped"]) -> TrainResult:
        pos = self.position
        return TrainResult(outcome=outcome, step=pos.step, total_steps=self.total_steps,
                           epoch=round(pos.step / self.steps_per_epoch, 6), training_loss=pos.last_training,
                           validation_loss=pos.last_validation, tokens_seen=pos.tokens_seen,
                           train_seconds=pos.train_seconds, resumed_from_step=self.resumed_from_step)

    def _stop(self) -> TrainResult:
        if self.run is not None and self.dist.is_main and self.position.step > 0:
            latest = self.run.latest_checkpoint()
            if latest is None or latest[0] != self.position.step:
                self.save_checkpoint()
        return self._result("stopped")

    def _early_stop(self, validation_loss: float) -> bool:
        pos, cfg = self.position, self.config
        best = pos.best_validation
        if best is None or validation_loss < best - cfg.early_stopping_threshold:
            pos.best_validation = validation_loss
            pos.bad_evaluations = 0
            return False
        pos.bad_evaluations += 1
        return cfg.early_stopping_patience > 0 and pos.bad_evaluations >= cfg.early_stopping_patience

    @torch.no_grad()
    def evaluate(self) -> float:
        """Token-weighted mean loss over the validation set (over all ranks' shares when distributed)."""
        self.model.eval()
        pad = int(self.tokenizer.pad_token_id)
        total = torch.zeros((), device=self.device, dtype=torch.float64)
        count = 0
        examples = self.validation_set.examples
        if self.dist.enabled:
            examples = examples[self.dist.rank :: self.dist.world_size]  # disjoint, no padding
        bs = self.config.batch_size
        try:
            for i in range(0, len(examples), bs):
                batch = collate(examples[i : i + bs], pad).to(self.device)
                with self._autocast():
                    total += forward_loss_sum(self.eval_model, batch, select_logits=self.select_logits).double()
                count += batch.n_label_tokens
        finally:
            self.model.train()
        if self.dist.enabled:
            summed, count_all = self._sum_across_ranks([float(total.item()), float(count)])
            return summed / max(count_all, 1.0)
        return float(total.item()) / max(count, 1)

    # --- checkpoints -----------------------------------------------------------------------------------
    def _fingerprint(self) -> dict[str, Any]:
        return {"train_examples": len(self.train_set.examples), "steps_per_epoch": self.steps_per_epoch,
                "total_steps": self.total_steps, "method": self.config.method}

    def save_checkpoint(self) -> Path:
        """Write a complete checkpoint for the current step (atomically: a ``.tmp`` folder renamed)."""
        from safetensors.torch import save_file

        assert self.run is not None, "checkpoints need a run folder"
        pos = self.position
        final = self.run.checkpoint_path(pos.step)
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        weights = {name: p.detach().to("cpu").contiguous() for name, p in self.model.named_parameters()
                   if p.requires_grad}
        save_file(weights, str(tmp / _WEIGHTS_FILE))
        torch.save(self.optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(self.scheduler.state_dict(), tmp / "scheduler.pt")
        rng = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.stack([s for s in torch.cuda.get_rng_state_all()])
        torch.save(rng, tmp / "rng.pt")
        state = {"step": pos.step, "best_validation": pos.best_validation,
                 "bad_evaluations": pos.bad_evaluations, "tokens_seen": pos.tokens_seen,
                 "train_seconds": pos.train_seconds, "last_validation": pos.last_validation,
                 "last_training": pos.last_training,
                 "fingerprint": self._fingerprint()}
        (tmp / _STATE_FILE).write_text(json.dumps(state, indent=1), encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        self.run.prune_checkpoints(KEEP_CHECKPOINTS)
        self.hooks.on_status(step=pos.step, last_checkpoint=pos.step)
        logger.info("checkpoint at step %d: %s", pos.step, final)
        return final

    def _maybe_resume(self) -> None:
        assert self.run is not None
        latest = self.run.latest_checkpoint()
        if self.dist.enabled:
            latest = self._main_checkpoint(latest)
        if latest is None:
            return
        step, path = latest
        self.load_checkpoint(path)
        if self.dist.is_main:
            self.run.truncate_metrics_after(step)
        if self.dist.enabled:
            self._check_replicas(step)
        if self.dist.rank:
            torch.manual_seed(self.config.seed + 7919 * self.dist.rank + step)  # rank 0's RNG was saved
        self.resumed_from_step = step
        logger.info("resumed from checkpoint step %d", step)

    def _main_checkpoint(self, local: tuple[int, Path] | None) -> tuple[int, Path] | None:
        """Rank 0's latest checkpoint, checked to be readable on every rank.

        Raises:
            RuntimeError: some rank cannot see that checkpoint (its run folder is not shared with rank 0's).
        """
        import torch.distributed as dist

        assert self.run is not None
        t = torch.tensor([local[0] if local is not None else -1], dtype=torch.int64, device=self.device)
        dist.broadcast(t, src=0)
        step = int(t.item())
        if step < 0:
            return None
        path = self.run.checkpoint_path(step)
        missing = self._sum_across_ranks([0.0 if (path / _STATE_FILE).is_file() else 1.0])[0]
        if missing:
            raise RuntimeError(
                f"rank 0 resumes from checkpoint step {step}, but {int(missing)} rank(s) cannot read {path}; "
                "give every node the same run folder (a shared file system or synced checkpoints)"
            )
        return step, path

    def _check_replicas(self, step: int) -> None:
        """Check that every rank holds rank 0's trained weights after loading a checkpoint.

        Raises:
            RuntimeError: some rank's weights differ from rank 0's.
        """
        import torch.distributed as dist

        with torch.no_grad():
            local = sum((float(p.detach().double().abs().sum()) for p in self.params), 0.0)
        mine = torch.tensor([local, float(self.position.step)], dtype=torch.float64, device=self.device)
        main = mine.clone()
        dist.broadcast(main, src=0)
        bad = self._sum_across_ranks([0.0 if torch.equal(mine, main) else 1.0])[0]
        if bad:
            raise RuntimeError(f"after resuming from step {step}, {int(bad)} rank(s) hold weights that differ "
                               "from rank 0's; the run folders of the ranks are out of sync")

    def load_checkpoint(self, path: Path) -> None:
        """Restore weights, optimizer, scheduler, RNG and position from a checkpoint folder.

        Raises:
            RuntimeError: the checkpoint was written for different data or settings.
        """
        from safetensors.torch import load_file

        state = json.loads((path / _STATE_FILE).read_text(encoding="utf-8"))
        if state.get("fingerprint") != self._fingerprint():
            raise RuntimeError(
                f"checkpoint {path} was written for different data or settings "
                f"({state.get('fingerprint')} vs {self._fingerprint()}); delete the run folder to start over"
            )
        weights = load_file(str(path / _WEIGHTS_FILE), device=str(self.device))
        missing = [n for n, p in self.model.named_parameters() if p.requires_grad and n not in weights]
        if missing:
            raise RuntimeError(f"checkpoint {path} lacks {len(missing)} trained tensors, e.g. {missing[0]}")
        self.model.load_state_dict(weights, strict=False)
        # weights_only=True: a checkpoint holds tensors, numbers and dicts only (the scheduler's lr_lambdas are
        # plain functions, which LambdaLR saves as None; the RNG state is a uint8 tensor), so no pickled code
        # from a run folder is ever executed.
        self.optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location=self.device,
                                                  weights_only=True))
        self.scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
        rng = torch.load(path / "rng.pt", weights_only=True)
        torch.set_rng_state(rng["cpu"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(list(rng["cuda"]))
        pos = self.position
        pos.step = int(state["step"])
        pos.best_validation = state.get("best_validation")
        pos.bad_evaluations = int(state.get("bad_evaluations", 0))
        pos.tokens_seen = int(state.get("tokens_seen", 0))
        pos.train_seconds = float(state.get("train_seconds", 0.0))
        pos.last_validation = state.get("last_validation")
        pos.last_training = state.get("last_training")

    # --- export ----------------------------------------------------------------------------------------
    def export(self, output_dir: Path) -> Path:
        """Write ``adapter/`` (LoRA) and ``model/`` (merged weights + tokenizer) under ``output_dir``.

        Returns the ``model/`` folder. Files are written to a temporary folder first, so a crash never
        leaves a half-written model behind.
        """
        self.hooks.on_status(raw_status="exporting",
                             stages={"load": "completed", "train": "completed", "export": "in_progress"})
        output_dir.mkdir(parents=True, exist_ok=True)
        staging = output_dir / ".export.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        model: Any = self.model
        model.eval()
        if self.config.method == "lora":
            model.save_pretrained(staging / "adapter")
            model = model.merge_and_unload()
        model = model.to(dtype=self.save_dtype)
        model.config.use_cache = True
        generation = getattr(model, "generation_config", None) or _transformers().GenerationConfig()
        eos_ids = generation.eos_token_id
        tok_eos = self.tokenizer.eos_token_id
        if eos_ids is None:
            generation.eos_token_id = tok_eos
        elif isinstance(eos_ids, list) and tok_eos not in eos_ids:
            generation.eos_token_id = [*eos_ids, tok_eos]
        if generation.pad_token_id is None:
            generation.pad_token_id = self.tokenizer.pad_token_id
        model.generation_config = generation
        model.save_pretrained(staging / "model")
        self.tokenizer.save_pretrained(staging / "model")
        dtype_name = str(self.save_dtype).removeprefix("torch.")
        finalize_model_folder(staging / "model", chat_template=self.tokenizer.chat_template, dtype=dtype_name)
        for name in ("adapter", "model"):
            if (staging / name).exists():
                shutil.rmtree(output_dir / name, ignore_errors=True)
                (staging / name).rename(output_dir / name)
        shutil.rmtree(staging, ignore_errors=True)
        return output_dir / "model"
