"""The conformance suite ships in the package; rewrite its asserts so failures show the values."""

import pytest

pytest.register_assert_rewrite("finetune_sdk.testing.conformance")
