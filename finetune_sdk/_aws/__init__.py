"""The private AWS core every AWS caller in the SDK uses; nothing here imports boto3 at import time.

- :mod:`.clients`: the session and client factory (Region, profile, endpoint URLs, ``finetune-sdk/<version>``
  user agent, botocore retries off).
- :mod:`.errors`: the one error translation table (code -> SDK class), retry classification and hints.
- :mod:`.retry`: the one retry-with-recovery policy (tenacity) for calls, and :func:`poll` for waiting loops.
- :mod:`.validation`: the one service-model request validator (every botocore constraint, before sending).
- :mod:`.patterns`: the one engine for the service models' Java patterns (linear time).
- :mod:`.s3`: the one ``S3Uri`` value (parse, bucket-name rules, safe key joins).

It sits below ``data/`` and the backends (it imports only ``finetune_sdk.errors``, ``_clock`` and ``_version``),
so data uploads and every backend share it without ``data/`` importing a backend.
"""

from finetune_sdk._aws.clients import USER_AGENT, AwsClients
from finetune_sdk._aws.errors import (
    ERROR_CLASSES,
    RetryKind,
    classify_retry,
    error_class,
    error_code,
    hint_for_message,
    is_aws_error,
    is_connection_error,
    service_message,
    translate_error,
)
from finetune_sdk._aws.retry import RetryPolicy, call_with_retries, poll
from finetune_sdk._aws.s3 import S3Uri, split_s3_uri
from finetune_sdk._aws.validation import RequestProblem, find_request_problems, service_model, validate_request
from finetune_sdk.errors import ModelNotReadyError, ServiceUnavailableError, ThrottlingError

__all__ = [
    "ERROR_CLASSES",
    "RETRYABLE",
    "USER_AGENT",
    "AwsClients",
    "RequestProblem",
    "RetryKind",
    "RetryPolicy",
    "S3Uri",
    "call_with_retries",
    "classify_retry",
    "error_class",
    "error_code",
    "find_request_problems",
    "hint_for_message",
    "is_aws_error",
    "is_connection_error",
    "poll",
    "service_message",
    "service_model",
    "split_s3_uri",
    "translate_error",
    "validate_request",
]

#: SDK errors worth another try after a backoff
RETRYABLE = (ThrottlingError, ServiceUnavailableError, ModelNotReadyError)
