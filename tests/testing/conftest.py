"""Fixtures of finetune_sdk.testing, imported the way users are told to import them."""

import pytest

from finetune_sdk.testing.fixtures import aws_emulation, fake_backend, fake_clock  # noqa: F401

pytest.register_assert_rewrite("finetune_sdk.testing.conformance")
