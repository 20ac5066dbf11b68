"""FakeBackend runs the backend conformance suite like any other backend."""

import pytest

from finetune_sdk.testing import FakeBackend
from finetune_sdk.testing.conformance import BackendConformance

pytestmark = pytest.mark.fake


class TestFakeBackend(BackendConformance):
    @pytest.fixture
    def backend(self) -> FakeBackend:
        return FakeBackend()
