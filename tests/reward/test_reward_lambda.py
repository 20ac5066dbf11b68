"""The grader zip (deterministic, self-contained: runs with the standard library only) and its deploy."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from rft_rewards import answer_letter, fussy

from finetune_sdk.errors import ConfigurationError
from finetune_sdk.reward import HANDLER

EVENT = [
    {
        "id": "top",
        "messages": [{"role": "user", "content": "A) 1 B) 2"}, {"role": "assistant", "content": "B"}],
        "reference_answer": "B",
    },
    {
        "id": "meta",
        "messages": [{"role": "user", "content": "A) 1 B) 2"}, {"role": "assistant", "content": "A"}],
        "metadata": {"reference_answer": "B"},
    },
    {"id": "broken", "messages": 7},
]


def _run_bundle(zip_path: Path, tmp_path: Path, event: object) -> list[dict[str, object]]:
    """Unzip and call the handler in a fresh interpreter without site-packages (what Lambda has)."""
    target = tmp_path / "unzipped"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(target)
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import lambda_function; "
        "print(json.dumps(lambda_function.lambda_handler(json.loads(sys.stdin.read()), None)))"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(target)],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_zip_runs_the_same_contract_without_the_sdk(tmp_path: Path) -> None:
    bundle = answer_letter.to_lambda_zip(tmp_path / "grader.zip")
    assert bundle.handler == HANDLER
    assert {"lambda_function.py", "_finetune_reward_contract.py", "rft_rewards.py"} <= set(bundle.files)
    assert "finetune_sdk/reward/__init__.py" in bundle.files
    remote = _run_bundle(Path(bundle.path), tmp_path, EVENT)
    assert remote == answer_letter.lambda_handler(EVENT, None)  # same answers in and out of Lambda
    assert [r["aggregate_reward_score"] for r in remote] == [1.0, 0.0, 0.0]


def test_zip_is_deterministic_and_changes_with_the_code(tmp_path: Path) -> None:
    one = answer_letter.to_lambda_zip(tmp_path / "a.zip")
    two = answer_letter.to_lambda_zip(tmp_path / "b.zip")
    assert one.sha256 == two.sha256 and one.code_sha256 == two.code_sha256
    assert Path(one.path).read_bytes() == Path(two.path).read_bytes()
    import base64
    import hashlib

    assert base64.b64encode(hashlib.sha256(Path(one.path).read_bytes()).digest()).decode() == one.code_sha256
    other = fussy.to_lambda_zip(tmp_path / "c.zip")  # same module, other handler entry
    assert other.sha256 != one.sha256


def test_zip_bundles_pure_python_dependencies_and_refuses_compiled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "src" / "purehelper"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("def norm(s):\n    return s.strip().upper()\n")
    (tmp_path / "src" / "user_reward_mod.py").write_text(
        "from purehelper import norm\nfrom finetune_sdk.reward import reward\n\n\n"
        "@reward\ndef graded(completion, *, reference_answer=None, **fields):\n"
        "    return float(norm(completion) == norm(reference_answer or ''))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    import user_reward_mod  # type: ignore[import-not-found]

    bundle = user_reward_mod.graded.to_lambda_zip(tmp_path / "dep.zip")
    assert "purehelper/__init__.py" in bundle.files and "user_reward_mod.py" in bundle.files
    out = _run_bundle(
        Path(bundle.path),
        tmp_path,
        [{"id": "x", "messages": [{"role": "assistant", "content": " b "}], "reference_answer": "B"}],
    )
    assert out[0]["aggregate_reward_score"] == 1.0
    (pkg / "_speedups.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    with pytest.raises(ConfigurationError, match="compiled extension"):
        user_reward_mod.graded.to_lambda_zip(tmp_path / "dep2.zip")
    assert (
        "purehelper/__init__.py"
        not in user_reward_mod.graded.to_lambda_zip(tmp_path / "dep3.zip", exclude=["purehelper"]).files
    )


def test_zip_refuses_sdk_internals_and_local_functions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "uses_sdk_mod.py").write_text(
        "from finetune_sdk.evaluation.metrics import extract_choice\nfrom finetune_sdk.reward import reward\n\n\n"
        "@reward\ndef graded(completion, *, reference_answer=None, **fields):\n"
        "    return float(extract_choice(completion) == reference_answer)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import uses_sdk_mod  # type: ignore[import-not-found]

    with pytest.raises(ConfigurationError, match=r"carries only finetune_sdk\.reward"):
        uses_sdk_mod.graded.to_lambda_zip(tmp_path / "x.zip")

    from finetune_sdk.reward import reward

    @reward
    def local(completion: str, **fields: object) -> float:
        return 1.0

    with pytest.raises(ConfigurationError, match="module level"):
        local.to_lambda_zip(tmp_path / "y.zip")


@pytest.fixture
def aws_session():  # type: ignore[no-untyped-def]
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    with moto.mock_aws():
        session = boto3.Session(region_name="us-east-1")
        role = session.client("iam").create_role(
            RoleName="grader-role",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        yield session, role


def test_deploy_lambda_is_idempotent(aws_session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    session, role = aws_session
    calls: list[str] = []
    session.events.register("before-call.lambda.*", lambda model, **_: calls.append(model.name))
    arn = answer_letter.deploy_lambda(name="letter-grader", role_arn=role, session=session)
    assert arn.startswith("arn:aws:lambda:us-east-1:") and arn.endswith(":function:letter-grader")
    assert calls == ["GetFunction", "CreateFunction"]
    config = session.client("lambda").get_function(FunctionName="letter-grader")["Configuration"]
    assert config["CodeSha256"] == answer_letter.to_lambda_zip(tmp_path / "g.zip").code_sha256
    assert config["Handler"] == HANDLER and config["Timeout"] == 300
    calls.clear()
    assert answer_letter.deploy_lambda(name="letter-grader", role_arn=role, session=session) == arn
    assert calls == ["GetFunction"]  # same code: nothing changes
    calls.clear()
    assert fussy.deploy_lambda(name="letter-grader", role_arn=role, session=session) == arn
    assert calls == ["GetFunction", "UpdateFunctionCode"]
    config = session.client("lambda").get_function(FunctionName="letter-grader")["Configuration"]
    assert config["CodeSha256"] == fussy.to_lambda_zip(tmp_path / "f.zip").code_sha256


def test_deploy_lambda_checks_limits_and_translates_errors(aws_session) -> None:  # type: ignore[no-untyped-def]
    from botocore.stub import Stubber

    from finetune_sdk.errors import AccessDeniedError

    session, role = aws_session
    with pytest.raises(ConfigurationError, match="1-900 seconds"):
        answer_letter.deploy_lambda(name="g", role_arn=role, session=session, timeout_s=901)
    client = session.client("lambda", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_client_error("get_function", service_error_code="AccessDeniedException", http_status_code=403)
    stub.activate()

    class _Session:
        region_name = "us-east-1"

        def client(self, *args: object, **kwargs: object) -> object:
            return client

    with pytest.raises(AccessDeniedError, match="GetFunction"):
        answer_letter.deploy_lambda(name="g", role_arn=role, session=_Session())
