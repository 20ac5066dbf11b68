"""What the Evaluator evaluates: anything with ``chat()`` (``Model``, ``Deployment``, a fake) or a callable.


:class:`SupportsChat` is the structural contract of ``finetune_sdk.models.Model`` and ``Deployment`` that the
Evaluator relies on (``id`` and ``chat(system=..., turns=..., config=...)``); ``name``, ``backend`` and
``pricing_model_id`` are read when present. A plain callable ``(prompt: str) -> str | ChatResponse`` is
wrapped: it receives the rendered prompt as one string and its name comes from ``__name__``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Union, runtime_checkable

from finetune_sdk.backends.base import ChatResponse, InferenceConfig
from finetune_sdk.catalog import Prices
from finetune_sdk.catalog import resolve as resolve_catalog
from finetune_sdk.data.records import Record, Turn
from finetune_sdk.errors import ConfigurationError, DataError
from finetune_sdk.evaluation.pricing import Pricing, is_emulated, pricing_of

__all__ = ["ModelLike", "SupportsChat", "Target", "record_fingerprint", "resolve_target", "resolve_targets"]


@runtime_checkable
class SupportsChat(Protocol):
    """The part of ``Model`` / ``Deployment`` the Evaluator uses: an ``id`` and ``chat()``.

    ``chat`` takes either ``messages`` or ``system`` + ``turns``; the Evaluator always passes the latter.
    It raises ``ThrottlingError``, ``ServiceUnavailableError`` or ``ModelNotReadyError`` (retried by the
    Evaluator) or another ``BackendError`` (recorded as that example's error).
    """

    @property
    def id(self) -> str: ...

    def chat(
        self,
        messages: str | Sequence[Mapping[str, Any]] = ...,
        *,
        system: str | None = None,
        turns: Sequence[Turn] | None = None,
        config: InferenceConfig | None = None,
    ) -> ChatResponse: ...


#: what ``Evaluator.evaluate`` / ``compare`` accept as a model
ModelLike = Union[SupportsChat, Callable[[str], Union[str, ChatResponse]]]  # noqa: UP007

Invoker = Callable[[Union[str, None], tuple[Turn, ...], InferenceConfig], ChatResponse]  # noqa: UP007


@dataclass(frozen=True)
class Target:
    """A model resolved for evaluation: a unique ``key`` (its name in the report) and how to invoke it."""

    key: str
    id: str
    name: str
    kind: str  # "chat" or "callable"
    backend: str | None
    pricing_model_id: str | None
    prices: Prices | None
    invoke: Invoker
    #: how the model is billed (per token or per hour held); ``None`` when unknown
    pricing: Pricing | None = None
    #: the model runs on the fake backend or an AWS emulation: its answers and costs are not real
    emulated: bool = False


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def record_fingerprint(record: Record) -> str:
    """sha256 of a record's canonical JSON (text, turns, system and metadata).

    Raises:
        DataError: the record's metadata nests deeper than ``MAX_JSON_DEPTH`` (the limit validation uses).
    """
    from finetune_sdk.data.io import MAX_JSON_DEPTH, json_depth

    if json_depth(record.metadata) > MAX_JSON_DEPTH:
        raise DataError(
            f"a record's metadata nests objects and arrays more than {MAX_JSON_DEPTH} levels deep (the SDK's "
            "limit for every record it validates or serialises); flatten the metadata"
        )
    return hashlib.sha256(_canonical(record.model_dump(mode="json")).encode("utf-8")).hexdigest()


def _flatten_prompt(system: str | None, turns: Sequence[Turn]) -> str:
    """One string for a plain callable: the system prompt and every turn, separated by blank lines."""
    parts = [system] if system else []
    if len(turns) == 1:
        parts.append(turns[0].text)
    else:
        parts.extend(f"{t.role.capitalize()}: {t.text}" for t in turns)
    return "\n\n".join(parts)


def _with_latency(response: ChatResponse, started: float) -> ChatResponse:
    if response.latency_s > 0:
        return response
    return response.model_copy(update={"latency_s": time.perf_counter() - started})


def _prices_for(pricing_model_id: str | None) -> Prices | None:
    if not pricing_model_id:
        return None
    info = resolve_catalog(pricing_model_id)
    if info is None or info.prices.input_per_1k_tokens is None or info.prices.output_per_1k_tokens is None:
        return None
    return info.prices


def _callable_name(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "__name__", None)
    if isinstance(name, str) and name and name != "<lambda>":
        return name
    inner = getattr(fn, "func", None)  # functools.partial
    if inner is not None:
        return _callable_name(inner)
    return type(fn).__name__ if name is None else "lambda"


def resolve_target(model: ModelLike, *, key: str | None = None) -> Target:
    """Wrap a chat object or a callable as a :class:`Target`.

    Raises:
        ConfigurationError: ``model`` has neither ``chat()`` nor is callable.
    """
    chat = getattr(model, "chat", None)
    if callable(chat) and isinstance(getattr(model, "id", None), str):
        model_id: str = model.id  # type: ignore[union-attr]
        name = getattr(model, "name", None)
        name = name if isinstance(name, str) and name else model_id
        backend_obj = getattr(model, "backend", None)
        backend_name = getattr(backend_obj, "name", None) if backend_obj is not None else None
        # an explicit None means "not billed per token" (a Deployment); guess only if the attribute is absent
        if hasattr(model, "pricing_model_id"):
            pricing = model.pricing_model_id
        else:
            pricing = model_id if resolve_catalog(model_id) is not None else None

        def invoke_chat(system: str | None, turns: tuple[Turn, ...], config: InferenceConfig) -> ChatResponse:
            started = time.perf_counter()
            out = chat(system=system, turns=turns, config=config)
            if isinstance(out, str):  # lenient: a fake that returns text
                out = ChatResponse(text=out, model_id=model_id)
            return _with_latency(out, started)

        prices = _prices_for(pricing if isinstance(pricing, str) else None)
        billing = pricing_of(model)
        if billing is None and prices is not None and hasattr(model, "pricing_model_id") is False:
            billing = Pricing.per_token(
                float(prices.input_per_1k_tokens or 0.0),
                float(prices.output_per_1k_tokens or 0.0),
                source=f"catalog {pricing}",
                date=prices.date,
            )
        return Target(
            key=key or name,
            id=model_id,
            name=name,
            kind="chat",
            backend=backend_name if isinstance(backend_name, str) else None,
            pricing_model_id=pricing if isinstance(pricing, str) else None,
            prices=prices,
            invoke=invoke_chat,
            pricing=billing,
            emulated=is_emulated(model),
        )
    if callable(model):
        fn = model
        name = _callable_name(fn)

        def invoke_callable(
            system: str | None, turns: tuple[Turn, ...], config: InferenceConfig
        ) -> ChatResponse:
            from finetune_sdk.data.tokens import HeuristicCounter

            prompt = _flatten_prompt(system, turns)
            started = time.perf_counter()
            out = fn(prompt)
            if isinstance(out, ChatResponse):
                return _with_latency(out, started)
            text = str(out)
            counter = HeuristicCounter(4.0)
            return ChatResponse(
                text=text,
                input_tokens=counter.count(prompt),
                output_tokens=counter.count(text),
                tokens_estimated=True,
                latency_s=time.perf_counter() - started,
                model_id=name,
            )

        return Target(
            key=key or name,
            id=name,
            name=name,
            kind="callable",
            backend=None,
            pricing_model_id=None,
            prices=None,
            invoke=invoke_callable,
        )
    raise ConfigurationError(
        f"cannot evaluate {type(model).__name__!r}: pass a Model or Deployment (anything with .id and "
        ".chat()), "
        "or a callable (prompt: str) -> str | ChatResponse"
    )


def resolve_targets(models: Sequence[ModelLike]) -> list[Target]:
    """Targets with unique keys: a repeated name gets ``#2``, ``#3``... appended."""
    targets: list[Target] = []
    seen: dict[str, int] = {}
    for m in models:
        t = resolve_target(m)
        n = seen.get(t.key, 0) + 1
        seen[t.key] = n
        if n > 1:
            t = resolve_target(m, key=f"{t.key}#{n}")
        targets.append(t)
    return targets
