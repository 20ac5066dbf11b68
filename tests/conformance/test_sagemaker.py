"""The SageMaker backend runs the conformance suite through boto3 against moto plus the SageMaker emulation.

Jobs are JumpStart Llama 3 8B fine-tuning (and domain-adaptation) jobs on data the backend staged in moto's
S3; the emulation moves them through ``InProgress`` on the fake clock, writes their model folders and logs,
and serves ``DescribeHubContent``, ``StopTrainingJob`` and ``InvokeEndpoint``. Every SageMaker request is
validated against the service model.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from finetune_sdk.backends.base import (
    Backend,
    DeploymentSpec,
    DeploymentStatus,
    JobKind,
    JobSpec,
)
from finetune_sdk.backends.sagemaker import SageMakerBackend, SageMakerEndpointOptions, SageMakerOptions
from finetune_sdk.data.dataset import Dataset
from finetune_sdk.data.records import Conversation, TextRecord
from finetune_sdk.testing.clock import FakeClock
from finetune_sdk.testing.conformance import Advance, BackendConformance, FailJob
from finetune_sdk.testing.sagemaker import SageMakerEmulation

pytestmark = pytest.mark.sagemaker

_numbers = itertools.count(1)
MODEL = "meta-textgeneration-llama-3-8b"


class SageMakerSpecs:
    """JumpStart Llama 3 8B specs whose data the backend staged in the emulated S3."""

    def __init__(self, backend: SageMakerBackend, emulation: SageMakerEmulation) -> None:
        self.backend = backend
        self.aws = emulation

    def __call__(self, kind: JobKind = JobKind.FINE_TUNING) -> JobSpec:
        n = next(_numbers)
        if kind is JobKind.CONTINUED_PRE_TRAINING:
            data = Dataset(
                [TextRecord(text=f"Document {i}: revenue grew {i}% in the quarter.") for i in range(12)]
            )
            name = f"conf-sm-cpt-{n}"
        else:
            data = Dataset([Conversation.from_pairs(f"What is {i} plus {i}?", str(2 * i)) for i in range(16)])
            name = f"conf-sm-ft-{n}"
        uri = self.backend.stage_data(data, name=f"{name}-train", format=None, output_uri=None)
        return JobSpec(
            kind=kind,
            base_model=MODEL,
            name=name,
            output_model_name=f"{name}-model",
            training_data=uri,
            hyperparameters={"epoch": 2, "learning_rate": 0.0001},
            role_arn=self.aws.role_arn,
            output_uri=f"{self.aws.output_uri}/conformance",
            backend_options=SageMakerOptions(accept_eula=True, instance_type="ml.g5.12xlarge"),
        )


class TestSageMakerBackend(BackendConformance):
    deployment_kind = "endpoint"

    @pytest.fixture
    def emulation(self) -> Iterator[SageMakerEmulation]:
        with SageMakerEmulation(clock=FakeClock()) as sm:
            yield sm
        assert not sm.violations, f"the backend sent requests that break the service model: {sm.violations}"

    @pytest.fixture
    def backend(self, emulation: SageMakerEmulation) -> Backend:
        return emulation.backend()

    @pytest.fixture
    def job_spec_factory(self, backend: SageMakerBackend, emulation: SageMakerEmulation) -> SageMakerSpecs:
        return SageMakerSpecs(backend, emulation)

    @pytest.fixture
    def advance(self, emulation: SageMakerEmulation) -> Advance:
        return emulation.clock.sleep

    @pytest.fixture
    def fail_job(self, emulation: SageMakerEmulation) -> FailJob:
        return emulation.fail_job

    @pytest.fixture
    def deployment_spec_factory(self) -> Callable[[str], DeploymentSpec]:
        def make(model_id: str) -> DeploymentSpec:
            return DeploymentSpec(
                model_id=model_id, name=f"conformance-endpoint-{next(_numbers)}", kind="endpoint"
            )

        return make

    @pytest.fixture
    def chat_model_id(self, backend: SageMakerBackend, emulation: SageMakerEmulation) -> str:
        """SageMaker invokes endpoints: deploy the JumpStart base model and chat with its endpoint."""
        spec = DeploymentSpec(
            model_id=f"{MODEL}-instruct",
            name="conformance-chat",
            kind="endpoint",
            backend_options=SageMakerEndpointOptions(accept_eula=True),
        )
        record = backend.create_deployment(spec)
        emulation.clock.sleep(emulation.endpoint_duration_s)
        assert backend.describe_deployment(record.id).status is DeploymentStatus.ACTIVE
        return record.invoke_id
