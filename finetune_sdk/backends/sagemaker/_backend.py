"""``SageMakerBackend``: training jobs, endpoints and invocation on Amazon SageMaker, through boto3 only.

Two ways to train (``SageMakerOptions(mode=...)``):

- **jumpstart**: a JumpStart hub model (``meta-textgeneration-llama-3-8b``, ``-3-1-8b``, ``-instruct``...)
  trained by JumpStart's own script. Image, script, base weights, defaults, supported instances and the gated
  flag come from the model's hub document (``DescribeHubContent``); the EULA must be accepted explicitly.
- **script**: the SDK's own trainer (the local backend's worker) in a PyTorch training container, managed spot
  and S3 checkpoints on request; ``torchrun`` across instances and GPUs (the trainer shards the data and uses
  DDP; ``finetune_sdk.training._config.SUPPORTS_DISTRIBUTED``, without which multi-process jobs are
  refused at submit). Verified as request shape and command construction only; it has not run on SageMaker.

Jobs, endpoints and errors follow the common protocol: ``TrainingJobStatus`` maps to ``JobStatus``,
``SecondaryStatus`` transitions become ``stages``, creates are idempotent (the job name carries a hash of the
spec; a dropped connection is followed by a describe before any retry), throttling is retried with backoff on
the backend's clock, and service errors become ``finetune_sdk.errors`` classes.

The ``sagemaker`` package is never imported at module import. It is used only to look up a framework image
(PyTorch training, Hugging Face TGI serving) when no ``image_uri`` was given, and its absence then gives a
``ConfigurationError`` with the ``pip install 'finetune-sdk[sagemaker]'`` line.

Examples:
    >>> from finetune_sdk.backends.sagemaker import SageMakerBackend
    >>> backend = SageMakerBackend(region="us-east-1", role_arn="arn:aws:iam::123456789012:role/SageMaker",
    ...                            output_uri="s3://my-bucket/finetune")
    >>> backend.name, sorted(k.value for k in backend.supported_kinds)
    ('sagemaker', ['continued_pre_training', 'fine_tuning'])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from finetune_sdk.backends.base import (
    CanDeploy,
    CanInvoke,
    HasModelArtifacts,
    JobKind,
    UsesAwsSession,
)

if TYPE_CHECKING:
    pass

from finetune_sdk.backends.sagemaker._base import BACKEND
from finetune_sdk.backends.sagemaker._export import _SageMakerExport
from finetune_sdk.backends.sagemaker._jobs import _SageMakerJobs
from finetune_sdk.backends.sagemaker._models import _SageMakerModels
from finetune_sdk.backends.sagemaker._runtime import _SageMakerRuntime

__all__ = ["SageMakerBackend"]


class SageMakerBackend(
    _SageMakerJobs,
    _SageMakerModels,
    _SageMakerRuntime,
    _SageMakerExport,
    CanInvoke,
    CanDeploy,
    HasModelArtifacts,
    UsesAwsSession,
):
    """Fine-tune with SageMaker training jobs (JumpStart or the SDK's trainer), serve on SageMaker endpoints.

    Args:
        region: the AWS Region (default: the session's).
        session: a ``boto3.Session`` (default: a new one from the environment).
        role_arn: the execution role for training jobs and endpoints (``JobSpec.role_arn`` wins for jobs).
        output_uri: ``s3://bucket/prefix`` for job outputs, staged data and the source tarball
            (``JobSpec.output_uri`` wins for jobs).
        endpoint_url: send every call there (moto server, LocalStack).
        clock: time source for polling and retry backoff (tests pass ``finetune_sdk.testing.FakeClock``).
        hub_document_loader: ``model_id -> dict`` returning JumpStart hub documents, instead of
            ``DescribeHubContent`` (offline use, private mirrors, tests).

    Examples:
        >>> b = SageMakerBackend(region="eu-west-1")
        >>> b.region, b.role_arn is None
        ('eu-west-1', True)
    """

    name = BACKEND
    supported_kinds = frozenset({JobKind.FINE_TUNING, JobKind.CONTINUED_PRE_TRAINING})
    default_poll_interval = 60.0
    default_deployment_kind = "endpoint"

    def __repr__(self) -> str:
        region = self._aws._region or "default"
        return f"<SageMakerBackend name='sagemaker' region={region!r}>"
