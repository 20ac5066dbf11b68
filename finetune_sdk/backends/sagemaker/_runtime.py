"""SageMaker runtime: chat on an endpoint in the dialect of its serving container.

Private; composed into :class:`finetune_sdk.backends.sagemaker.SageMakerBackend`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from finetune_sdk.backends.base import (
    ChatResponse,
    InferenceConfig,
)
from finetune_sdk.backends.sagemaker import requests as rq
from finetune_sdk.backends.sagemaker import serving
from finetune_sdk.errors import (
    BackendError,
)

if TYPE_CHECKING:
    from finetune_sdk.data.records import Turn

from finetune_sdk.backends.sagemaker._base import (
    _dialect_pair,
    _SageMakerBase,
)

__all__: list[str] = []

logger = logging.getLogger(__name__)


class _SageMakerRuntime(_SageMakerBase):
    """SageMaker runtime: chat on an endpoint in the dialect of its serving container."""

    # --- invocation ------------------------------------------------------------------------------------
    def _dialect_of(self, endpoint: str) -> tuple[serving.Dialect, serving.PromptFormat]:
        with self._lock:
            known = self._dialects.get(endpoint)
        if known is not None:
            return known
        dialect: str | None = None
        prompt: str | None = None
        try:
            d = self._call(
                "sagemaker", "describe_endpoint", resource=f"endpoint {endpoint}", EndpointName=endpoint
            )
            tags = self._tags(str(d.get("EndpointArn", "")))
            dialect = tags.get(f"{rq.TAG_PREFIX}payload")
            prompt = tags.get(f"{rq.TAG_PREFIX}prompt-format")
            if dialect is None:
                config = self._call(
                    "sagemaker",
                    "describe_endpoint_config",
                    EndpointConfigName=str(d.get("EndpointConfigName")),
                )
                model_name = config["ProductionVariants"][0]["ModelName"]
                model = self._call("sagemaker", "describe_model", ModelName=model_name)
                dialect = serving.guess_dialect((model.get("PrimaryContainer") or {}).get("Image"))
        except (BackendError, KeyError, IndexError) as exc:
            logger.debug("could not read the payload dialect of endpoint %s (%s); using tgi", endpoint, exc)
        result = _dialect_pair(dialect, prompt)
        with self._lock:
            self._dialects[endpoint] = result
        return result

    def chat(
        self, model_id: str, *, system: str | None, turns: Sequence[Turn], config: InferenceConfig
    ) -> ChatResponse:
        """Invoke an endpoint (``model_id`` is the endpoint name) in its container's dialect.

        Token counts are the container's when it reports them (TGI ``details``, LMI ``usage``), otherwise
        estimated at about 4 characters per token with ``tokens_estimated=True``.

        Raises:
            ResourceNotFoundError: no such endpoint.
            ServiceValidationError: the container rejected the request or answered in an unknown shape.
            ThrottlingError: still throttled after retries.
        """
        from finetune_sdk.data.tokens import HeuristicCounter

        dialect, prompt_format = self._dialect_of(model_id)
        body = serving.build_request(dialect, prompt_format, system, turns, config)
        start = self.clock.monotonic()
        wall = time.perf_counter()
        response = self._call(
            "sagemaker-runtime",
            "invoke_endpoint",
            resource=f"endpoint {model_id}",
            EndpointName=model_id,
            ContentType="application/json",
            Accept="application/json",
            Body=json.dumps(body).encode("utf-8"),
        )
        raw_body = response["Body"].read()
        latency = max(self.clock.monotonic() - start, time.perf_counter() - wall)
        prompt = body.get("inputs") if isinstance(body.get("inputs"), str) else None
        stops = [serving.LLAMA3_EOT, *config.stop] if dialect == "tgi" else list(config.stop)
        parsed = serving.parse_response(raw_body, prompt=prompt, stops=stops)
        counter = HeuristicCounter(4.0)
        estimated = parsed.input_tokens is None or parsed.output_tokens is None
        prompt_text = prompt if prompt is not None else "\n".join([system or "", *(t.text for t in turns)])
        input_tokens = parsed.input_tokens if parsed.input_tokens is not None else counter.count(prompt_text)
        output_tokens = (
            parsed.output_tokens if parsed.output_tokens is not None else counter.count(parsed.text)
        )
        raw: dict[str, Any] = {
            "body": raw_body.decode("utf-8", errors="replace")[:10_000],
            "dialect": dialect,
        }
        return ChatResponse(
            text=parsed.text,
            stop_reason=parsed.stop_reason,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            tokens_estimated=estimated,
            latency_s=latency,
            model_id=model_id,
            raw=raw,
        )
