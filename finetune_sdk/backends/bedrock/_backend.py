"""The Amazon Bedrock backend: customisation and import jobs, custom models, deployments, inference, batch.

Every request is built by a pure function in ``requests.py``, checked against botocore's service model by
``checks.validate_request`` (max lengths, patterns, enums... that botocore skips), and sent through one
method, :meth:`BedrockBackend._call`, which retries throttling, 5xx answers and dropped connections with
tenacity on the backend clock and translates every error into ``finetune_sdk.errors`` at the boundary.

Creates are idempotent: the client request token is derived from the spec, and after a failure that leaves it
unknown whether the create was applied (a 5xx or a lost connection) the backend looks for the job by name
before sending it again.

Examples:
    >>> from finetune_sdk.backends.bedrock import BedrockBackend
    >>> backend = BedrockBackend(region="us-west-2", role_arn="arn:aws:iam::123456789012:role/BedrockJobs",
    ...                          output_uri="s3://my-bucket/finetune")
    >>> backend.name, backend.region, sorted(k.value for k in backend.supported_kinds)
    ('bedrock', 'us-west-2', ['continued_pre_training', 'distillation', 'fine_tuning', 'import', 'reinforcement'])
"""

from __future__ import annotations

from finetune_sdk.backends.base import (
    CanBatchInfer,
    CanDeploy,
    CanInvoke,
    CanPreflightImport,
    JobKind,
    UsesAwsSession,
)
from finetune_sdk.backends.bedrock._batch import _BedrockBatch
from finetune_sdk.backends.bedrock._jobs import _BedrockJobs
from finetune_sdk.backends.bedrock._models import _BedrockModels
from finetune_sdk.backends.bedrock._runtime import _BedrockRuntime

__all__ = ["BedrockBackend"]


class BedrockBackend(
    _BedrockJobs,
    _BedrockModels,
    _BedrockRuntime,
    _BedrockBatch,
    CanInvoke,
    CanDeploy,
    CanBatchInfer,
    CanPreflightImport,
    UsesAwsSession,
):
    """Amazon Bedrock: fine-tuning, continued pre-training, distillation, Custom Model Import, Provisioned
    Throughput and on-demand deployments, Converse/InvokeModel inference and batch inference.

    Args:
        region: AWS Region (default: the session's, then ``AWS_DEFAULT_REGION``).
        session: a ``boto3.Session`` (profile, credentials); every client is created from it, lazily.
        role_arn: default service role for jobs (a spec's ``role_arn`` wins).
        output_uri: default ``s3://`` prefix for job output, staged data and batch files.
        endpoint_url: endpoint of the ``bedrock`` client (VPC endpoints, emulators).
        runtime_endpoint_url: endpoint of the ``bedrock-runtime`` client.
        s3_endpoint_url: endpoint of the ``s3`` client (staged data, metrics, batch files).
        clock: time source for retries and polling (``finetune_sdk.testing.FakeClock`` in tests).
        max_attempts: attempts per request for throttling, 5xx answers and dropped connections.
        invoke_throttle_attempts: attempts of a throttled inference call before ``ThrottlingError`` is raised
            (default ``min(3, max_attempts)``). Callers with their own rate limiter, such as the Evaluator's
            adaptive limiter, see throttling sooner with 1.

    Raises:
        ConfigurationError: ``max_attempts`` below 1 or an ``output_uri`` that is not ``s3://``.
    """

    name = "bedrock"
    supported_kinds = frozenset(
        {
            JobKind.FINE_TUNING,
            JobKind.CONTINUED_PRE_TRAINING,
            JobKind.DISTILLATION,
            JobKind.IMPORT,
            JobKind.REINFORCEMENT,
        }
    )
    default_poll_interval = 60.0
    default_deployment_kind = "provisioned"

    def __repr__(self) -> str:
        return f"<BedrockBackend name='bedrock' region={self._aws._region!r}>"
