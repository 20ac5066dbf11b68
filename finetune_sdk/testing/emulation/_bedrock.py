"""``BedrockEmulation``: Amazon Bedrock with no network, behind real boto3 request serialisation.

moto (``mock_aws``) serves S3, IAM, STS and CloudWatch Logs. Bedrock and Bedrock Runtime are served by this
module: ``before-send`` handlers registered first on the session's event system receive every serialised
HTTP request, route it with the service model's ``requestUri`` templates, rebuild the parameters from the
method, path, query, headers and JSON body, validate them in full against the service model (required,
types, lengths, ranges, sizes, Java patterns, enums, unions), apply the operation to an in-memory account,
and answer with a real HTTP response that botocore's own parser reads. Anything the emulation does not
serve raises ``NotImplementedError`` instead of reaching the network.

What it adds over moto: jobs that move (InProgress → Completed or Failed after clock time or a number of
polls), idempotent client tokens, realistic ARNs, training metrics CSVs in S3, custom models that appear on
completion, Custom Model Import reading the S3 folder, Provisioned Throughput, on-demand deployments, batch
inference over S3 JSONL (output in shuffled order plus ``manifest.json.out``), Converse and InvokeModel with
a scripted responder and token counts, invocation logging to S3, and fault injection.

Examples:
    >>> from finetune_sdk.testing.emulation import BedrockEmulation
    >>> with BedrockEmulation() as aws:
    ...     runtime = aws.session.client("bedrock-runtime")
    ...     answer = runtime.converse(modelId="amazon.nova-micro-v1:0",
    ...                               messages=[{"role": "user", "content": [{"text": "hi"}]}])
    ...     answer["output"]["message"]["content"][0]["text"], answer["usage"]["outputTokens"]
    ('echo: hi', 2)
"""

from __future__ import annotations

from finetune_sdk.testing.emulation._bedrock_jobs import _BedrockJobHandlers
from finetune_sdk.testing.emulation._bedrock_runtime_ops import _BedrockRuntimeHandlers
from finetune_sdk.testing.emulation._bedrock_serving import _BedrockServingHandlers

__all__ = ["BedrockEmulation"]


class BedrockEmulation(_BedrockJobHandlers, _BedrockServingHandlers, _BedrockRuntimeHandlers):
    """An offline AWS account whose Bedrock behaves like the real service for the SDK's calls.

    Use it as a context manager; inside, ``session`` is a ``boto3.Session`` whose clients reach the
    emulation (Bedrock, Bedrock Runtime) or moto (S3, IAM, STS, logs), never the network.

    Args:
        region: the session's Region (customisation is refused for catalog models not offered there, as
            on AWS; ``check_regions=False`` turns that off).
        clock: drives every transition and timestamp (a new :class:`FakeClock` by default; share it with
            the backend, as :meth:`backend` does, so ``Job.wait()`` moves jobs instantly).
        job_duration_s: clock seconds a customisation job stays ``InProgress``.
        import_duration_s / batch_duration_s: the same for import and batch inference jobs.
        deployment_duration_s: seconds provisioned throughput stays ``Creating`` (and on-demand
            deployments stay ``Creating``).
        stop_duration_s: seconds between ``Stop*`` and ``Stopped``.
        polls_to_complete: when set, a job also ends after this many ``Get*`` calls on it (and a stopping
            job is ``Stopped`` at the next one), whatever the clock says.
        responder: ``responder(model_id, system, messages) -> str`` scripts every model answer
            (Converse, InvokeModel, batch). ``model_id`` is the model behind the request: the custom or
            imported model ARN for provisioned throughput and deployments, else the requested id.
        seed: seeds ARN ids and the batch output order, so runs are reproducible.
        check_data: read training data, model folders and logs from S3 when a job ends and fail the job
            (with Bedrock's kind of message) when they are missing or malformed.
        extra_foundation_models: more invocable model ids, mapped to their InvokeModel body family
            (``"anthropic_messages"``, ``"meta_llama"``, ``"nova_messages"``, ``"titan_text"``,
            ``"cohere_command"``).

    Attributes:
        requests: every Bedrock request received, as ``(operation, params)``.
        violations: every service-model constraint a request broke (those requests got a
            ``ValidationException``).
        account_id, region, role_arn, bucket, output_uri: the emulated account's facts; ``role_arn`` is a
            Bedrock service role created in IAM, ``bucket`` an S3 bucket created for you.

    Examples:
        >>> with BedrockEmulation() as aws:
        ...     bedrock = aws.session.client("bedrock")
        ...     aws.put_jsonl(f"s3://{aws.bucket}/train.jsonl", [{"prompt": "q", "completion": "a"}])
        ...     arn = bedrock.create_model_customization_job(
        ...         jobName="demo", customModelName="demo-model", roleArn=aws.role_arn,
        ...         baseModelIdentifier="amazon.titan-text-lite-v1:0:4k",
        ...         trainingDataConfig={"s3Uri": f"s3://{aws.bucket}/train.jsonl"},
        ...         outputDataConfig={"s3Uri": aws.output_uri})["jobArn"]
        ...     aws.clock.advance(3600)
        ...     bedrock.get_model_customization_job(jobIdentifier=arn)["status"]
        'Completed'
    """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} region={self.region!r} requests={len(self.requests)}>"
