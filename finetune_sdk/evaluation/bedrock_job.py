"""Run the same comparison as a managed Amazon Bedrock evaluation job (``CreateEvaluationJob``).

The builders are pure functions: they check everything the service would reject (job-name pattern,
1-2 models, at most 1,000 prompts, metric names, the inference-parameter size) and return plain dicts /
JSONL lines; nothing is sent until :meth:`BedrockEvaluationJobAdapter.submit` is given a boto3-compatible
``bedrock`` client. Upload the prompt dataset lines to ``dataset_s3_uri`` yourself (or with the SDK's
upload helpers) before submitting.

Examples:
    >>> from finetune_sdk.data.records import Conversation
    >>> lines = build_prompt_dataset([Conversation.from_pairs("2+2?", "4")], category="math")
    >>> lines[0]
    '{"prompt": "2+2?", "referenceResponse": "4", "category": "math"}'
    >>> req = build_evaluation_job_request(
    ...     job_name="base-vs-tuned", role_arn="arn:aws:iam::123456789012:role/eval",
    ...     model_ids=["amazon.nova-micro-v1:0"], dataset_s3_uri="s3://my-bucket/eval/prompts.jsonl",
    ...     output_s3_uri="s3://my-bucket/eval/out/", metric_names=["Builtin.Accuracy"])
    >>> req["evaluationConfig"]["automated"]["datasetMetricConfigs"][0]["metricNames"]
    ['Builtin.Accuracy']
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from finetune_sdk.backends.base import InferenceConfig
from finetune_sdk.data.records import Record
from finetune_sdk.errors import RequestValidationError
from finetune_sdk.evaluation.judge import JudgeMetric
from finetune_sdk.evaluation.metrics import reference_of
from finetune_sdk.evaluation.templates import PromptTemplate

__all__ = [
    "ALGORITHMIC_METRICS",
    "JUDGE_METRICS",
    "MAX_PROMPTS",
    "BedrockEvaluationJobAdapter",
    "build_evaluation_job_request",
    "build_prompt_dataset",
]

MAX_PROMPTS = 1000
JOB_NAME_PATTERN = re.compile(r"[a-z0-9](-*[a-z0-9]){0,62}")
METRIC_NAME_PATTERN = re.compile(r"[0-9a-zA-Z\-_.]+")
DATASET_NAME_PATTERN = re.compile(r"[0-9a-zA-Z\-_.]+")
S3_URI_PATTERN = re.compile(
    r"s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?"
)
ROLE_ARN_PATTERN = re.compile(r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+")
TOKEN_PATTERN = re.compile(r"[a-zA-Z0-9]([-a-zA-Z0-9]{0,254}[a-zA-Z0-9])?")
TASK_TYPES = ("Summarization", "Classification", "QuestionAndAnswer", "Generation", "Custom")

#: algorithmic metrics computed by the service without a judge
ALGORITHMIC_METRICS = ("Builtin.Accuracy", "Builtin.Robustness", "Builtin.Toxicity")
#: built-in LLM-as-judge metrics (need an evaluator model)
JUDGE_METRICS = (
    "Builtin.Correctness",
    "Builtin.Completeness",
    "Builtin.Faithfulness",
    "Builtin.Helpfulness",
    "Builtin.Coherence",
    "Builtin.Relevance",
    "Builtin.FollowingInstructions",
    "Builtin.ProfessionalStyleAndTone",
    "Builtin.Harmfulness",
    "Builtin.Stereotyping",
    "Builtin.Refusal",
)


def _flat_prompt(system: str | None, texts: Sequence[str]) -> str:
    return "\n\n".join([*([system] if system else []), *texts])


def build_prompt_dataset(
    records: Iterable[Record],
    *,
    template: PromptTemplate | None = None,
    category: str | None = None,
    category_key: str = "category",
) -> list[str]:
    """JSONL lines ``{"prompt", "referenceResponse", "category"}`` for a Bedrock evaluation job.

    The prompt is the template's rendering (system prompt and turns joined by blank lines); the reference
    is the record's gold answer; ``category`` is ``category`` or ``metadata[category_key]`` (omitted if
    neither is set).

    Raises:
        RequestValidationError: more than 1,000 records (the service's limit per job) or an empty prompt.
    """
    tmpl = template or PromptTemplate()
    lines: list[str] = []
    for n, record in enumerate(records):
        if n >= MAX_PROMPTS:
            raise RequestValidationError(
                f"a Bedrock evaluation job takes at most {MAX_PROMPTS} prompts; pass the first {MAX_PROMPTS} "
                "records (e.g. a random sample) or split the test set into several jobs",
                field="evaluationConfig.automated.datasetMetricConfigs[0].dataset",
            )
        system, turns = tmpl.render(record)
        prompt = _flat_prompt(system, [t.text for t in turns])
        if not prompt.strip():
            raise RequestValidationError(f"record {n} renders to an empty prompt", field=f"prompt[{n}]")
        row: dict[str, Any] = {"prompt": prompt}
        ref = reference_of(record)
        if ref is not None:
            row["referenceResponse"] = ref
        cat = category if category is not None else record.metadata.get(category_key)
        if cat is not None:
            row["category"] = str(cat)
        lines.append(json.dumps(row, ensure_ascii=False))
    return lines


def _check(pattern: re.Pattern[str], value: str, field: str, what: str, max_len: int | None = None) -> None:
    if max_len is not None and not 1 <= len(value) <= max_len:
        raise RequestValidationError(
            f"{field} must be 1-{max_len} characters, got {len(value)}: {what}", field=field
        )
    if not pattern.fullmatch(value):
        raise RequestValidationError(
            f"{field} {value!r} does not match {pattern.pattern}: {what}", field=field
        )


def job_name_from(text: str) -> str:
    """A valid evaluation-job name from any text: lowercase, ``[a-z0-9-]``, at most 63 characters."""
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return name[:63].rstrip("-") or "evaluation"


def _inference_params(config: InferenceConfig) -> str:
    cfg: dict[str, Any] = {"maxTokens": config.max_tokens, "temperature": config.temperature}
    if config.top_p is not None:
        cfg["topP"] = config.top_p
    if config.stop:
        cfg["stopSequences"] = list(config.stop)
    return json.dumps({"inferenceConfig": cfg}, separators=(",", ":"))


def _custom_metric(metric: JudgeMetric) -> dict[str, Any]:
    low, high = metric.scale
    if high - low + 1 > 10:
        raise RequestValidationError(
            f"judge metric {metric.name!r}: Bedrock rating scales take at most 10 points, got {low}-{high}",
            field="evaluationConfig.automated.customMetricConfig.customMetrics[].ratingScale",
        )
    instructions = (
        metric.prompt_template.replace("{question}", "{{prompt}}")
        .replace("{answer}", "{{prediction}}")
        .replace("{reference}", "{{ground_truth}}")
        .replace("{rubric}", metric.rubric)
        .replace("{low}", str(low))
        .replace("{high}", str(high))
    )
    if len(instructions) > 5000:
        raise RequestValidationError(
            f"judge metric {metric.name!r}: instructions are {len(instructions)} characters; "
            "the limit is 5000",
            field="evaluationConfig.automated.customMetricConfig.customMetrics[].instructions",
        )
    return {
        "customMetricDefinition": {
            "name": metric.name,
            "instructions": instructions,
            "ratingScale": [
                {"definition": f"score {v} of {high}", "value": {"floatValue": float(v)}}
                for v in range(low, high + 1)
            ],
        }
    }


def build_evaluation_job_request(
    *,
    job_name: str,
    role_arn: str,
    model_ids: Sequence[str],
    dataset_s3_uri: str,
    output_s3_uri: str,
    metric_names: Sequence[str] = ("Builtin.Accuracy",),
    judge_metrics: Sequence[JudgeMetric] = (),
    evaluator_model_id: str | None = None,
    dataset_name: str = "finetune-sdk-eval",
    task_type: Literal["Summarization", "Classification", "QuestionAndAnswer", "Generation", "Custom"] = (
        "QuestionAndAnswer"
    ),
    inference_config: InferenceConfig | None = None,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    client_request_token: str | None = None,
) -> dict[str, Any]:
    """A ``CreateEvaluationJob`` request comparing 1-2 Bedrock models on a prompt dataset in S3.

    ``metric_names`` are Bedrock built-ins (:data:`ALGORITHMIC_METRICS` or :data:`JUDGE_METRICS`);
    ``judge_metrics`` become custom judge metrics with the same prompt and scale. Judge metrics need
    ``evaluator_model_id``. ``clientRequestToken`` defaults to a hash of the request, so resubmitting the
    same comparison is idempotent.

    Raises:
        RequestValidationError: a value the service would reject; ``field`` names the request member.
    """
    _check(
        JOB_NAME_PATTERN,
        job_name,
        "jobName",
        "lowercase letters, digits and hyphens, starting and ending "
        "with a letter or digit (use job_name_from(text))",
        63,
    )
    _check(ROLE_ARN_PATTERN, role_arn, "roleArn", "an IAM role ARN like arn:aws:iam::123456789012:role/name")
    if not 1 <= len(model_ids) <= 2:
        raise RequestValidationError(
            f"a Bedrock evaluation job compares 1 or 2 models, got {len(model_ids)}; "
            "run several jobs for more",
            field="inferenceConfig.models",
        )
    for uri, field in (
        (dataset_s3_uri, "dataset.datasetLocation.s3Uri"),
        (output_s3_uri, "outputDataConfig.s3Uri"),
    ):
        _check(S3_URI_PATTERN, uri, field, "an s3://bucket/key URI (lowercase bucket)", 1024)
    _check(DATASET_NAME_PATTERN, dataset_name, "dataset.name", "letters, digits, '-', '_' and '.'", 63)
    if task_type not in TASK_TYPES:
        raise RequestValidationError(f"taskType must be one of {', '.join(TASK_TYPES)}", field="taskType")
    names = list(metric_names) + [m.name for m in judge_metrics]
    if not 1 <= len(names) <= 25:
        raise RequestValidationError(
            f"an evaluation job takes 1-25 metrics, got {len(names)}", field="metricNames"
        )
    if len(set(names)) != len(names):
        raise RequestValidationError(f"metric names repeat: {names}", field="metricNames")
    for name in metric_names:
        if name not in ALGORITHMIC_METRICS and name not in JUDGE_METRICS:
            raise RequestValidationError(
                f"unknown Bedrock metric {name!r}; algorithmic: {', '.join(ALGORITHMIC_METRICS)}; "
                f"judge: {', '.join(JUDGE_METRICS)}; or pass a JudgeMetric in judge_metrics=",
                field="metricNames",
            )
    for m in judge_metrics:
        _check(
            METRIC_NAME_PATTERN,
            m.name,
            "customMetricDefinition.name",
            "letters, digits, '-', '_' and '.'",
            63,
        )
    needs_judge = bool(judge_metrics) or any(n in JUDGE_METRICS for n in metric_names)
    if needs_judge and not evaluator_model_id:
        raise RequestValidationError(
            "judge metrics need evaluator_model_id (the Bedrock model that grades the answers)",
            field="evaluationConfig.automated.evaluatorModelConfig",
        )
    if not needs_judge and evaluator_model_id:
        raise RequestValidationError(
            "evaluator_model_id is only used with judge metrics; drop it or add a judge metric",
            field="evaluationConfig.automated.evaluatorModelConfig",
        )
    if needs_judge and any(n in ALGORITHMIC_METRICS for n in metric_names):
        raise RequestValidationError(
            "a job uses either algorithmic metrics (Builtin.Accuracy/Robustness/Toxicity) or judge metrics; "
            "submit two jobs",
            field="metricNames",
        )
    params = _inference_params(inference_config or InferenceConfig(temperature=0.0))
    if len(params) > 1023:
        raise RequestValidationError(
            f"inferenceParams is {len(params)} characters; the limit is 1023",
            field="inferenceConfig.models[].bedrockModel.inferenceParams",
        )
    automated: dict[str, Any] = {
        "datasetMetricConfigs": [
            {
                "taskType": task_type,
                "dataset": {"name": dataset_name, "datasetLocation": {"s3Uri": dataset_s3_uri}},
                "metricNames": names,
            }
        ]
    }
    if evaluator_model_id and any(n in JUDGE_METRICS for n in metric_names):
        automated["evaluatorModelConfig"] = {
            "bedrockEvaluatorModels": [{"modelIdentifier": evaluator_model_id}]
        }
    if judge_metrics:
        automated["customMetricConfig"] = {
            "customMetrics": [_custom_metric(m) for m in judge_metrics],
            "evaluatorModelConfig": {"bedrockEvaluatorModels": [{"modelIdentifier": evaluator_model_id}]},
        }
    request: dict[str, Any] = {
        "jobName": job_name,
        "roleArn": role_arn,
        "applicationType": "ModelEvaluation",
        "evaluationConfig": {"automated": automated},
        "inferenceConfig": {
            "models": [
                {"bedrockModel": {"modelIdentifier": mid, "inferenceParams": params}} for mid in model_ids
            ]
        },
        "outputDataConfig": {"s3Uri": output_s3_uri},
    }
    if description:
        if len(description) > 200:
            raise RequestValidationError(
                "jobDescription is limited to 200 characters", field="jobDescription"
            )
        request["jobDescription"] = description
    if tags:
        request["jobTags"] = [{"key": k, "value": v} for k, v in tags.items()]
    token = (
        client_request_token
        or hashlib.sha256(json.dumps(request, sort_keys=True).encode("utf-8")).hexdigest()[:64]
    )
    _check(TOKEN_PATTERN, token, "clientRequestToken", "letters, digits and inner hyphens", 256)
    request["clientRequestToken"] = token
    return request


class BedrockEvaluationJobAdapter:
    """The Evaluator's comparison as a Bedrock evaluation job: build the dataset and request, then submit.

    Args:
        role_arn: service role Bedrock assumes to read the dataset and write results.
        dataset_s3_uri: where the prompt dataset (:meth:`prompt_dataset` lines) is uploaded.
        output_s3_uri: where Bedrock writes the results.
        metric_names: Bedrock built-in metric names.
        judge_metrics: our judge metrics, sent as custom judge metrics.
        evaluator_model_id: the Bedrock judge model for judge metrics.
        template: the prompt template (the same one the Evaluator uses, for a like-for-like comparison).
        task_type: the Bedrock task type.
        inference_config: generation settings for the evaluated models.

    Examples:
        >>> adapter = BedrockEvaluationJobAdapter(
        ...     role_arn="arn:aws:iam::123456789012:role/eval", dataset_s3_uri="s3://b-1/p.jsonl",
        ...     output_s3_uri="s3://b-1/out/")
        >>> models = ["amazon.nova-micro-v1:0", "amazon.nova-lite-v1:0"]
        >>> request = adapter.request(models, job_name="Base vs Tuned!")
        >>> request["jobName"]
        'base-vs-tuned'
    """

    def __init__(
        self,
        *,
        role_arn: str,
        dataset_s3_uri: str,
        output_s3_uri: str,
        metric_names: Sequence[str] = ("Builtin.Accuracy",),
        judge_metrics: Sequence[JudgeMetric] = (),
        evaluator_model_id: str | None = None,
        template: PromptTemplate | None = None,
        task_type: Literal["Summarization", "Classification", "QuestionAndAnswer", "Generation", "Custom"] = (
            "QuestionAndAnswer"
        ),
        inference_config: InferenceConfig | None = None,
    ) -> None:
        self.role_arn = role_arn
        self.dataset_s3_uri = dataset_s3_uri
        self.output_s3_uri = output_s3_uri
        self.metric_names = tuple(metric_names)
        self.judge_metrics = tuple(judge_metrics)
        self.evaluator_model_id = evaluator_model_id
        self.template = template
        self.task_type = task_type
        self.inference_config = inference_config

    def prompt_dataset(self, records: Iterable[Record], *, category: str | None = None) -> list[str]:
        """JSONL lines to upload to ``dataset_s3_uri`` (see :func:`build_prompt_dataset`)."""
        return build_prompt_dataset(records, template=self.template, category=category)

    def request(
        self,
        models: Sequence[Any],
        *,
        job_name: str,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The ``CreateEvaluationJob`` request for ``models`` (ids, or objects with ``.id``).

        ``job_name`` is turned into a valid name (lowercase, hyphens). Pure: nothing is sent.

        Raises:
            RequestValidationError: see :func:`build_evaluation_job_request`.
        """
        ids = [m if isinstance(m, str) else str(m.id) for m in models]
        return build_evaluation_job_request(
            job_name=job_name_from(job_name),
            role_arn=self.role_arn,
            model_ids=ids,
            dataset_s3_uri=self.dataset_s3_uri,
            output_s3_uri=self.output_s3_uri,
            metric_names=self.metric_names,
            judge_metrics=self.judge_metrics,
            evaluator_model_id=self.evaluator_model_id,
            task_type=self.task_type,
            inference_config=self.inference_config,
            description=description,
            tags=tags,
        )

    def submit(self, client: Any, request: Mapping[str, Any]) -> str:
        """Send ``request`` with a boto3 ``bedrock`` client; returns the job ARN.

        Raises:
            BackendError: the service refused (translated from botocore's ``ClientError``).
        """
        try:
            response = client.create_evaluation_job(**request)
        except Exception as exc:
            raise _translate(exc) from exc
        return str(response["jobArn"])


def _translate(exc: Exception) -> Exception:
    """The AWS core's one translation (``exc`` itself when it is not an AWS error)."""
    from finetune_sdk._aws.errors import is_aws_error, translate_error

    if not is_aws_error(exc):
        return exc
    return translate_error(exc, backend="bedrock", action="CreateEvaluationJob")
