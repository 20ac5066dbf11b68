"""``finetune eval`` and the Evaluator with the SDK's own Model handle on the FakeBackend."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Sequence
from pathlib import Path

import pytest

from finetune_sdk import backends
from finetune_sdk.cli.main import main
from finetune_sdk.data.records import Conversation, Turn
from finetune_sdk.evaluation import Evaluator, SupportsChat
from finetune_sdk.models import Model
from finetune_sdk.testing import FakeBackend

NOVA_MICRO = "amazon.nova-micro-v1:0"
NOVA_LITE = "amazon.nova-lite-v1:0"


def sums(model_id: str, system: str | None, turns: Sequence[Turn]) -> str:
    """Nova Lite adds correctly; Nova Micro is off by one on odd numbers."""
    n = int(turns[-1].text.split()[2].rstrip("?"))
    return str(2 * n + (1 if "micro" in model_id and n % 2 else 0))


class SumsBackend(FakeBackend):
    def __init__(self) -> None:
        super().__init__(responder=sums)


def records(n: int = 10) -> list[Conversation]:
    return [Conversation.from_pairs(f"Double of {i}?", str(2 * i)) for i in range(n)]


def test_model_handles_satisfy_the_chat_protocol_and_are_priced() -> None:
    backend = SumsBackend()
    micro, lite = Model.foundation(NOVA_MICRO, backend=backend), Model.foundation(NOVA_LITE, backend=backend)
    assert isinstance(micro, SupportsChat)
    report = Evaluator(["exact_match", "cost_usd"], progress=False).compare([micro, lite], records())
    assert report.mean("exact_match", micro.name) == 0.5 and report.mean("exact_match", lite.name) == 1.0
    assert report.models[0].backend == "fake" and report.models[0].pricing_model_id == micro.pricing_model_id
    assert report.usage_of(micro.name).cost_per_1k_requests is not None
    assert len(backend.chat_log) == 20 and backend.chat_log[0].config.temperature == 0.0


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    backends.register_backend("fake-eval", SumsBackend, replace=True)

    # stands in for Dataset.from_jsonl (finetune_sdk.data.dataset): prompt/completion lines
    class Dataset:
        @staticmethod
        def from_jsonl(path: Path) -> list[Conversation]:
            rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
            return [Conversation.from_pairs(r["prompt"], r["completion"]) for r in rows]

    shim = types.ModuleType("finetune_sdk.data.dataset")
    shim.Dataset = Dataset  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "finetune_sdk.data.dataset", shim)
    data = tmp_path / "test.jsonl"
    data.write_text(
        "".join(json.dumps({"prompt": c.prompt_text, "completion": c.reference}) + "\n" for c in records())
    )
    return data


def test_cli_compares_two_models_and_writes_json(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    code = main(
        [
            "eval",
            "--backend",
            "fake-eval",
            "--data",
            str(cli_env),
            "--model",
            NOVA_MICRO,
            "--model",
            NOVA_LITE,
            "--metric",
            "exact_match",
            "--metric",
            "token_f1",
            "--checkpoint",
            str(tmp_path / "ck.jsonl"),
            "--concurrency",
            "2",
            "-o",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "### Scores" in printed and "exact McNemar" in printed
    saved = json.loads(out.read_text())
    assert [m["id"] for m in saved["models"]] == [NOVA_MICRO, NOVA_LITE] and saved["dataset"]["size"] == 10
    assert len((tmp_path / "ck.jsonl").read_text().splitlines()) == 20

    code = main(
        [
            "eval",
            "--backend",
            "fake-eval",
            "--data",
            str(cli_env),
            "--model",
            NOVA_LITE,
            "--json",
            "--limit",
            "4",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["dataset"]["size"] == 4 and report["baseline"] is None


def test_cli_usage_errors(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--data", str(cli_env), "--model", NOVA_LITE, "--metric", "bleu"]) == 2
    assert "unknown metric bleu" in capsys.readouterr().err
    assert main(["eval", "--data", str(cli_env), "--model", NOVA_LITE, "--metric", "judge"]) == 2
    assert main(["eval", "--data", "missing.jsonl", "--model", NOVA_LITE]) == 2
    assert main(["eval", "--data", str(cli_env)]) == 2  # --model is required (argparse)


class BrokenBackend(FakeBackend):
    """Answers every question except the one about 3, which the service refuses."""

    def __init__(self) -> None:
        def responder(model_id: str, system: str | None, turns: Sequence[Turn]) -> str:
            if "of 3?" in turns[-1].text:
                from finetune_sdk.errors import ServiceValidationError

                raise ServiceValidationError("refused", backend="fake")
            return sums(model_id, system, turns)

        super().__init__(responder=responder)


def test_cli_error_advice_names_only_the_options_given(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backends.register_backend("fake-eval-broken", BrokenBackend, replace=True)
    argv = ["eval", "--backend", "fake-eval-broken", "--data", str(cli_env), "--model", NOVA_LITE]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "1 example(s) ended in an error" in err and "rerun the command" in err and "--checkpoint" not in err
    checkpoint = tmp_path / "ck.jsonl"
    assert main([*argv, "--checkpoint", str(checkpoint)]) == 1
    assert f"rerun with the same --checkpoint {checkpoint}" in capsys.readouterr().err
