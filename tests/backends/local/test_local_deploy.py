"""``local`` as a full peer: in-process deployments, and the README's 20-line example run with backend local."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from local_helpers import say_records

from finetune_sdk.backends.local import LocalBackend
from finetune_sdk.data.dataset import Dataset
from finetune_sdk.errors import ConfigurationError, ResourceNotFoundError
from finetune_sdk.models import Deployment, Model

pytestmark = pytest.mark.local

README = Path(__file__).parents[3] / "README.md"


def test_deploy_loads_once_serves_and_frees_on_exit(tiny_model: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune_sdk.backends.local import _inference as inference

    loads: list[str] = []
    real_load = inference.load

    def counting_load(source: str | Path, device: str | None = None) -> inference.LoadedModel:
        loads.append(str(source))
        return real_load(source, device)

    monkeypatch.setattr(inference, "load", counting_load)
    backend = LocalBackend(root=tmp_path / "runs")
    model = Model.foundation(str(tiny_model), backend=backend)
    with model.deploy() as deployment:
        assert isinstance(deployment, Deployment)
        assert deployment.status.value == "active" and deployment.record.kind == "local"
        assert [d.id for d in Deployment.list(backend=backend)] == [deployment.id]
        first = deployment.chat("say apple", max_tokens=4)
        second = deployment.invoke("say pear", config=None)
        assert first.output_tokens <= 4 and second.output_tokens >= 1
        assert model.deploy().id == deployment.id  # the same spec: the same deployment, not a second copy
        assert len(loads) == 1
        assert deployment.estimate_cost() is not None and deployment.estimate_cost().total == 0.0  # type: ignore[union-attr]
    assert list(backend.list_deployments()) == []
    assert all(key[0] != str(tiny_model.resolve()) and key[0] != str(tiny_model) for key in inference._CACHE)
    with pytest.raises(ResourceNotFoundError, match="in this process"):
        backend.describe_deployment(deployment.id)
    deployment.delete()  # deleting twice is fine
    with pytest.raises(ConfigurationError, match="in-process only"):
        model.deploy(kind="provisioned")


def _readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split("## A 20-line example", 1)[1].split("```python", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_readme_example_runs_with_backend_local(tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The README's example, changed only as the README says (backend and model ids), runs end to end."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FINETUNE_SDK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FINETUNE_SDK_DISABLE_PROGRESS_BARS", "1")
    Dataset.from_records(say_records(40)).to_jsonl(tmp_path / "train.jsonl", format="bedrock_messages")
    code = _readme_example()
    local = repr(str(tiny_model))
    code, n_backend = re.subn(r'bedrock = backends\.get\("bedrock".*?\)\n(?=job)', 'bedrock = backends.get("local")\n',
                              code, flags=re.S)
    code, n_job = re.subn(r'Job\.fine_tune\(model="[^"]+"', f"Job.fine_tune(model={local}", code)
    code, n_base = re.subn(r'Model\.foundation\("[^"]+"', f"Model.foundation({local}", code)
    assert (n_backend, n_job, n_base) == (1, 1, 1), "the README example changed: update README and this test"
    assert "job.model.deploy()" in code and "Evaluator(" in code
    exec(compile(code, str(README), "exec"), {})
    out = capsys.readouterr().out
    assert "step" in out and "validation_loss" in out  # job.metrics().tail()
    assert "## Evaluation report" in out and "token_f1" in out
    assert list(LocalBackend(root=tmp_path / "home" / "runs").list_deployments()) == []  # freed on exit
