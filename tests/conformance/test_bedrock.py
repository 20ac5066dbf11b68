"""The Bedrock backend runs the conformance suite end to end through boto3 against the AWS emulation.

Every request goes through real botocore serialisation and is validated in full against the service model
by the emulation; data, model folders and outputs live in moto's S3.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from finetune_sdk.backends.base import Backend, JobKind, JobSpec, TeacherConfig
from finetune_sdk.testing.clock import FakeClock
from finetune_sdk.testing.conformance import Advance, BackendConformance, FailJob
from finetune_sdk.testing.emulation import BedrockEmulation

pytestmark = pytest.mark.bedrock

_numbers = itertools.count(1)


def _conversation(i: int, *, answer: bool = True) -> dict[str, object]:
    messages: list[dict[str, object]] = [{"role": "user", "content": [{"text": f"What is {i} plus {i}?"}]}]
    if answer:
        messages.append({"role": "assistant", "content": [{"text": f"{2 * i}"}]})
    return {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "Answer with a number."}],
        "messages": messages,
    }


class BedrockSpecs:
    """Specs whose data really exists in the emulated S3 (Nova Micro in us-east-1, Titan Lite for CPT)."""

    def __init__(self, emulation: BedrockEmulation) -> None:
        self.aws = emulation

    def __call__(self, kind: JobKind = JobKind.FINE_TUNING) -> JobSpec:
        n = next(_numbers)
        root = f"s3://{self.aws.bucket}/conformance/{n}"
        common = {"role_arn": self.aws.role_arn, "output_uri": f"{self.aws.output_uri}/conformance"}
        if kind is JobKind.IMPORT:
            self.aws.put_model_folder(f"{root}/model/")
            return JobSpec(
                kind=kind,
                base_model=f"{root}/model/",
                name=f"conf-import-{n}",
                output_model_name=f"conf-imported-{n}",
                model_source=f"{root}/model/",
                **common,
            )
        if kind is JobKind.CONTINUED_PRE_TRAINING:
            self.aws.put_jsonl(
                f"{root}/train.jsonl", [{"input": f"Document {i} about finance."} for i in range(12)]
            )
            return JobSpec(
                kind=kind,
                base_model="amazon.titan-text-lite-v1:0:4k",
                name=f"conf-cpt-{n}",
                output_model_name=f"conf-cpt-model-{n}",
                training_data=f"{root}/train.jsonl",
                hyperparameters={"epochCount": 1},
                **common,
            )
        if kind is JobKind.DISTILLATION:
            self.aws.put_jsonl(f"{root}/prompts.jsonl", [_conversation(i, answer=False) for i in range(12)])
            return JobSpec(
                kind=kind,
                base_model="amazon.nova-micro-v1:0:128k",
                name=f"conf-distill-{n}",
                output_model_name=f"conf-distilled-{n}",
                training_data=f"{root}/prompts.jsonl",
                teacher=TeacherConfig(model_id="us.amazon.nova-pro-v1:0", max_response_length=500),
                **common,
            )
        if kind is JobKind.REINFORCEMENT:  # issue 17: RFT prompts and an in-process grader
            rows = [
                {"id": f"p{i}", "messages": [{"role": "user", "content": f"{i}+{i}?"}], "reference_answer": str(2 * i)}
                for i in range(100)
            ]
            self.aws.put_jsonl(f"{root}/rft.jsonl", rows)
            grader = f"arn:aws:lambda:us-east-1:123456789012:function:conf-grader-{n}"
            self.aws.register_grader(
                grader,
                lambda event, context: [
                    {"id": s["id"], "aggregate_reward_score": 1.0, "metrics_list": []} for s in event
                ],
            )
            return JobSpec(
                kind=kind,
                base_model="amazon.nova-2-lite-v1:0:256k",
                name=f"conf-rft-{n}",
                output_model_name=f"conf-rft-model-{n}",
                training_data=f"{root}/rft.jsonl",
                grader_arn=grader,
                **common,
            )
        self.aws.put_jsonl(f"{root}/train.jsonl", [_conversation(i) for i in range(16)])
        self.aws.put_jsonl(f"{root}/validation.jsonl", [_conversation(i) for i in range(100, 108)])
        return JobSpec(
            kind=kind,
            base_model="amazon.nova-micro-v1:0:128k",
            name=f"conf-ft-{n}",
            output_model_name=f"conf-model-{n}",
            training_data=f"{root}/train.jsonl",
            validation_data=f"{root}/validation.jsonl",
            hyperparameters={"epochCount": 2},
            **common,
        )


class TestBedrockBackend(BackendConformance):
    @pytest.fixture
    def emulation(self) -> Iterator[BedrockEmulation]:
        with BedrockEmulation(clock=FakeClock()) as aws:
            yield aws
        assert not aws.violations, f"the backend sent requests that break the service model: {aws.violations}"

    @pytest.fixture
    def backend(self, emulation: BedrockEmulation) -> Backend:
        return emulation.backend()

    @pytest.fixture
    def job_spec_factory(self, emulation: BedrockEmulation) -> BedrockSpecs:
        return BedrockSpecs(emulation)

    @pytest.fixture
    def advance(self, emulation: BedrockEmulation) -> Advance:
        return emulation.clock.sleep

    @pytest.fixture
    def fail_job(self, emulation: BedrockEmulation) -> FailJob:
        return emulation.fail_job
