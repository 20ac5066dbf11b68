"""What an evaluated model costs, and whether it is real: per-token prices, hourly deployments, emulation.

Three ways a model is billed, and where the SDK reads the price:

- **per token** (foundation models on demand, Bedrock on-demand custom model deployments): the catalog's
  input/output prices of the model's ``pricing_model_id`` (its base model).
- **by the hour** (Bedrock Provisioned Throughput: model units × the hourly rate; a SageMaker endpoint:
  instances × the instance-hour rate): the deployment's ``hourly_cost``. An evaluation pays for the hours
  the deployment is held, so the Evaluator spreads the hours its generation step took over that model's
  requests (``cost per 1k requests`` = hourly rate × hours / requests × 1000).
- **given**: a :class:`Pricing` passed to ``Evaluator(prices={name: Pricing(...)})`` wins over both (e.g. a
  SageMaker instance type the SDK has no price for, or a negotiated rate).

A model whose backend is the fake backend or an AWS emulation (``finetune_sdk.testing``) is *emulated*: its
answers and costs say nothing about the real service, and every rendering of the report says so.

Examples:
    >>> Pricing.hourly(40.0, source="2 model units").request_cost(None, seconds=90.0, requests=100)
    0.01
    >>> Pricing.per_token(0.035e-3 * 1000, 0.14e-3 * 1000, source="catalog").billing
    'per_token'
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from finetune_sdk.backends.base import ChatResponse

__all__ = ["Pricing", "is_emulated", "pricing_of"]


class Pricing(BaseModel):
    """How one model is billed: per token (USD per 1k input/output tokens) or per hour held."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    billing: Literal["per_token", "hourly"]
    input_per_1k_tokens: float | None = Field(default=None, ge=0)
    output_per_1k_tokens: float | None = Field(default=None, ge=0)
    per_hour: float | None = Field(default=None, ge=0)
    source: str = ""
    date: str | None = None

    @classmethod
    def per_token(
        cls, input_per_1k: float, output_per_1k: float, *, source: str = "given", date: str | None = None
    ) -> Pricing:
        """Token-billed: USD per 1,000 input and output tokens."""
        return cls(
            billing="per_token",
            input_per_1k_tokens=input_per_1k,
            output_per_1k_tokens=output_per_1k,
            source=source,
            date=date,
        )

    @classmethod
    def hourly(cls, per_hour: float, *, source: str = "given", date: str | None = None) -> Pricing:
        """Billed per hour held (provisioned throughput, an endpoint's instances)."""
        return cls(billing="hourly", per_hour=per_hour, source=source, date=date)

    def request_cost(
        self, response: ChatResponse | None, *, seconds: float = 0.0, requests: int = 1
    ) -> float | None:
        """USD of one request: its tokens (per token), or its share of ``seconds`` held over ``requests``."""
        if self.billing == "hourly":
            if self.per_hour is None or requests < 1:
                return None
            return self.per_hour * seconds / 3600.0 / requests
        if response is None or self.input_per_1k_tokens is None or self.output_per_1k_tokens is None:
            return None
        if response.input_tokens is None or response.output_tokens is None:
            return None
        return (
            response.input_tokens * self.input_per_1k_tokens + response.output_tokens * self.output_per_1k_tokens
        ) / 1000.0

    def describe(self) -> str:
        """One line for reports: ``$40.00/hour (2 model units...)`` or ``$0.0350/$0.1400 per 1k tokens``."""
        if self.billing == "hourly":
            text = "-" if self.per_hour is None else f"${self.per_hour:,.2f}/hour"
        else:
            text = f"${self.input_per_1k_tokens:,.4f} in / ${self.output_per_1k_tokens:,.4f} out per 1k tokens"
        extras = ", ".join(p for p in (self.source, f"prices of {self.date}" if self.date else "") if p)
        return f"{text} ({extras})" if extras else text


def _session_is_emulated(session: Any) -> bool:
    if session is None:
        return False
    if getattr(session, "finetune_sdk_emulation", None) is not None:
        return True
    events = getattr(session, "events", None)
    emitter = getattr(events, "_emitter", events)
    ids = getattr(emitter, "_unique_id_handlers", None)  # botocore's registry of named handlers
    if not isinstance(ids, dict):
        return False
    return any(str(uid).startswith(("finetune-sdk-emulation", "finetune-sdk-sagemaker")) for uid in ids)


def is_emulated(model: Any) -> bool:
    """Whether ``model`` runs on the fake backend or behind an AWS emulation from ``finetune_sdk.testing``."""
    backend = getattr(model, "backend", None)
    if backend is None:
        return False
    if getattr(backend, "emulated", False) is True or getattr(backend, "name", None) == "fake":
        return True
    if type(backend).__module__.startswith("finetune_sdk.testing"):
        return True
    session = getattr(backend, "_session", None)
    if session is None:
        aws = getattr(backend, "_aws", None)  # the SageMaker backend keeps its session in AwsClients
        session = getattr(aws, "_session", None)
    return _session_is_emulated(session)


def pricing_of(model: Any) -> Pricing | None:
    """The :class:`Pricing` of a ``Model`` / ``Deployment`` (or anything with the same attributes).

    Hourly when the object reports an ``hourly_cost`` above zero and no per-token ``pricing_model_id``;
    per token from the catalog when ``pricing_model_id`` resolves to an entry with token prices; else
    ``None``.
    """
    from finetune_sdk.catalog import resolve as resolve_catalog

    pricing_id = getattr(model, "pricing_model_id", None)
    if isinstance(pricing_id, str) and pricing_id:
        info = resolve_catalog(pricing_id)
        prices = info.prices if info is not None else None
        if prices is not None and prices.input_per_1k_tokens is not None and prices.output_per_1k_tokens is not None:
            return Pricing.per_token(
                prices.input_per_1k_tokens,
                prices.output_per_1k_tokens,
                source=f"catalog {info.id if info else pricing_id}",
                date=prices.date,
            )
    hourly = getattr(model, "hourly_cost", None)
    if isinstance(hourly, (int, float)) and not isinstance(hourly, bool) and hourly > 0:
        record = getattr(model, "record", None)
        kind = getattr(record, "kind", None)
        what = {"provisioned": "provisioned throughput", "endpoint": "endpoint instances"}.get(str(kind), "deployment")
        return Pricing.hourly(float(hourly), source=f"{what}, list price")
    return None
