"""The Distiller on the fake backend: train (fine-tune or managed distillation), run with resumable stages,
the three-way evaluation, plan, and the ``finetune distill`` command."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from finetune_sdk.backends import register_backend
from finetune_sdk.backends.base import InvocationLogSource, JobKind, MetadataFilter
from finetune_sdk.cli.main import main
from finetune_sdk.data.records import Conversation, Turn
from finetune_sdk.distillation import Distiller, QualityGate
from finetune_sdk.errors import ConfigurationError, UnsupportedOperationError
from finetune_sdk.evaluation import Evaluator
from finetune_sdk.testing import FakeBackend

TEACHER = "amazon.nova-pro-v1:0"
STUDENT = "amazon.nova-micro-v1:0:128k"


def question(i: int) -> Conversation:
    return Conversation.from_pairs(f"What is {i} plus {i}?", str(2 * i))


def arithmetic(model_id: str, system: str | None, turns: Sequence[Turn]) -> str:
    """Teacher and trained students add; the untrained student base does not."""
    match = re.search(r"What is (\d+) plus", turns[-1].text)
    if match is None:
        return "I do not know."
    if model_id == TEACHER or model_id.startswith("fake-custom-model"):
        return str(2 * int(match.group(1)))
    return "maybe 7"


@pytest.fixture
def fake() -> FakeBackend:
    return FakeBackend(responder=arithmetic)


def teacher_calls(fake: FakeBackend) -> int:
    return sum(1 for c in fake.chat_log if c.model_id == TEACHER)


def test_run_chains_every_stage_and_resumes(fake: FakeBackend, tmp_path: Path) -> None:
    prompts = [question(i) for i in range(30)]
    test = [question(i) for i in range(100, 110)]
    distiller = Distiller(
        teacher=TEACHER,
        student=STUDENT,
        backend=fake,
        workdir=tmp_path / "run",
        evaluator=Evaluator(["exact_match", "output_tokens"], progress=False),
        progress=False,
    )
    result = distiller.run(prompts, test=test, hyperparameters={"epochCount": 1})
    assert result.reused == ()
    assert result.generation is not None and len(result.generation.records) == 30
    assert result.gate is not None and result.gate.output_records == 30
    assert result.job is not None and result.job.status.value == "completed"
    assert result.job.kind is JobKind.FINE_TUNING
    staged = fake.staged[result.job.spec.training_data]  # type: ignore[union-attr]
    assert [r.reference for r in staged] == [str(2 * i) for i in range(30)]  # the teacher's answers
    assert result.student is not None and result.student.id.startswith("fake-custom-model")

    report = result.evaluation
    assert report is not None
    assert report.model_keys == ["student base", "student", "teacher"]
    assert report.baseline == "student base"
    assert report.mean("exact_match", "student") == 1.0
    assert report.mean("exact_match", "student base") == 0.0
    rows = result.side_by_side()
    assert [r["model"] for r in rows] == ["student base", "student", "teacher"]
    assert rows[1]["cost_per_1k_requests"] is not None  # priced as its base model, Nova Micro
    assert rows[2]["cost_per_1k_requests"] > rows[1]["cost_per_1k_requests"]  # Nova Pro costs more
    markdown = result.to_markdown()
    assert "## Teacher vs student vs student base" in markdown and "| student | 1.000 |" in markdown
    assert (tmp_path / "run" / "summary.md").exists()

    calls, submits, evals = teacher_calls(fake), fake.calls["submit_job"], len(fake.chat_log)
    again = distiller.run(prompts, test=test, hyperparameters={"epochCount": 1})
    assert again.reused == ("generate", "filter", "train", "evaluate")
    assert (teacher_calls(fake), fake.calls["submit_job"], len(fake.chat_log)) == (calls, submits, evals)
    assert again.job is not None and again.job.id == result.job.id
    assert again.evaluation == report

    stricter = Distiller(
        teacher=TEACHER,
        student=STUDENT,
        backend=fake,
        workdir=tmp_path / "run",
        gate=QualityGate(min_response_chars=2),
        progress=False,
        evaluator=Evaluator(["exact_match", "output_tokens"], progress=False),
    )
    third = stricter.run(prompts, test=test, hyperparameters={"epochCount": 1})
    assert third.reused == ("generate",)  # the gate changed: filter, train and evaluate ran again
    assert teacher_calls(fake) == calls
    assert third.gate is not None and third.gate.output_records == 25  # answers 0, 2, 4, 6, 8 are one char
    assert third.job is not None and third.job.id != result.job.id


def test_more_prompts_only_ask_the_teacher_about_the_new_ones(fake: FakeBackend, tmp_path: Path) -> None:
    distiller = Distiller(teacher=TEACHER, student=STUDENT, backend=fake, workdir=tmp_path, progress=False)
    distiller.run([question(i) for i in range(10)])
    assert teacher_calls(fake) == 10
    bigger = distiller.run([question(i) for i in range(12)])
    assert bigger.reused == ()  # new prompts: every stage runs again...
    assert bigger.generation is not None and bigger.generation.resumed == 10 and bigger.generation.sent == 2
    assert teacher_calls(fake) == 12  # ...but the teacher is asked only about the two new prompts


def test_run_without_waiting_then_resume(fake: FakeBackend, tmp_path: Path) -> None:
    distiller = Distiller(teacher=TEACHER, student=STUDENT, backend=fake, workdir=tmp_path, progress=False)
    first = distiller.run([question(i) for i in range(10)], wait=False)
    assert first.student is None and first.job is not None
    assert "not waiting" in first.notes[-1]
    second = distiller.run([question(i) for i in range(10)])
    assert second.reused == ("generate", "filter", "train")
    assert second.student is not None and second.evaluation is None
    assert any("no test set" in n for n in second.notes)


def test_student_that_needs_a_deployment(tmp_path: Path) -> None:
    fake = FakeBackend(responder=arithmetic, models_need_deployment=True)
    test = [question(i) for i in range(100, 104)]
    ev = Evaluator(["exact_match"], progress=False)
    distiller = Distiller(teacher=TEACHER, student=STUDENT, backend=fake, evaluator=ev, progress=False)
    result = distiller.run([question(i) for i in range(10)], test=test, workdir=tmp_path / "a")
    assert result.evaluation is not None and result.evaluation.model_keys == ["student base", "teacher"]
    assert any("must be deployed" in n for n in result.notes)
    assert ev.checkpoint is None  # the borrowed evaluator is given back as it was

    deployed = distiller.run([question(i) for i in range(10)], test=test, workdir=tmp_path / "b", deploy=True)
    assert deployed.evaluation is not None
    assert deployed.evaluation.model_keys == ["student base", "student", "teacher"]
    assert deployed.evaluation.mean("exact_match", "student") == 1.0
    assert fake.calls["create_deployment"] == 1 and fake.calls["delete_deployment"] == 1


def test_train_managed_distillation_checks_the_pair(fake: FakeBackend) -> None:
    distiller = Distiller(teacher=TEACHER, student=STUDENT, backend=fake, progress=False)
    prompts = [question(i) for i in range(120)]
    job = distiller.train(prompts, method="distill", max_response_length=256)
    assert job.kind is JobKind.DISTILLATION
    assert job.spec is not None and job.spec.teacher is not None
    assert (job.spec.teacher.model_id, job.spec.teacher.max_response_length) == (TEACHER, 256)

    with pytest.raises(ConfigurationError, match="supported teachers are"):
        distiller.train(prompts, method="distill", teacher="anthropic.claude-3-5-sonnet-20240620-v1:0")
    with pytest.raises(ConfigurationError, match="cannot be a Bedrock distillation student"):
        distiller.train(prompts, method="distill", student="amazon.titan-text-lite-v1:0:4k")
    with pytest.raises(ConfigurationError, match="at least 100 prompts"):
        distiller.train(prompts[:20], method="distill")
    multi = Conversation.from_pairs("a", "b", "c")
    with pytest.raises(ConfigurationError, match="single-turn"):
        distiller.train(
            [*prompts, multi],
            method="distill",
            student="anthropic.claude-3-haiku-20240307-v1:0:200k",
            teacher="anthropic.claude-3-5-sonnet-20241022-v2:0",
        )


def test_train_from_invocation_logs(fake: FakeBackend) -> None:
    distiller = Distiller(
        teacher="us.amazon.nova-premier-v1:0", student=STUDENT, backend=fake, progress=False
    )
    source = InvocationLogSource(
        s3_uri="s3://logs/bedrock", filter=MetadataFilter.all_of(project="faq", stage="prod")
    )
    job = distiller.train(source)
    assert job.kind is JobKind.DISTILLATION and job.spec is not None
    assert job.spec.invocation_logs == source and job.spec.training_data is None
    assert job.spec.invocation_logs.filter is not None
    assert job.spec.invocation_logs.filter.to_request()["andAll"][0] == {"equals": {"project": "faq"}}
    with pytest.raises(ConfigurationError, match="cannot read invocation logs directly"):
        distiller.train(source, method="fine_tune")


def test_backends_without_managed_distillation_are_refused() -> None:
    class NoDistill(FakeBackend):
        supported_kinds = frozenset({JobKind.FINE_TUNING})

    distiller = Distiller(teacher=TEACHER, student=STUDENT, backend=NoDistill(), progress=False)
    with pytest.raises(UnsupportedOperationError, match="method='fine_tune'"):
        distiller.train([question(i) for i in range(120)], method="distill")


def test_bedrock_region_is_checked() -> None:
    from finetune_sdk.backends.base import UsesAwsSession

    class RegionalFake(FakeBackend, UsesAwsSession):  # a backend declares its Region; the Distiller never probes
        region = "us-west-2"
        session = None

    distiller = Distiller(teacher=TEACHER, student=STUDENT, backend=RegionalFake(), progress=False)
    with pytest.raises(ConfigurationError, match="only in us-east-1, not in us-west-2"):
        distiller.train([question(i) for i in range(120)], method="distill")


def test_run_from_local_logs_with_logged_answers(fake: FakeBackend, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    entries = []
    for i in range(12):
        entries.append(
            {
                "schemaType": "ModelInvocationLog",
                "modelId": TEACHER,
                "operation": "Converse",
                "timestamp": "2025-01-01T00:00:00Z",
                "requestMetadata": {"project": "faq" if i < 10 else "other"},
                "input": {
                    "inputBodyJson": {
                        "messages": [{"role": "user", "content": [{"text": f"What is {i} plus {i}?"}]}]
                    }
                },
                "output": {
                    "outputBodyJson": {
                        "output": {"message": {"role": "assistant", "content": [{"text": str(2 * i)}]}}
                    }
                },
            }
        )
    (logs / "a.json").write_text("\n".join(json.dumps(e) for e in entries) + "\n")
    source = InvocationLogSource(
        s3_uri=str(logs), use_prompt_response=True, filter=MetadataFilter(equals={"project": "faq"})
    )
    distiller = Distiller(
        teacher=TEACHER, student=STUDENT, backend=fake, workdir=tmp_path / "w", progress=False
    )
    result = distiller.run(source, method="fine_tune")
    assert teacher_calls(fake) == 0  # the logged answers were used
    assert result.generation is None and result.gate is not None and result.gate.output_records == 10
    assert [r.reference for r in result.training_data] == [str(2 * i) for i in range(10)]
    assert any("use_prompt_response" in n for n in result.notes)

    prompts_only = InvocationLogSource(s3_uri=str(logs), filter=MetadataFilter(equals={"project": "faq"}))
    again = distiller.run(prompts_only, method="fine_tune", workdir=tmp_path / "w2")
    assert teacher_calls(fake) == 10 and again.generation is not None


def test_plan_shows_cost_and_checks_without_sending(fake: FakeBackend) -> None:
    distiller = Distiller(
        teacher=TEACHER, student=STUDENT, backend=fake, gate=QualityGate(gold_field="answer"), progress=False
    )
    prompts = [question(i) for i in range(200)]
    plan = distiller.plan(prompts, test=[question(500)], via="batch")
    assert plan.method == "fine_tune" and plan.via == "batch"
    assert plan.prompts == 200 and plan.unique_requests == 200
    assert plan.generation_estimate is not None and plan.generation_estimate.total > 0
    assert plan.gate_steps == ("response", "truncated", "gold", "dedupe", "leakage")
    assert not plan.confirm_needed
    assert "estimated teacher cost" in plan.to_markdown()
    assert fake.calls["chat"] == 0 and fake.calls["submit_job"] == 0

    managed = distiller.plan(prompts, method="distill")
    assert managed.via is None and managed.pair_check == f"ok: {TEACHER}"
    bad = Distiller(teacher="meta.llama3-1-405b-instruct-v1:0", student=STUDENT, backend=fake).plan(
        prompts, method="distill"
    )
    assert bad.pair_check is not None and bad.pair_check.startswith("not possible: Bedrock cannot distil")


@pytest.fixture
def cli_backend() -> str:
    register_backend("fake-distill", FakeBackend, replace=True)
    return "fake-distill"


def write_prompts(path: Path, n: int) -> Path:
    path.write_text(
        "".join(
            json.dumps({"messages": [{"role": "user", "content": f"What is {i} plus {i}?"}]}) + "\n"
            for i in range(n)
        )
    )
    return path


def test_cli_dry_run_prints_the_plan(
    cli_backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = write_prompts(tmp_path / "p.jsonl", 12)
    code = main(
        [
            "distill",
            "--teacher",
            TEACHER,
            "--student",
            STUDENT,
            "--backend",
            cli_backend,
            "--prompts",
            str(prompts),
            "--via",
            "batch",
            "--dry-run",
            "--json",
        ]
    )
    assert code == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["prompts"] == 12 and plan["via"] == "batch" and plan["method"] == "fine_tune"
    assert plan["generation_estimate"]["total"] > 0

    code = main(
        [
            "distill",
            "--teacher",
            TEACHER,
            "--student",
            STUDENT,
            "--backend",
            cli_backend,
            "--logs",
            "s3://bucket/logs",
            "--filter",
            "project=faq",
            "--filter",
            "stage!=dev",
            "--dry-run",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "invocation logs s3://bucket/logs where {'andAll'" in out and "Bedrock managed distillation" in out


def test_cli_runs_and_resumes(
    cli_backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from finetune_sdk import backends

    shared = FakeBackend()  # one account across both commands, as a real backend would be
    monkeypatch.setattr(backends, "get", lambda name=None, **options: shared)
    prompts = write_prompts(tmp_path / "p.jsonl", 12)
    args = [
        "distill",
        "--teacher",
        TEACHER,
        "--student",
        STUDENT,
        "--backend",
        cli_backend,
        "--prompts",
        str(prompts),
        "--workdir",
        str(tmp_path / "w"),
        "--max-response-length",
        "64",
        "--hp",
        "epochCount=1",
        "--json",
    ]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["job"]["status"] == "completed" and first["gate"]["output_records"] == 12
    assert first["generation"]["sent"] == 12 and first["reused"] == []
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["reused"] == ["generate", "filter", "train"]
    assert shared.calls["submit_job"] == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--prompts", "p.jsonl", "--filter", "a=b"], "--filter applies to --logs only"),
        (["--logs", "s3://b/l", "--filter", "novalue"], "--filter takes KEY=VALUE"),
        (["--prompts", "missing.jsonl"], "does not exist"),
        (["--prompts", "p.jsonl", "--gold-metric", "nope"], "unknown --gold-metric"),
    ],
)
def test_cli_usage_errors(
    cli_backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    write_prompts(tmp_path / "p.jsonl", 2)
    code = main(["distill", "--teacher", TEACHER, "--student", STUDENT, "--backend", cli_backend, *extra])
    assert code == 2
    assert message in capsys.readouterr().err
