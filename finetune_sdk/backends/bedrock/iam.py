"""IAM helpers for the service roles Bedrock jobs run under.

Bedrock assumes a role you pass as ``roleArn`` to read the data and write the output. These helpers write the
documented policies with least privilege:

- :func:`trust_policy`: lets ``bedrock.amazonaws.com`` assume the role, only for jobs of one type in your
  account
  and Region (``aws:SourceAccount`` + ``aws:SourceArn``, which blocks the confused-deputy problem);
- :func:`data_access_policy`: read-only on the input objects (listing limited with ``s3:prefix``), write on
  the
  output prefix, and optionally KMS keys, the invocation-log prefix and distillation teachers behind
  cross-Region inference profiles;
- :func:`create_service_role`: creates (or updates) the role with both policies and returns its ARN.

Examples:
    >>> policy = trust_policy("123456789012", "us-east-1", "customization")
    >>> policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"]
    'arn:aws:bedrock:us-east-1:123456789012:model-customization-job/*'
    >>> data_access_policy(training_uris=["s3://data/train/part.jsonl"], output_uri="s3://out/jobs/")["Statement"][0]["Resource"]
    ['arn:aws:s3:::data/train/part.jsonl']
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from finetune_sdk._aws.s3 import split_s3_uri
from finetune_sdk.errors import ConfigurationError, ResourceConflictError

__all__ = [
    "JobType",
    "create_service_role",
    "data_access_policy",
    "grader_invoke_statement",
    "split_s3_uri",
    "trust_policy",
]

JobType = Literal["customization", "import", "batch", "evaluation"]

_SOURCE_ARN_RESOURCE: dict[str, str] = {
    "customization": "model-customization-job/*",
    "import": "model-import-job/*",
    "batch": "model-invocation-job/*",
    "evaluation": "evaluation-job/*",
}


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


_POLICY_VARIABLE = "${"


def _checked(uri: str, what: str) -> tuple[str, str]:
    """:func:`split_s3_uri` (a real bucket name, no wildcard, control character or ``.``/``..`` segment) plus the
    one rule only a policy needs: no policy variable (``${...}``), so a typo or a hostile value can never widen
    the grant to other buckets or keys."""
    if _POLICY_VARIABLE in uri:
        raise ConfigurationError(
            f"{what} {uri!r} holds a policy variable ('${{...}}'); a policy for it could grant access to other "
            "buckets or keys. Name the exact bucket and folder."
        )
    return split_s3_uri(uri, field=what)


def trust_policy(account_id: str, region: str, job_type: JobType = "customization") -> dict[str, Any]:
    """The trust policy letting Bedrock assume a role for ``job_type`` jobs in one account and Region.

    Raises:
        ConfigurationError: ``account_id`` is not 12 digits, or an unknown ``job_type``.
    """
    if not re.fullmatch(r"\d{12}", account_id):
        raise ConfigurationError(f"account_id must be the 12-digit AWS account id, got {account_id!r}")
    if job_type not in _SOURCE_ARN_RESOURCE:
        raise ConfigurationError(
            f"job_type must be one of {', '.join(_SOURCE_ARN_RESOURCE)}, got {job_type!r}"
        )
    partition = _partition(region)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "BedrockAssumeRole",
                "Effect": "Allow",
                "Principal": {"Service": "bedrock.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnEquals": {
                        "aws:SourceArn": f"arn:{partition}:bedrock:{region}:{account_id}:"
                        f"{_SOURCE_ARN_RESOURCE[job_type]}"
                    },
                },
            }
        ],
    }


def _folder(key: str) -> str:
    """The listing prefix for a key: the key itself for a folder, its parent folder for an object."""
    if not key or key.endswith("/"):
        return key
    return key.rsplit("/", 1)[0] + "/" if "/" in key else ""


def _owned(statement: dict[str, Any], account_id: str | None) -> dict[str, Any]:
    """Add ``aws:ResourceAccount`` (the bucket must belong to ``account_id``) to an S3 statement."""
    if account_id is not None:
        condition = statement.setdefault("Condition", {})
        condition.setdefault("StringEquals", {})["aws:ResourceAccount"] = account_id
    return statement


def _read_statements(
    uris: Sequence[str], sid: str, partition: str, account_id: str | None = None
) -> list[dict[str, Any]]:
    objects: list[str] = []
    prefixes: dict[str, list[str]] = {}
    for uri in uris:
        bucket, key = _checked(uri, sid)
        if not key or key.endswith("/"):
            objects.append(f"arn:{partition}:s3:::{bucket}/{key}*")
        else:
            objects.append(f"arn:{partition}:s3:::{bucket}/{key}")
        prefixes.setdefault(bucket, [])
        folder = _folder(key)
        pattern = f"{folder}*"
        if pattern not in prefixes[bucket]:
            prefixes[bucket].append(pattern)
    statements: list[dict[str, Any]] = [
        _owned(
            {"Sid": f"Read{sid}", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": sorted(set(objects))},
            account_id,
        )
    ]
    for i, (bucket, patterns) in enumerate(sorted(prefixes.items())):
        statement: dict[str, Any] = {
            "Sid": f"List{sid}{i if len(prefixes) > 1 else ''}",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": f"arn:{partition}:s3:::{bucket}",
        }
        if patterns != ["*"]:
            statement["Condition"] = {"StringLike": {"s3:prefix": patterns}}
        statements.append(_owned(statement, account_id))
    return statements


def grader_invoke_statement(lambda_arn: str) -> dict[str, Any]:
    """The service-role statement that lets Bedrock call the grader: ``lambda:InvokeFunction`` on the function
    and its versions/aliases."""
    base = lambda_arn.split(":function:", 1)
    if len(base) != 2:
        raise ConfigurationError(
            f"lambda_arn {lambda_arn!r} is not a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME)"
        )
    name = base[1].split(":", 1)[0]
    unqualified = f"{base[0]}:function:{name}"
    return {
        "Sid": "InvokeRewardGrader",
        "Effect": "Allow",
        "Action": ["lambda:InvokeFunction"],
        "Resource": sorted({unqualified, f"{unqualified}:*"}),
    }


def data_access_policy(
    *,
    training_uris: Iterable[str] = (),
    validation_uris: Iterable[str] = (),
    output_uri: str | None = None,
    kms_key_arns: Iterable[str] = (),
    invocation_log_uri: str | None = None,
    teacher_inference_profile_arns: Iterable[str] = (),
    region: str = "us-east-1",
    account_id: str | None = None,
    grader_lambda_arns: Iterable[str] = (),
) -> dict[str, Any]:
    """A least-privilege permissions policy for a job's service role.

    With ``account_id`` every S3 statement also carries ``"StringEquals": {"aws:ResourceAccount": account_id}``
    (the buckets must belong to that account), as AWS's import-job and batch-inference role examples do; leave
    it out when a bucket belongs to another account. Bucket names and keys are checked first: wildcards,
    policy variables, control characters and ``..`` segments are refused, so no value can widen the grant.

    - ``s3:GetObject`` on each input object (or ``prefix*`` for a folder URI) and ``s3:ListBucket`` on its
      bucket
      limited by ``s3:prefix`` to the object's folder;
    - ``s3:GetObject``, ``s3:PutObject`` on ``<output_uri>*`` and ``s3:ListBucket`` limited to that prefix;
    - ``kms:Decrypt``, ``kms:GenerateDataKey``, ``kms:DescribeKey``, ``kms:CreateGrant`` on ``kms_key_arns``;
    - read access to ``invocation_log_uri`` (distillation from invocation logs);
    - ``bedrock:InvokeModel`` on each teacher inference profile and on the foundation model behind it in every
      Region the profile routes to (cross-Region distillation teachers);
    - ``lambda:InvokeFunction`` on each reward grader of a reinforcement fine-tuning job (and its versions).

    Raises:
        ConfigurationError: a URI is not ``s3://bucket[/key]`` with a plain bucket name and key, ``account_id`` is
            not 12 digits, or nothing to grant.
    """
    if account_id is not None and not re.fullmatch(r"\d{12}", account_id):
        raise ConfigurationError(f"account_id must be the 12-digit AWS account id, got {account_id!r}")
    partition = _partition(region)
    inputs = [*training_uris, *validation_uris]
    statements: list[dict[str, Any]] = []
    if inputs:
        statements += _read_statements(inputs, "InputData", partition, account_id)
    if invocation_log_uri:
        statements += _read_statements([invocation_log_uri], "InvocationLogs", partition, account_id)
    if output_uri:
        bucket, key = _checked(output_uri, "output_uri")
        prefix = key if not key or key.endswith("/") else key + "/"
        statements.append(
            _owned(
                {
                    "Sid": "WriteOutput",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject"],
                    "Resource": [f"arn:{partition}:s3:::{bucket}/{prefix}*"],
                },
                account_id,
            )
        )
        list_output: dict[str, Any] = {
            "Sid": "ListOutput",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": f"arn:{partition}:s3:::{bucket}",
        }
        if prefix:
            list_output["Condition"] = {"StringLike": {"s3:prefix": [f"{prefix}*"]}}
        statements.append(_owned(list_output, account_id))
    keys = sorted(set(kms_key_arns))
    if keys:
        statements.append(
            {
                "Sid": "UseKmsKeys",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"],
                "Resource": keys,
            }
        )
    profiles = sorted(set(teacher_inference_profile_arns))
    if profiles:
        resources: list[str] = []
        for arn in profiles:
            if ":inference-profile/" not in arn:
                raise ConfigurationError(
                    f"{arn!r} is not an inference profile ARN "
                    f"(arn:aws:bedrock:<region>:<account>:inference-profile/<id>)"
                )
            profile_id = arn.rsplit("/", 1)[1]
            model_id = profile_id.split(".", 1)[1] if profile_id.count(".") >= 2 else profile_id
            resources += [arn, f"arn:{partition}:bedrock:*::foundation-model/{model_id}"]
        statements.append(
            {
                "Sid": "InvokeTeacher",
                "Effect": "Allow",
                "Action": ["bedrock:InvokeModel"],
                "Resource": resources,
            }
        )
    graders = list(grader_lambda_arns)
    if graders:  # issue 17: reinforcement fine-tuning calls the reward grader Lambda
        statements.append(grader_invoke_statement(graders[0]))
        for extra in graders[1:]:
            statements[-1]["Resource"] = sorted(
                {*statements[-1]["Resource"], *grader_invoke_statement(extra)["Resource"]}
            )
    if not statements:
        raise ConfigurationError(
            "data_access_policy() needs at least one URI, key or teacher profile to grant"
        )
    return {"Version": "2012-10-17", "Statement": statements}


def create_service_role(
    name: str,
    *,
    session: Any = None,
    job_type: JobType = "customization",
    account_id: str | None = None,
    region: str | None = None,
    training_uris: Iterable[str] = (),
    validation_uris: Iterable[str] = (),
    output_uri: str | None = None,
    kms_key_arns: Iterable[str] = (),
    invocation_log_uri: str | None = None,
    teacher_inference_profile_arns: Iterable[str] = (),
    grader_lambda_arns: Iterable[str] = (),
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    path: str = "/service-role/",
    restrict_to_account: bool | None = None,
) -> str:
    """Create (or update) a Bedrock service role and return its ARN.

    ``restrict_to_account`` adds ``aws:ResourceAccount`` conditions to the S3 statements (buckets must belong
    to ``account_id``); by default it is on for ``import`` and ``batch`` roles, whose AWS examples use it, and
    off for the others (whose data may sit in another account's bucket).

    The role gets :func:`trust_policy` for ``job_type`` and, when any URI, key or teacher is given, an inline
    policy ``<name>-data-access`` from :func:`data_access_policy`. Running it again updates both policies
    (idempotent). ``account_id`` defaults to the caller's (``sts:GetCallerIdentity``), ``region`` to the
    session's. New roles can take a few seconds before Bedrock may assume them.

    Raises:
        ConfigurationError: no Region, or bad arguments.
        AccessDeniedError: the caller may not create or update IAM roles.
    """
    import boto3

    from finetune_sdk.backends.bedrock.checks import validate_request
    from finetune_sdk.backends.bedrock.errors import translate_error

    session = session or boto3.Session()
    region = region or session.region_name
    if not region:
        raise ConfigurationError("create_service_role() needs region= (or a session with a Region)")

    def call(client: Any, operation: str, service: str, **params: Any) -> Any:
        from botocore import xform_name
        from botocore.exceptions import BotoCoreError, ClientError

        validate_request(service, operation, params)
        try:
            return getattr(client, xform_name(operation))(**params)
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, operation=f"{service}:{operation}", region=region) from exc

    iam = session.client("iam")
    if account_id is None:
        account_id = str(
            call(session.client("sts", region_name=region), "GetCallerIdentity", "sts")["Account"]
        )
    trust = json.dumps(trust_policy(account_id, region, job_type))
    # the permissions policy is built (and its URIs checked) before anything is created
    restrict = job_type in ("import", "batch") if restrict_to_account is None else restrict_to_account
    training, validation = list(training_uris), list(validation_uris)
    keys, teachers = list(kms_key_arns), list(teacher_inference_profile_arns)
    graders = list(grader_lambda_arns)
    policy: dict[str, Any] | None = None
    if training or validation or output_uri or keys or invocation_log_uri or teachers or graders:
        policy = data_access_policy(
            training_uris=training,
            validation_uris=validation,
            output_uri=output_uri,
            kms_key_arns=keys,
            invocation_log_uri=invocation_log_uri,
            teacher_inference_profile_arns=teachers,
            region=region,
            account_id=account_id if restrict else None,
            grader_lambda_arns=graders,
        )
    params: dict[str, Any] = {
        "RoleName": name,
        "AssumeRolePolicyDocument": trust,
        "Path": path,
        "Description": description or f"Bedrock {job_type} jobs (created by finetune_sdk)",
    }
    if tags:
        params["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
    try:
        arn = str(call(iam, "CreateRole", "iam", **params)["Role"]["Arn"])
    except ResourceConflictError as exc:
        if exc.code != "EntityAlreadyExists":
            raise
        arn = str(call(iam, "GetRole", "iam", RoleName=name)["Role"]["Arn"])
        call(iam, "UpdateAssumeRolePolicy", "iam", RoleName=name, PolicyDocument=trust)
    if policy is not None:
        call(
            iam,
            "PutRolePolicy",
            "iam",
            RoleName=name,
            PolicyName=f"{name}-data-access"[:128],
            PolicyDocument=json.dumps(policy),
        )
    return arn
