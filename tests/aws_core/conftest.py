"""Fixtures that start real servers on 127.0.0.1: moto (S3, IAM, STS, SageMaker) and the Bedrock emulation.

Each runs as a separate process, so boto3 clients reach it through botocore's whole serialisation and HTTP
stack; every process is terminated and reaped at the end of the session.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[str]) -> None:
    if process.stdin is not None:
        process.stdin.close()
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The URL of a moto server process on 127.0.0.1."""
    pytest.importorskip("moto.server")
    port = _free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("the moto server did not start")
                time.sleep(0.1)
        yield url
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def bedrock_server() -> Iterator[dict[str, str]]:
    """``{"bedrock": URL, "bedrock-runtime": URL}`` of the Bedrock emulation served from its own process."""
    pytest.importorskip("moto")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    process = subprocess.Popen(
        [sys.executable, "-m", "finetune_sdk.testing.emulation._serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            pytest.fail("the Bedrock emulation server did not start")
        yield json.loads(line)
    finally:
        _stop(process)
