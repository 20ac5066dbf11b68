"""Local inference: load a Hugging Face causal LM once, answer chats with it, batch concurrent requests.

Loaded models are cached in-process (least recently used first out, :data:`CACHE_SIZE` models). Requests
that arrive while the model is busy (the Evaluator and the Distiller send several at once from threads)
are queued and answered together in one left-padded batch, which is several times faster than one by one
on a CPU. Token counts are exact (from the model's tokenizer); decoding is greedy when the temperature is 0.

Imports torch and transformers at import time; ``LocalBackend.chat`` imports this module on first use.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from finetune_sdk.backends.base import InferenceConfig
from finetune_sdk.data.records import Turn
from finetune_sdk.training._deps import dtype_kwargs
from finetune_sdk.training._encode import ensure_chat_template, render_prompt
from finetune_sdk.training._threads import cpu_threads_for

__all__ = ["CACHE_SIZE", "MAX_BATCH", "Generation", "LoadedModel", "evict", "generate", "load"]

#: models kept loaded in this process
CACHE_SIZE = 2
#: requests answered together at most
MAX_BATCH = 16


@dataclass
class Generation:
    """One answer: text, why it ended, exact token counts and the time it took."""

    text: str
    stop_reason: str
    input_tokens: int
    output_tokens: int
    latency_s: float


@dataclass
class _Request:
    prompt_ids: list[int]
    config: InferenceConfig
    done: threading.Event = field(default_factory=threading.Event)
    result: Generation | None = None
    error: BaseException | None = None
    started: float = field(default_factory=time.perf_counter)


class LoadedModel:
    """A model and tokenizer in memory, with a request queue so concurrent callers share batches."""

    def __init__(self, source: str, device: torch.device) -> None:
        transformers: Any = importlib.import_module("transformers")
        from finetune_sdk.training._gguf import materialize_if_gguf
        from finetune_sdk.training._hf_progress import transformers_progress

        self.source = source
        self.device = device
        with transformers_progress():
            self._load(transformers, materialize_if_gguf(source), device)
        self._queue: list[_Request] = []
        self._queue_lock = threading.Lock()
        self._run_lock = threading.Lock()

    def _load(self, transformers: Any, source: str, device: torch.device) -> None:
        self.folder = source
        self.tokenizer: Any = transformers.AutoTokenizer.from_pretrained(source)
        ensure_chat_template(self.tokenizer)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        model: Any = transformers.AutoModelForCausalLM.from_pretrained(source, **dtype_kwargs(dtype))
        self.model: Any = model.to(device).eval()
        self.n_params = sum(p.numel() for p in self.model.parameters())
        self.context = int(getattr(self.model.config, "max_position_embeddings", 0) or 0)
        self.eos_ids = self._eos_ids()

    def _eos_ids(self) -> list[int]:
        ids: set[int] = set()
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        for value in (configured, self.tokenizer.eos_token_id):
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, (list, tuple)):
                ids.update(v for v in value if isinstance(v, int))
        return sorted(ids)

    # --- requests ----------------------------------------------------------------------------------------
    def encode(self, system: str | None, turns: Sequence[Turn]) -> list[int]:
        prompt = render_prompt(self.tokenizer, system, turns)
        return list(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])

    def submit(self, prompt_ids: list[int], config: InferenceConfig) -> Generation:
        """Answer one request, batching it with any that are waiting. Thread-safe."""
        request = _Request(prompt_ids, config)
        with self._queue_lock:
            self._queue.append(request)
        while not request.done.is_set():
            if self._run_lock.acquire(blocking=False):
                try:
                    with self._queue_lock:
                        batch = [r for r in self._queue if r.config == self._queue[0].config][:MAX_BATCH]
                        for r in batch:
                            self._queue.remove(r)
                    if batch:
                        self._run(batch)
                finally:
                    self._run_lock.release()
            else:
                request.done.wait(0.002)
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _run(self, batch: list[_Request]) -> None:
        try:
            results = self._generate([r.prompt_ids for r in batch], batch[0].config)
            now = time.perf_counter()
            for request, (text, reason, n_out) in zip(batch, results, strict=True):
                request.result = Generation(text=text, stop_reason=reason,
                                            input_tokens=len(request.prompt_ids), output_tokens=n_out,
                                            latency_s=now - request.started)
        except BaseException as exc:  # every waiter must wake up, with the error
            for request in batch:
                request.error = exc
        finally:
            for request in batch:
                request.done.set()

    @contextlib.contextmanager
    def _threads(self) -> Iterator[None]:
        threads = cpu_threads_for(self.n_params) if self.device.type == "cpu" else None
        if threads is None:
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def _generate(self, prompts: list[list[int]], config: InferenceConfig) -> list[tuple[str, str, int]]:
        transformers: Any = importlib.import_module("transformers")

        longest = max(len(p) for p in prompts)
        max_new = config.max_tokens
        if self.context:
            max_new = max(1, min(max_new, self.context - longest))
        pad = int(self.tokenizer.pad_token_id)
        ids = torch.full((len(prompts), longest), pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), longest), dtype=torch.long)
        for row, p in enumerate(prompts):
            ids[row, longest - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[row, longest - len(p):] = 1
        sample = config.temperature > 0
        options: dict[str, Any] = {"max_new_tokens": max_new, "do_sample": sample,
                                   "eos_token_id": self.eos_ids or None, "pad_token_id": pad}
        if sample:
            options["temperature"] = config.temperature
            if config.top_p is not None:
                options["top_p"] = config.top_p
        generation_config = transformers.GenerationConfig(**options)
        with self._threads(), torch.inference_mode():
            out = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                      generation_config=generation_config)
        new_tokens = out[:, longest:].tolist()
        return [self._finish(row, config, max_new) for row in new_tokens]

    def _finish(self, tokens: list[int], config: InferenceConfig, max_new: int) -> tuple[str, str, int]:
        eos = set(self.eos_ids)
        cut = next((i for i, t in enumerate(tokens) if t in eos), None)
        if cut is not None:
            text = self.tokenizer.decode(tokens[:cut], skip_special_tokens=True)
            reason, n_out = "end_turn", cut + 1
        else:
            pad = self.tokenizer.pad_token_id
            body = tokens if pad in eos else [t for t in tokens if t != pad]
            text = self.tokenizer.decode(body, skip_special_tokens=True)
            reason, n_out = "max_tokens", len(body)
        for stop in config.stop:
            at = text.find(stop) if stop else -1
            if at >= 0:
                text = text[:at]
                reason = "stop_sequence"
                n_out = len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) + 1
        return text, reason, min(n_out, max_new)


_CACHE: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def load(source: str | Path, device: str | None = None) -> LoadedModel:
    """The loaded model for ``source`` (a folder or hub id) on ``device``, from the cache when possible."""
    if device in (None, "", "auto"):
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        dev = torch.device(str(device))
    key = (str(source), str(dev))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        loaded = LoadedModel(str(source), dev)
        _CACHE[key] = loaded
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
        return loaded


def evict(source: str | Path) -> None:
    """Forget every cached copy of ``source`` (after its folder was deleted or rewritten)."""
    with _CACHE_LOCK:
        for key in [k for k in _CACHE if k[0] == str(source)]:
            del _CACHE[key]


def generate(source: str | Path, *, system: str | None, turns: Sequence[Turn], config: InferenceConfig,
             device: str | None = None) -> Generation:
    """Answer one conversation with the model at ``source``."""
    loaded = load(source, device)
    return loaded.submit(loaded.encode(system, turns), config)
