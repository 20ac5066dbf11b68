from __future__ import annotations

import json
from pathlib import Path

from finetune_sdk import Dataset, MetadataFilter


def _entry(i: int, project: str) -> dict[str, object]:
    return {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": f"2026-11-01T10:00:{i:02d}Z",
        "accountId": "123456789012",
        "region": "us-east-1",
        "requestId": f"req-{i}",
        "operation": "Converse",
        "modelId": "amazon.nova-pro-v1:0",
        "input": {
            "inputContentType": "application/json",
            "inputBodyJson": {"messages": [{"role": "user", "content": [{"text": f"question {i}"}]}]},
            "inputTokenCount": 3,
        },
        "output": {
            "outputContentType": "application/json",
            "outputBodyJson": {"output": {"message": {"role": "assistant", "content": [{"text": f"answer {i}"}]}}},
            "outputTokenCount": 2,
        },
        "requestMetadata": {"project": project},
    }


def test_from_invocation_logs_reads_a_folder_filters_and_keeps_the_report(tmp_path: Path) -> None:
    folder = tmp_path / "AWSLogs" / "123456789012" / "BedrockModelInvocationLogs" / "us-east-1" / "2026" / "11" / "01"
    folder.mkdir(parents=True)
    lines = [json.dumps(_entry(i, "faq" if i % 2 else "other")) for i in range(6)]
    (folder / "log.json").write_text("\n".join(lines) + "\n")

    ds = Dataset.from_invocation_logs(str(tmp_path), metadata_filter=MetadataFilter(equals={"project": "faq"}))
    assert [r.prompt_text for r in ds] == ["question 1", "question 3", "question 5"]
    assert all(r.reference is None for r in ds)  # prompts only unless use_responses=True
    assert ds.last_report is not None

    with_answers = Dataset.from_invocation_logs(str(tmp_path), use_responses=True, model_id="amazon.nova-pro-v1:0")
    assert len(with_answers) == 6 and with_answers[0].reference == "answer 0"
