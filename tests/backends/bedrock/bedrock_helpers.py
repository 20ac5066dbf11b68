"""Constants and helpers shared by the Bedrock backend tests (a uniquely named module, not conftest,
so that importing it cannot pick up another folder's conftest)."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
from botocore.response import StreamingBody

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/BedrockJobs"
OUTPUT = "s3://ft-bucket/out"
# one boto3 session per Region for the whole run: it caches the service models, which makes each backend's
# clients ten times cheaper to create (clients themselves are per backend, so stubs never leak between tests)
_SESSIONS: dict[str, boto3.Session] = {}


def session_for(region: str) -> boto3.Session:
    if region not in _SESSIONS:
        _SESSIONS[region] = boto3.Session(region_name=region)
    return _SESSIONS[region]


def body(payload: dict[str, Any]) -> StreamingBody:
    data = json.dumps(payload).encode()
    return StreamingBody(io.BytesIO(data), len(data))
