"""IAM policies: wildcard or malformed buckets and keys are refused, aws:ResourceAccount where AWS's examples
use it, and the generated documents match the documented ones (reference/bedrock.md, section 10 and 6.4)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from finetune_sdk.backends.bedrock.iam import create_service_role, data_access_policy, trust_policy
from finetune_sdk.errors import ConfigurationError

ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    "uri",
    [
        "s3://*/x",
        "s3://*",
        "s3://bucket*/x",
        "s3://my-bucket/data/*",
        "s3://my-bucket/da?a/",
        "s3://my-bucket/${aws:username}/",
        "s3://my-bucket/a/../b",
        "s3://my-bucket/./b",
        "s3://My_Bucket/x",
        "s3://ab/x",
        "s3://my..bucket/x",
        "s3://my-bucket/a\nb",
        "s3:///x",
        "https://my-bucket/x",
    ],
)
@pytest.mark.parametrize("where", ["training_uris", "validation_uris", "output_uri", "invocation_log_uri"])
def test_wildcard_or_malformed_buckets_and_keys_are_refused(uri: str, where: str) -> None:
    value: Any = [uri] if where.endswith("uris") else uri
    with pytest.raises(ConfigurationError):
        data_access_policy(**{where: value})


def test_no_policy_ever_names_every_bucket() -> None:
    policy = data_access_policy(training_uris=["s3://data/train.jsonl"], output_uri="s3://out/jobs/")
    resources = json.dumps(policy)
    assert "arn:aws:s3:::*" not in resources and "s3:::*" not in resources


def test_trust_policy_is_the_documented_one() -> None:
    documented = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "bedrock.amazonaws.com"},
                       "Action": "sts:AssumeRole",
                       "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                                     "ArnEquals": {"aws:SourceArn":
                                                   f"arn:aws:bedrock:us-east-1:{ACCOUNT}:model-customization-job/*"}}}],
    }
    ours = trust_policy(ACCOUNT, "us-east-1", "customization")
    ours["Statement"][0].pop("Sid")
    assert ours == documented
    imported = trust_policy(ACCOUNT, "us-west-2", "import")["Statement"][0]["Condition"]
    assert imported["ArnEquals"]["aws:SourceArn"] == f"arn:aws:bedrock:us-west-2:{ACCOUNT}:model-import-job/*"


def test_documented_s3_permissions_with_resource_account() -> None:
    """Section 10: GetObject+ListBucket on the data, GetObject+PutObject+ListBucket on the output; 6.4: the import
    sample adds aws:ResourceAccount. Every S3 statement carries it when account_id is given."""
    policy = data_access_policy(
        training_uris=["s3://train-bucket/data/train.jsonl"],
        validation_uris=["s3://val-bucket/val/"],
        output_uri="s3://out-bucket/jobs/",
        account_id=ACCOUNT,
    )
    actions: dict[str, set[str]] = {}
    for st in policy["Statement"]:
        assert st["Condition"]["StringEquals"] == {"aws:ResourceAccount": ACCOUNT}, st
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        for r in resources:
            bucket = r.split(":::")[1].split("/")[0]
            actions.setdefault(bucket, set()).update(st["Action"])
    assert actions == {
        "train-bucket": {"s3:GetObject", "s3:ListBucket"},
        "val-bucket": {"s3:GetObject", "s3:ListBucket"},
        "out-bucket": {"s3:GetObject", "s3:PutObject", "s3:ListBucket"},
    }
    listing = [st for st in policy["Statement"] if st["Action"] == ["s3:ListBucket"]]
    assert all("s3:prefix" in st["Condition"]["StringLike"] for st in listing)  # the prefix restriction stays


def test_resource_account_must_be_an_account_id() -> None:
    with pytest.raises(ConfigurationError, match="12-digit"):
        data_access_policy(output_uri="s3://out/x/", account_id="*")


@pytest.mark.parametrize(("job_type", "restricted"), [("import", True), ("batch", True), ("customization", False)])
def test_create_service_role_adds_resource_account_where_documented(job_type: str, restricted: bool) -> None:
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        create_service_role("R", session=session, job_type=job_type,  # type: ignore[arg-type]
                            training_uris=["s3://data/train.jsonl"], output_uri="s3://out/")
        doc = session.client("iam").get_role_policy(RoleName="R", PolicyName="R-data-access")["PolicyDocument"]
        doc = json.loads(doc) if isinstance(doc, str) else doc
        has = ["aws:ResourceAccount" in json.dumps(st.get("Condition", {})) for st in doc["Statement"]]
        assert all(has) if restricted else not any(has)


def test_bad_uri_creates_no_role() -> None:
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        with pytest.raises(ConfigurationError):
            create_service_role("R", session=session, training_uris=["s3://*/x"])
        assert session.client("iam").list_roles()["Roles"] == []
