"""A killed evaluation resumes from its checkpoint: no request is sent twice, and the report is the same."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from eval_helpers import OracleChat

from finetune_sdk.data.records import Conversation
from finetune_sdk.evaluation import Evaluator
from finetune_sdk.evaluation.report import comparable_json

ROOT = Path(__file__).resolve().parents[2]
METRICS = ["exact_match", "token_f1", "output_tokens"]


def data(n: int = 40) -> list[Conversation]:
    return [Conversation.from_pairs(f"What is {i} squared?", str(i * i)) for i in range(n)]


def answer(i: int, record: Conversation) -> str:
    return str(i * i) if i % 3 else f"about {i * i + 1}"


@pytest.mark.parametrize("crash", [KeyboardInterrupt, SystemExit])
def test_interrupted_then_resumed_run_sends_no_request_twice(
    tmp_path: Path, crash: type[BaseException]
) -> None:
    records = data()
    path = tmp_path / "eval.ckpt.jsonl"
    base1 = OracleChat("base", records, answer, delay=0.004, seed=1)
    tuned1 = OracleChat(
        "tuned", records, lambda i, r: str(i * i), delay=0.004, seed=2, crash_after=17, crash=crash
    )
    evaluator = Evaluator(METRICS, concurrency=4, checkpoint=path, progress=False)
    with pytest.raises(crash):
        evaluator.compare([base1, tuned1], records)
    answered_before = sum(base1.calls.values()) + sum(tuned1.calls.values())
    assert 17 <= answered_before < 80
    assert len(path.read_text().splitlines()) == answered_before  # every answer was checkpointed

    # resume: same checkpoint, fresh model objects that count their own calls
    base2 = OracleChat("base", records, answer, delay=0.004, seed=3)
    tuned2 = OracleChat("tuned", records, lambda i, r: str(i * i), delay=0.004, seed=4)
    resumed = Evaluator(METRICS, concurrency=4, checkpoint=path, progress=False).compare(
        [base2, tuned2], records
    )
    for first, second in ((base1, base2), (tuned1, tuned2)):
        total = first.calls + second.calls
        assert set(total.values()) == {1} and len(total) == 40, "a record was sent twice (or never)"
    assert resumed.run.resumed == answered_before
    assert resumed.errors == 0

    # the same evaluation without interruption gives the same report (timing fields aside)
    clean = Evaluator(METRICS, concurrency=4, progress=False).compare(
        [OracleChat("base", records, answer), OracleChat("tuned", records, lambda i, r: str(i * i))], records
    )
    assert comparable_json(resumed) == comparable_json(clean)


CHILD = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {tests!r})
    from eval_helpers import OracleChat
    from test_eval_resume import data, answer
    from finetune_sdk.evaluation import Evaluator

    calls_log = open({log!r}, "a", buffering=1)

    class Logged(OracleChat):
        def chat(self, messages=None, *, system=None, turns=None, config=None):
            index = self._by_prompt[turns[-1].text]
            calls_log.write(f"start {{self.id}} {{index}}\\n"); os.fsync(calls_log.fileno())
            if self.id == "tuned" and index == {block_at}:
                time.sleep(120)  # the parent kills us here, mid-request
            response = super().chat(messages, system=system, turns=turns, config=config)
            calls_log.write(f"done {{self.id}} {{index}}\\n"); os.fsync(calls_log.fileno())
            return response

    records = data()
    models = [Logged("base", records, answer), Logged("tuned", records, lambda i, r: str(i * i))]
    Evaluator({metrics!r}, concurrency=1, checkpoint={ckpt!r}, progress=False).compare(models, records)
    """
)


@pytest.mark.slow
def test_killed_subprocess_resumes_without_repeating_requests(tmp_path: Path) -> None:
    records = data()
    ckpt, log = tmp_path / "eval.ckpt.jsonl", tmp_path / "calls.log"
    script = tmp_path / "child.py"
    script.write_text(
        CHILD.format(
            tests=str(Path(__file__).parent), log=str(log), ckpt=str(ckpt), metrics=METRICS, block_at=25
        )
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    child = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=env)
    try:
        deadline = time.monotonic() + 60
        while "start tuned 25" not in (log.read_text() if log.exists() else ""):
            assert child.poll() is None, "the child exited before reaching the blocking request"
            assert time.monotonic() < deadline, "the child never reached the blocking request"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    # a torn last line, as if the kill had landed in the middle of a checkpoint write
    with ckpt.open("ab") as fh:
        fh.write(b'{"k":"tuned","i":25,"fp":"')

    done_before = Counter(
        line.split(" ", 1)[1] for line in log.read_text().splitlines() if line.startswith("done")
    )
    assert done_before["tuned 25"] == 0 and done_before["base 25"] == 1 and len(done_before) == 51

    base = OracleChat("base", records, answer)
    tuned = OracleChat("tuned", records, lambda i, r: str(i * i))
    report = Evaluator(METRICS, concurrency=4, checkpoint=ckpt, progress=False).compare(
        [base, tuned], records
    )
    assert report.run.resumed == 51
    for model in (base, tuned):
        for i in range(40):
            before = done_before[f"{model.id} {i}"]
            assert before + model.calls[i] == 1, (
                f"{model.id} record {i} answered {before + model.calls[i]} times"
            )
    assert json.loads(ckpt.read_text().splitlines()[-1])["ok"] is True  # appends resumed on a clean line

    clean = Evaluator(METRICS, progress=False).compare(
        [OracleChat("base", records, answer), OracleChat("tuned", records, lambda i, r: str(i * i))], records
    )
    assert comparable_json(report) == comparable_json(clean)
