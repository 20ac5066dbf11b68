"""The worked notebooks: built from ``notebooks/_build.py``, committed without outputs, and executed here.

Each notebook runs in a fresh ``python3`` kernel (nbclient) with its folder as working directory,
``FINETUNE_SDK_OFFLINE=1`` and this suite's fake AWS credentials (set in ``os.environ`` by the autouse fixture of
``tests/conftest.py``; the kernel inherits them). Every notebook ends with a cell that asserts its key result
and then prints a line starting with ``RESULT:``, so a notebook that stops early, or whose checks are skipped,
fails here. Scratch files must go to a temporary folder the notebook deletes: the notebooks folder must not
change, and nothing the notebook made may be left in ``TMPDIR``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"

#: notebook -> (needs ../shared/datasets, modules it imports beyond the core install)
CASES: dict[str, tuple[bool, tuple[str, ...]]] = {
    "01_quickstart_local.ipynb": (False, ("torch", "transformers", "peft", "pandas", "matplotlib")),
    "02_claude_haiku_bedrock_tatqa.ipynb": (True, ("moto", "pandas", "matplotlib")),
    "03_llama3_sagemaker_aqua_import.ipynb": (True, ("moto", "pandas", "matplotlib")),
    "04_distillation_from_invocation_logs.ipynb": (False, ("moto",)),
    "05_continued_pretraining.ipynb": (True, ("moto", "torch", "transformers", "peft", "pandas", "matplotlib")),
    "06_custom_backend.ipynb": (False, ("pandas", "matplotlib")),
}
AWS_NOTEBOOKS = {"02", "03", "04", "05"}


def _builder() -> ModuleType:
    """``notebooks/_build.py`` as a module (compiled here, so no ``__pycache__`` lands in notebooks/)."""
    path = NOTEBOOKS / "_build.py"
    module = ModuleType("notebooks_build")
    module.__file__ = str(path)
    sys.modules["notebooks_build"] = module
    try:
        exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), module.__dict__)
    finally:
        del sys.modules["notebooks_build"]
    return module


def _read(name: str) -> Any:
    nbformat = pytest.importorskip("nbformat")
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def test_the_notebooks_are_exactly_what_the_build_script_writes() -> None:
    pytest.importorskip("nbformat")
    build = _builder()
    assert sorted(build.NOTEBOOKS) == sorted(CASES)
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(CASES), "a notebook is not built"
    for name, cells in build.NOTEBOOKS.items():
        committed = (NOTEBOOKS / name).read_text(encoding="utf-8")
        assert committed == build.build(name, cells), f"{name} is stale: run python notebooks/_build.py"


@pytest.mark.parametrize("name", sorted(CASES))
def test_notebook_structure(name: str) -> None:
    nb = _read(name)
    assert nb.nbformat == 4
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:  # committed without outputs: CI executes them
        assert cell.get("outputs") == [] and cell.get("execution_count") is None, cell.source[:80]
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    first = code[0].source
    assert "FINETUNE_SDK_OFFLINE" in first and "get_credentials() is None" in first and "WORKDIR" in first
    if name[:2] in AWS_NOTEBOOKS:
        assert "BedrockEmulation" in first and "stack.enter_context(" in first, "offline setup belongs in cell 1"
        assert "FINETUNE_SDK_ROLE_ARN" in first and "FINETUNE_SDK_OUTPUT_URI" in first
    last = nb.cells[-1]
    assert last.cell_type == "code" and "stack.close()" in last.source
    assert "assert " in last.source and "RESULT:" in last.source
    run = 0
    for cell in nb.cells:  # every step is explained: never more than two code cells in a row
        run = run + 1 if cell.cell_type == "code" else 0
        assert run <= 2, f"{name}: three code cells in a row without a markdown explanation"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_notebook_runs_offline(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    needs_data, modules = CASES[name]
    for module in modules:
        pytest.importorskip(module)
    if needs_data:
        datasets: Path = request.getfixturevalue("shared_datasets")
        monkeypatch.setenv("FINETUNE_SDK_SHARED_DATASETS", str(datasets))
    from nbclient import NotebookClient

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("FINETUNE_SDK_OFFLINE", "1")
    monkeypatch.setenv("TMPDIR", str(scratch))  # the notebook's tempfile.mkdtemp() lands here
    # this checkout first, whatever is installed (the local backend's worker processes inherit it too)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))

    nb = _read(name)
    before = sorted(p.name for p in NOTEBOOKS.iterdir())
    started = time.perf_counter()
    client = NotebookClient(nb, timeout=600, startup_timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError, with the traceback, when a cell fails
    elapsed = time.perf_counter() - started
    print(f"\n{name}: {elapsed:.1f} s")

    def text_of(cell: Any) -> str:
        parts = []
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"{name}: {output.get('ename')}: {output.get('evalue')}"
            if output.output_type == "stream":
                parts.append(output.text)
            elif output.output_type in ("execute_result", "display_data"):
                parts.append(output.get("data", {}).get("text/plain", ""))
        return "".join(parts)

    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [text_of(c) for c in code]
    assert "OFFLINE" in outputs[0] or "offline" in outputs[0], outputs[0]
    result = [line for line in outputs[-1].splitlines() if line.startswith("RESULT:")]
    assert result, f"{name}: the last cell printed no RESULT line:\n{outputs[-1]}"
    print(result[0])
    assert sorted(p.name for p in NOTEBOOKS.iterdir()) == before, "the notebook wrote into notebooks/"
    left = sorted(p.name for p in scratch.glob("finetune-sdk-nb*"))
    assert not left, f"{name} left its scratch folder behind: {left}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(n for n in CASES if n[:2] in AWS_NOTEBOOKS))
def test_with_credentials_the_setup_cell_targets_the_real_account(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Without FINETUNE_SDK_OFFLINE and with (fake) credentials, the first cell builds real backends from the
    environment, sending nothing; without the role and output location it stops with what to set."""
    pytest.importorskip("nbclient")
    pytest.importorskip("moto")
    if CASES[name][0]:
        monkeypatch.setenv("FINETUNE_SDK_SHARED_DATASETS", str(request.getfixturevalue("shared_datasets")))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the refused second setup leaves its scratch folder here
    monkeypatch.setenv("FINETUNE_SDK_ROLE_ARN", "arn:aws:iam::123456789012:role/finetune")
    monkeypatch.setenv("FINETUNE_SDK_OUTPUT_URI", "s3://my-bucket/finetune")
    monkeypatch.setenv("FINETUNE_SDK_LOGS_URI", "s3://my-bucket/bedrock-logs")
    import nbformat
    from nbclient import NotebookClient

    nb = _read(name)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    probe = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(setup.source),
        nbformat.v4.new_code_cell("stack.close()\ndel os.environ['FINETUNE_SDK_ROLE_ARN']"),
        nbformat.v4.new_code_cell(setup.source),
    ])
    NotebookClient(probe, timeout=120, startup_timeout=180, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    real, _, missing = probe.cells
    printed = "".join(o.get("text", "") for o in real.outputs if o.output_type == "stream")
    assert not [o for o in real.outputs if o.output_type == "error"], real.outputs
    assert "REAL AWS" in printed and "OFFLINE" not in printed, printed
    (error,) = [o for o in missing.outputs if o.output_type == "error"]
    assert error.ename == "RuntimeError" and "set FINETUNE_SDK_ROLE_ARN" in error.evalue, error.evalue
