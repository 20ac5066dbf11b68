"""Bedrock runtime: Converse and InvokeModel inference on models and deployments.

Private; composed into :class:`finetune_sdk.backends.bedrock.BedrockBackend`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from finetune_sdk.backends.base import (
    ChatResponse,
    InferenceConfig,
)
from finetune_sdk.backends.bedrock import requests as rq
from finetune_sdk.backends.bedrock.checks import (
    base_model_info,
    model_id_from_arn,
)
from finetune_sdk.errors import (
    ServiceValidationError,
)

if TYPE_CHECKING:
    from finetune_sdk.data.records import Turn

from finetune_sdk.backends.bedrock._base import (
    _BedrockBase,
    _converse_unsupported,
    _Timing,
)

__all__: list[str] = []

logger = logging.getLogger(__name__)


class _BedrockRuntime(_BedrockBase):
    """Bedrock runtime: Converse and InvokeModel inference on models and deployments."""

    # --- inference --------------------------------------------------------------------------------------
    def _dialect_for(self, model_id: str) -> str | None:
        """The InvokeModel body dialect of a model id, resolving deployments to the model they serve."""
        if model_id in self._dialects:
            return self._dialects[model_id]
        resource, _ = model_id_from_arn(model_id)
        dialect: str | None
        if resource == "imported-model":
            dialect = (
                "openai_chat" if self._imported(model_id).get("instructSupported") else "bedrock_completion"
            )
        elif resource == "provisioned-model":
            raw = self._call("bedrock", "GetProvisionedModelThroughput", {"provisionedModelId": model_id})
            dialect = rq.runtime_model_family(str(raw.get("modelArn") or raw.get("foundationModelArn") or ""))
            if dialect is None and raw.get("foundationModelArn"):
                dialect = rq.runtime_model_family(str(raw["foundationModelArn"]))
        elif resource == "custom-model-deployment":
            raw = self._call(
                "bedrock", "GetCustomModelDeployment", {"customModelDeploymentIdentifier": model_id}
            )
            dialect = rq.runtime_model_family(str(raw.get("modelArn") or ""))
        else:
            dialect = rq.runtime_model_family(model_id)
        self._dialects[model_id] = dialect
        return dialect

    def chat(
        self, model_id: str, *, system: str | None, turns: Sequence[Turn], config: InferenceConfig
    ) -> ChatResponse:
        """Send a conversation to a model, deployment, imported model or inference profile.

        Uses Converse (service token counts, stop reason) and falls back to InvokeModel with the family's body
        format when Converse does not serve the model (remembered per model id); imported models that do not
        support chat go straight to InvokeModel. Throttling is retried briefly, then raised; an imported model
        scaled to zero (``ModelNotReadyException``) is retried with backoff for up to ~5 minutes.

        Raises:
            ThrottlingError: still throttled after the retries.
            ModelNotReadyError: the imported model did not come back in time.
            ServiceValidationError: the model cannot be invoked this way (the message has a hint, e.g. deploy
                the model first, or use the inference profile id).
        """
        resource, _ = model_id_from_arn(model_id)
        if resource == "imported-model" and not self._imported(model_id).get("instructSupported", False):
            return self._invoke(model_id, "bedrock_completion", system=system, turns=turns, config=config)
        known = self._no_converse.get(model_id)
        if known is not None:
            return self._invoke(model_id, known, system=system, turns=turns, config=config)
        try:
            return self._converse(model_id, system=system, turns=turns, config=config)
        except ServiceValidationError as exc:
            if not _converse_unsupported(exc):
                raise
            dialect = self._dialect_for(model_id)
            if dialect is None:
                raise ServiceValidationError(
                    f"{exc}\nConverse does not serve {model_id} and the catalog has no InvokeModel body "
                    f"format for "
                    "it; invoke it with a model id the catalog knows, or a deployment of one",
                    backend=self.name,
                    code=exc.code,
                    request_id=exc.request_id,
                ) from exc
            logger.info("Converse does not serve %s; using InvokeModel (%s body)", model_id, dialect)
            self._no_converse[model_id] = dialect
            return self._invoke(model_id, dialect, system=system, turns=turns, config=config)

    def _converse(
        self, model_id: str, *, system: str | None, turns: Sequence[Turn], config: InferenceConfig
    ) -> ChatResponse:
        request = rq.converse_request(model_id, system=system, turns=turns, config=config)
        timing = _Timing(self.clock)
        response = self._call(
            "bedrock-runtime", "Converse", request, runtime=True, model_id=model_id, timing=timing
        )
        return rq.parse_converse_response(response, model_id=model_id, latency_s=timing.seconds)

    def _invoke(
        self,
        model_id: str,
        dialect: str,
        *,
        system: str | None,
        turns: Sequence[Turn],
        config: InferenceConfig,
    ) -> ChatResponse:
        body = rq.invoke_body(dialect, system=system, turns=turns, config=config)
        params = {
            "modelId": model_id,
            "body": rq.encode_body(body),
            "contentType": "application/json",
            "accept": "application/json",
        }
        timing = _Timing(self.clock)
        response = self._call(
            "bedrock-runtime", "InvokeModel", params, runtime=True, model_id=model_id, timing=timing
        )
        payload = rq.decode_body(response.get("body"))
        headers = (response.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
        info = base_model_info(model_id)
        prompt_text = "\n".join(([system] if system else []) + [t.text for t in turns])
        return rq.parse_invoke_response(
            dialect,
            payload,
            headers=headers,
            model_id=model_id,
            latency_s=timing.seconds,
            prompt_text=prompt_text,
            chars_per_token=info.limits.chars_per_token if info else 4.0,
        )
