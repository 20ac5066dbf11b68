"""The Bedrock RFT request: typed hyperparameters in step with botocore, validated against its model in full."""

from __future__ import annotations

import pytest

from finetune_sdk.backends.bedrock._rft import RFTHyperParameters, rft_job_request
from finetune_sdk.backends.bedrock.iam import data_access_policy, grader_invoke_statement
from finetune_sdk.errors import ConfigurationError, RequestValidationError

ARN = "arn:aws:lambda:us-east-1:123456789012:function:aqua-grader"
KW = {
    "job_name": "rft-aqua",
    "custom_model_name": "nova-2-lite-aqua",
    "role_arn": "arn:aws:iam::123456789012:role/BedrockRFT",
    "training_uri": "s3://bucket/rft/train.jsonl",
    "output_uri": "s3://bucket/rft/out/",
    "lambda_arn": ARN,
}


def _service_model():  # type: ignore[no-untyped-def]
    botocore_session = pytest.importorskip("botocore.session")
    return botocore_session.get_session().get_service_model("bedrock")


def test_hyperparameter_ranges_match_botocore() -> None:
    shape = _service_model().shape_for("RFTHyperParameters")
    fields = {f.alias: f for f in RFTHyperParameters.model_fields.values()}
    assert set(fields) == set(shape.members)
    for name, member in shape.members.items():
        meta = member.metadata
        bounds = {type(m).__name__: getattr(m, "ge", getattr(m, "le", None)) for m in fields[name].metadata}
        if "min" in meta:
            assert bounds.get("Ge") == meta["min"], name
        if "max" in meta:
            assert bounds.get("Le") == meta["max"], name
        if "enum" in meta:
            assert set(meta["enum"]) == {"low", "medium", "high"}


def test_request_validates_in_full_with_native_types() -> None:
    from botocore.validate import ParamValidator

    from finetune_sdk._aws import find_request_problems

    hp = RFTHyperParameters(
        epoch_count=2,
        batch_size=128,
        learning_rate=1e-5,
        max_prompt_length=8192,
        training_sample_per_prompt=8,
        inference_max_tokens=2048,
        reasoning_effort="medium",
        eval_interval=10,
    )
    request = rft_job_request(**KW, hyperparameters=hp, validation_uri="s3://bucket/rft/val.jsonl", tags={"team": "ml"})
    rft = request["customizationConfig"]["rftConfig"]
    assert rft["graderConfig"] == {"lambdaGrader": {"lambdaArn": ARN}}
    assert rft["hyperParameters"]["epochCount"] == 2 and isinstance(rft["hyperParameters"]["learningRate"], float)
    assert "hyperParameters" not in request  # the SFT string map is not sent
    assert find_request_problems("bedrock", "CreateModelCustomizationJob", request) == []
    op = _service_model().operation_model("CreateModelCustomizationJob")
    report = ParamValidator().validate(request, op.input_shape)
    assert not report.has_errors(), report.generate_report()
    assert (
        rft_job_request(**KW, hyperparameters=hp, validation_uri="s3://bucket/rft/val.jsonl", tags={"team": "ml"})[
            "clientRequestToken"
        ]
        == request["clientRequestToken"]
    )  # idempotent
    assert rft_job_request(**KW)["clientRequestToken"] != request["clientRequestToken"]
    assert "hyperParameters" not in rft_job_request(**KW)["customizationConfig"]["rftConfig"]


def test_request_refusals_name_the_field() -> None:
    with pytest.raises(RequestValidationError) as exc:
        rft_job_request(**{**KW, "lambda_arn": "arn:aws:lambda:us-east-1:123:function:x"})
    assert exc.value.field == "customizationConfig.rftConfig.graderConfig.lambdaGrader.lambdaArn"
    with pytest.raises(ValueError, match=r"epochCount|epoch_count"):
        rft_job_request(**KW, hyperparameters={"epochCount": 51})
    with pytest.raises(ValueError, match=r"batchSize|batch_size"):
        RFTHyperParameters(batch_size=8)
    with pytest.raises(ConfigurationError, match="does not take reinforcement fine-tuning"):
        rft_job_request(**KW, base_model="amazon.nova-lite-v1:0:300k")


def test_role_policy_grants_invoke_on_the_grader() -> None:
    assert grader_invoke_statement(ARN + ":live")["Resource"] == [ARN, ARN + ":*"]
    policy = data_access_policy(
        training_uris=[KW["training_uri"]], output_uri=KW["output_uri"], grader_lambda_arns=[ARN]
    )
    invoke = [s for s in policy["Statement"] if "lambda:InvokeFunction" in s["Action"]]
    assert invoke and invoke[0]["Resource"] == [ARN, ARN + ":*"]
    assert any("s3:GetObject" in s["Action"] for s in policy["Statement"])
    with pytest.raises(ConfigurationError, match="not a Lambda function ARN"):
        grader_invoke_statement("arn:aws:iam::1:role/x")
