"""Two processes on one Evaluator checkpoint send each request once in total; answers are keyed by identity."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from finetune_sdk.backends.base import ChatResponse
from finetune_sdk.data.records import Conversation
from finetune_sdk.errors import ConfigurationError
from finetune_sdk.evaluation import Checkpoint, Evaluator
from finetune_sdk.evaluation._checkpoint import lock_path

ROOT = Path(__file__).resolve().parents[2]
N = 24

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from finetune_sdk.backends.base import ChatResponse
    from finetune_sdk.data.records import Conversation
    from finetune_sdk.errors import ConfigurationError
    from finetune_sdk.evaluation import Evaluator

    ckpt, log, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])

    class Counted:
        id = "arn:aws:bedrock:us-east-1:123456789012:custom-model/abc"
        name = "tuned"

        def chat(self, *, system, turns, config):
            with open(log, "a") as fh:  # one line per request actually sent
                fh.write(turns[-1].text + "\\n")
            time.sleep(delay)
            return ChatResponse(text="4")

    records = [Conversation.from_pairs(f"q{i}", "4") for i in range(int(sys.argv[4]))]
    try:
        Evaluator(["exact_match"], concurrency=2, checkpoint=ckpt, progress=False).evaluate(Counted(), records)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    """
)


def _spawn(tmp_path: Path, ckpt: Path, log: Path, delay: float) -> subprocess.Popen[str]:
    script = tmp_path / "run_eval.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(script), str(ckpt), str(log), str(delay), str(N)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def test_two_processes_on_one_checkpoint_send_each_request_once(tmp_path: Path) -> None:
    ckpt, log = tmp_path / "eval.ckpt.jsonl", tmp_path / "sent.log"
    first = _spawn(tmp_path, ckpt, log, delay=0.15)
    deadline = time.monotonic() + 30
    while not (log.exists() and log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.02)  # wait until the first run holds the lock and is sending
    assert first.poll() is None, first.communicate()
    second = _spawn(tmp_path, ckpt, log, delay=0.0)
    _, err2 = second.communicate(timeout=60)
    _, err1 = first.communicate(timeout=60)
    assert first.returncode == 0, err1
    assert second.returncode == 1
    assert f"in use by pid {first.pid} on host" in err2 and "Traceback" not in err2
    # the rerun after the holder finished resumes every answer and sends nothing
    third = _spawn(tmp_path, ckpt, log, delay=0.0)
    _, err3 = third.communicate(timeout=60)
    assert third.returncode == 0, err3
    sent = log.read_text().splitlines()
    assert len(sent) == N and len(set(sent)) == N, "a request was sent twice (or never)"


def test_lock_released_on_close_and_by_a_second_object(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    one, two = Checkpoint(path), Checkpoint(path)
    one.load()
    with pytest.raises(ConfigurationError, match=rf"in use by pid {os.getpid()}"):
        two.load()
    one.close()
    assert two.load() == {}
    two.close()
    assert lock_path(path).exists()


def test_a_not_a_checkpoint_file_releases_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text("hello\n")
    from finetune_sdk.errors import DataError

    with pytest.raises(DataError):
        Checkpoint(path).load()
    path.write_text("")
    assert Checkpoint(path).load() == {}


class _Same:
    """Two models with the same display name but different ids."""

    name = "tuned"

    def __init__(self, model_id: str, answer: str) -> None:
        self.id = model_id
        self.answer = answer
        self.calls = 0

    def chat(self, *, system: object, turns: object, config: object) -> ChatResponse:
        self.calls += 1
        return ChatResponse(text=self.answer)


def test_answers_are_keyed_by_model_identity_not_name(tmp_path: Path) -> None:
    records = [Conversation.from_pairs(f"q{i}", "yes") for i in range(5)]
    ckpt = tmp_path / "c.jsonl"
    old = _Same("arn:aws:bedrock:us-east-1:1:custom-model/old", "no")
    new = _Same("arn:aws:bedrock:us-east-1:1:custom-model/new", "yes")
    ev = Evaluator(["exact_match"], checkpoint=ckpt, progress=False, concurrency=1)
    r1 = ev.evaluate(old, records)
    r2 = ev.evaluate(new, records)
    assert old.calls == 5 and new.calls == 5, "a different model with the same name reused stale answers"
    assert r1.run.resumed == 0 and r2.run.resumed == 0
    again = _Same("arn:aws:bedrock:us-east-1:1:custom-model/new", "yes")
    r3 = ev.evaluate(again, records)
    assert again.calls == 0 and r3.run.resumed == 5
