"""Fixtures for the SageMaker backend tests: the emulated account, a Stubber-ready backend, AQuA-RAT data."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from finetune_sdk.backends.sagemaker import SageMakerBackend
from finetune_sdk.data.dataset import Dataset
from finetune_sdk.testing.clock import FakeClock
from finetune_sdk.testing.emulation._sagemaker_data import _shared_loader
from finetune_sdk.testing.sagemaker import SageMakerEmulation, llama3_hub_document

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerJobs"
BUCKET = "ft-bucket"
OUTPUT = f"s3://{BUCKET}/out"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulation(clock: FakeClock) -> Iterator[SageMakerEmulation]:
    with SageMakerEmulation(clock=clock) as sm:
        yield sm
    assert not sm.violations, f"requests broke the SageMaker service model: {sm.violations}"


@pytest.fixture
def backend(emulation: SageMakerEmulation) -> SageMakerBackend:
    return emulation.backend()


@pytest.fixture
def moto_s3() -> Iterator[Any]:
    """moto for S3 and logs (SageMaker itself is stubbed in the Stubber tests)."""
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        session._session.register_component("data_loader", _shared_loader())
        session.client("s3").create_bucket(Bucket=BUCKET)
        yield session


@pytest.fixture
def stub_backend(moto_s3: Any, clock: FakeClock) -> Callable[..., SageMakerBackend]:
    """A backend whose SageMaker client the test stubs (hub documents come from the synthetic loader)."""

    def make(**options: Any) -> SageMakerBackend:
        defaults: dict[str, Any] = {
            "session": moto_s3,
            "region": "us-east-1",
            "role_arn": ROLE,
            "output_uri": OUTPUT,
            "clock": clock,
            "hub_document_loader": llama3_hub_document,
        }
        defaults.update(options)
        return SageMakerBackend(**defaults)

    return make


@pytest.fixture
def aqua(shared_datasets: Path) -> Dataset:
    """AQuA-RAT test split (254 algebra word problems) as conversations."""
    return Dataset.from_aqua(shared_datasets / "aqua" / "test.json")
