"""Training throughput of the local backend's trainer against a plain PyTorch / Hugging Face loop.

Both loops train the same model (built offline by ``finetune_sdk.training.tiny``), from the same
initial weights, on the same packed token blocks in the same order, with the same settings: AdamW, linear
warmup/decay, gradient clipping, batch size and sequence length, bf16 autocast on GPUs that support it, TF32
matmuls, the same CPU thread count, and optionally ``torch.compile`` for both. The baseline is what a user
would write by hand: ``model(input_ids=..., labels=...).loss.backward()`` in a loop. The trainer adds
what the local backend needs on top (token-weighted loss, status hooks, stop checks, collation in the loop);
this benchmark shows what that costs.

Reported per loop: tokens per second over the timed steps (after warm-up), seconds per step, the loss at the
last step (the two must agree: same computation), peak GPU memory, and on a GPU the model FLOPs utilisation

    MFU = tokens/s * (6 * N + 12 * layers * hidden * seq_len) / peak bf16 FLOP/s

with N the parameters that take part in matmuls (all but the input embedding) and the second term the
attention score/value matmuls (PaLM, appendix B). For ``--method lora`` the weight gradients of the frozen
matrices are not computed, so ``4 * N`` replaces ``6 * N``. Peak bf16 dense: H100/H200 989 TFLOP/s, A100
312 TFLOP/s, L4 121 TFLOP/s; ``--peak-tflops`` overrides.

Usage::

    python benchmarks/local_train.py                     # CPU: tiny preset, a few dozen steps
    python benchmarks/local_train.py --preset 0.5b --batch-size 8 --seq-len 2048 --steps 30   # GPU
    python benchmarks/local_train.py --preset 0.5b --compile --json
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import random
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from finetune_sdk.backends.base import JobKind
from finetune_sdk.data.records import TextRecord
from finetune_sdk.training._config import resolve_config
from finetune_sdk.training._threads import cpu_threads_for
from finetune_sdk.training._trainer import (
    Batch,
    NullHooks,
    Trainer,
    _linear_schedule,
    autocast_dtype,
    collate,
    configure_backends,
    pick_device,
)
from finetune_sdk.training.tiny import build_tiny_model, parameter_count, preset_config

PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L4": 121.0}
WORDS = ("model", "data", "token", "train", "loss", "layer", "batch", "step", "grad", "weight", "scale",
         "mix", "norm", "head", "rope", "cache", "query", "value", "key", "block")


@dataclass
class LoopResult:
    name: str
    tokens_per_s: float
    s_per_step: float
    last_loss: float
    peak_memory_gb: float | None
    mfu: float | None


def synthetic_corpus(n_docs: int, *, seed: int) -> list[TextRecord]:
    rng = random.Random(seed)
    return [TextRecord(text=" ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 400)))) for _ in range(n_docs)]


def peak_flops(device: torch.device, override_tflops: float | None) -> float | None:
    if override_tflops:
        return override_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, tflops in PEAK_BF16_TFLOPS.items():
        if key in name:
            return tflops * 1e12
    return None


def flops_per_token(preset: str, seq_len: int, method: str) -> float:
    cfg = preset_config(preset)
    matmul_params = parameter_count(cfg) - cfg.resolved_vocab * cfg.hidden_size * (
        0 if cfg.tie_word_embeddings else 1)
    dense = (4 if method == "lora" else 6) * matmul_params
    attention = 12 * cfg.layers * cfg.hidden_size * seq_len
    return float(dense + attention)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Timer(NullHooks):
    """Starts the clock when the warm-up steps are done (synchronising the GPU first)."""

    def __init__(self, device: torch.device, warmup: int) -> None:
        self.device = device
        self.warmup = warmup
        self.start: float | None = None

    def on_step_end(self, step: int) -> None:
        if step == self.warmup:
            _sync(self.device)
            self.start = time.perf_counter()


def run_trainer(folder: Path, records: list[TextRecord], args: argparse.Namespace) -> tuple[LoopResult, Trainer]:
    config = resolve_config({
        "method": args.method, "batchSize": args.batch_size, "maxSequenceLength": args.seq_len,
        "maxSteps": args.warmup + args.steps, "epochCount": 1000, "packing": True, "learningRate": args.lr,
        "learningRateWarmupSteps": args.warmup, "saveEverySteps": 0,
        # log at the second-to-last step and the last (always), so "last loss" is the last step's alone
        "logEverySteps": max(1, args.warmup + args.steps - 1),
        "seed": args.seed, "torchCompile": args.compile, "gradientCheckpointing": args.gradient_checkpointing,
    }, JobKind.CONTINUED_PRE_TRAINING)
    device = pick_device(args.device)
    timer = _Timer(device, args.warmup)
    trainer = Trainer(base_model=str(folder), kind=JobKind.CONTINUED_PRE_TRAINING, config=config,
                      train_records=records, hooks=timer, device=args.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    result = trainer.train()
    _sync(device)
    assert timer.start is not None
    elapsed = time.perf_counter() - timer.start
    tokens = args.steps * args.batch_size * args.seq_len
    return LoopResult("local backend trainer", tokens / elapsed, elapsed / args.steps,
                      float(result.training_loss or math.nan), _peak_memory(device), None), trainer


def _peak_memory(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None


def baseline_batches(trainer: Trainer, total_steps: int) -> Iterator[Batch]:
    """The trainer's data, in the trainer's order, collated up front (so the baseline pays nothing for it)."""
    pad = int(trainer.tokenizer.pad_token_id)
    examples = trainer.train_set.examples
    bs = trainer.config.batch_size
    produced = 0
    epoch = 0
    while produced < total_steps:
        order = trainer.epoch_order(epoch)
        for i in range(0, len(order), bs):
            if produced == total_steps:
                return
            yield collate([examples[j] for j in order[i : i + bs]], pad)
            produced += 1
        epoch += 1


def run_baseline(folder: Path, trainer: Trainer, args: argparse.Namespace) -> LoopResult:
    from transformers import AutoModelForCausalLM

    device = pick_device(args.device)
    amp = autocast_dtype(device, "auto")
    total = args.warmup + args.steps
    batches = [b.to(device) for b in baseline_batches(trainer, total)]
    torch.manual_seed(args.seed)
    lora_base = args.method == "lora" and amp is torch.bfloat16 and device.type == "cuda"
    dtype = torch.bfloat16 if lora_base else torch.float32
    model: Any = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype)
    model.to(device)
    model.config.use_cache = False
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if args.method == "lora":
        from peft import LoraConfig, get_peft_model

        cfg = trainer.config
        with warnings.catch_warnings():  # peft reads a property transformers 5 deprecated
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            model = get_peft_model(model, LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha,
                                                     lora_dropout=cfg.lora_dropout,
                                                     target_modules=cfg.target_modules, task_type="CAUSAL_LM"))
    model.train()
    forward = torch.compile(model) if args.compile else model
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, fused=device.type == "cuda")
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_schedule(args.warmup, total))  # the same schedule
    autocast = torch.autocast(device_type=device.type, dtype=amp) if amp is not None else contextlib.nullcontext()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = 0.0
    loss: Any = None
    for step, batch in enumerate(batches, start=1):
        with autocast:
            loss = forward(**batch.model_inputs(), labels=batch.labels, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if step == args.warmup:
            _sync(device)
            start = time.perf_counter()
    _sync(device)
    elapsed = time.perf_counter() - start
    tokens = args.steps * args.batch_size * args.seq_len
    return LoopResult("plain PyTorch/HF loop", tokens / elapsed, elapsed / args.steps, float(loss.item()),
                      _peak_memory(device), None)


def _median(results: list[LoopResult]) -> LoopResult:
    """The run with the median throughput."""
    ordered = sorted(results, key=lambda r: r.tokens_per_s)
    return ordered[len(ordered) // 2]


def markdown(results: list[LoopResult], meta: dict[str, Any]) -> str:
    lines = [
        f"local trainer vs plain loop: preset {meta['preset']} ({meta['params_m']:.1f}M params), {meta['method']}, "
        f"batch {meta['batch_size']} x {meta['seq_len']} tokens, {meta['steps']} timed steps after "
        f"{meta['warmup']} warm-up, device {meta['device']}, precision {meta['precision']}"
        f"{', torch.compile' if meta['compile'] else ''}",
        "",
        "| loop | tokens/s | s/step | last loss | peak GPU memory | MFU |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        mem = f"{r.peak_memory_gb:.1f} GB" if r.peak_memory_gb is not None else "n/a"
        mfu = f"{100 * r.mfu:.1f}%" if r.mfu is not None else "n/a (no GPU peak)"
        lines.append(f"| {r.name} | {r.tokens_per_s:,.0f} | {r.s_per_step:.3f} | {r.last_loss:.4f} | {mem} | {mfu} |")
    ratio = results[0].tokens_per_s / results[1].tokens_per_s
    lines += ["", f"ratio (trainer / plain loop tokens/s, medians of {meta['repeats']} alternating runs): "
              f"{ratio:.3f}; per run: {', '.join(f'{r:.3f}' for r in meta['ratios'])}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--preset", default=None,
                        help="model size: tiny, small, 0.5b (default: tiny on CPU, 0.5b on GPU)")
    parser.add_argument("--device", default=None, help="cpu, cuda (default: cuda when available)")
    parser.add_argument("--method", choices=("full", "lora"), default="full")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seq-len", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (compilation, autotuning)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model in both loops")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the GPU's peak bf16 TFLOP/s")
    parser.add_argument("--repeats", type=int, default=None,
                        help="run the pair this many times, alternating, and report medians (default: 3 on CPU, "
                        "1 on GPU); a shared CPU is noisy")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    device = pick_device(args.device)
    gpu = device.type == "cuda"
    args.preset = args.preset or ("0.5b" if gpu else "tiny")
    args.batch_size = args.batch_size or 8
    args.seq_len = args.seq_len or (2048 if gpu else 128)
    args.steps = args.steps or (30 if gpu else 20)
    args.warmup = args.warmup if args.warmup is not None else (10 if args.compile else 5 if gpu else 3)
    configure_backends(device)
    transformers_logging: Any = importlib.import_module("transformers.utils.logging")
    transformers_logging.disable_progress_bar()
    cfg = preset_config(args.preset)
    params = parameter_count(cfg)
    if device.type == "cpu" and (threads := cpu_threads_for(params)) is not None:
        torch.set_num_threads(threads)  # the trainer would do the same; set it for both loops
    tokens_needed = (args.warmup + args.steps) * args.batch_size * args.seq_len
    records = synthetic_corpus(max(64, tokens_needed // 1200 + 64), seed=args.seed)

    repeats = args.repeats or (1 if gpu else 3)
    runs: list[tuple[LoopResult, LoopResult]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_tiny_model(Path(tmp) / "model", preset=args.preset,
                                  max_position_embeddings=max(cfg.max_position_embeddings, args.seq_len))
        for _ in range(repeats):
            mine, trainer = run_trainer(folder, records, args)
            del trainer.optimizer
            trainer.model = trainer.forward_model = None
            if gpu:
                torch.cuda.empty_cache()
            runs.append((mine, run_baseline(folder, trainer, args)))
            if gpu:
                torch.cuda.empty_cache()
    ours = _median([r[0] for r in runs])
    theirs = _median([r[1] for r in runs])
    peak = peak_flops(device, args.peak_tflops)
    per_token = flops_per_token(args.preset, args.seq_len, args.method)
    for r in (ours, theirs):
        r.mfu = r.tokens_per_s * per_token / peak if peak else None
    meta = {"repeats": repeats, "ratios": [round(a.tokens_per_s / b.tokens_per_s, 3) for a, b in runs],
            "preset": args.preset, "params_m": params / 1e6, "method": args.method, "batch_size": args.batch_size,
            "seq_len": args.seq_len, "steps": args.steps, "warmup": args.warmup, "compile": args.compile,
            "device": torch.cuda.get_device_name(device) if gpu else "cpu",
            "precision": "bf16 autocast" if autocast_dtype(device, "auto") else "fp32",
            "threads": torch.get_num_threads() if not gpu else None}
    if args.json:
        print(json.dumps({"meta": meta, "results": [asdict(r) for r in (ours, theirs)],
                          "ratio": ours.tokens_per_s / theirs.tokens_per_s}, indent=2))
    else:
        print(markdown([ours, theirs], meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
