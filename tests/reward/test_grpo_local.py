"""Local GRPO through TRL on the same reward function; measured on held-out prompts with the Evaluator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rft_rewards import letter_share

from finetune_sdk.errors import DataError
from finetune_sdk.reward import GRPOSettings


def test_settings_check_batch_shape() -> None:
    with pytest.raises(ValueError, match="multiple of num_generations"):
        GRPOSettings(batch_size=10, num_generations=4)
    assert GRPOSettings(batch_size=16, num_generations=8).max_steps == 50


def _prompts(start: int, n: int) -> list[dict[str, object]]:
    return [
        {"messages": [{"role": "user", "content": f"Question {i}: which option?"}], "reference_answer": "A"}
        for i in range(start, start + n)
    ]


@pytest.mark.slow
@pytest.mark.local
def test_grpo_improves_mean_reward_on_held_out_prompts(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    from finetune_sdk.evaluation import Evaluator
    from finetune_sdk.reward import local_generator, train_grpo
    from finetune_sdk.training import build_tiny_model

    base = build_tiny_model(tmp_path / "base", hidden_size=64, layers=2, heads=4)
    settings = GRPOSettings(
        max_steps=30, learning_rate=1e-2, num_generations=8, batch_size=16, max_completion_length=4, save_steps=15
    )
    with pytest.raises(DataError, match="needs at least 2"):
        train_grpo(letter_share, base, _prompts(0, 1), output_dir=tmp_path / "x", settings=settings)
    result = train_grpo(letter_share, base, _prompts(0, 64), output_dir=tmp_path / "run", settings=settings)
    assert result.steps == 30 and len(result.checkpoints) == 2
    assert (Path(result.model_dir) / "config.json").is_file()
    logged = [json.loads(line) for line in Path(result.metrics_path).read_text().splitlines()]
    assert len([m for m in logged if "reward" in m]) == 30
    rewards = result.rewards
    assert sum(rewards[-5:]) / 5 > sum(rewards[:5]) / 5 + 0.3, rewards

    from finetune_sdk.data import Dataset

    held_out = Dataset.from_records(_prompts(1000, 24)).records  # numbers never seen in training
    evaluator = Evaluator(metrics=[letter_share], progress=False)
    before = evaluator.evaluate(local_generator(base, max_new_tokens=4, temperature=1.0), held_out)
    after = evaluator.evaluate(local_generator(result.model_dir, max_new_tokens=4, temperature=1.0), held_out)
    base_mean, tuned_mean = before.mean("letter_share"), after.mean("letter_share")
    print(f"GRPO held-out mean reward: base {base_mean:.3f} -> tuned {tuned_mean:.3f} ({result.runtime_s:.1f}s)")
    assert base_mean is not None and tuned_mean is not None
    assert tuned_mean > base_mean + 0.3

    # resume: continue from the last checkpoint to a higher total
    more = train_grpo(
        letter_share,
        base,
        _prompts(0, 64),
        output_dir=tmp_path / "run",
        settings=settings.model_copy(update={"max_steps": 34}),
        resume=True,
    )
    assert more.steps == 34
