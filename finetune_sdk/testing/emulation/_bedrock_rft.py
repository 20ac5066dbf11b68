"""Bedrock reinforcement fine-tuning in the emulation (issue 17).

A ``REINFORCEMENT_FINE_TUNING`` job is accepted for the RFT base models with an ``rftConfig`` grader; when it
finishes, the emulation reads the training prompts (the RFT data rules, 100 to 20,000 prompts), makes emulated
rollouts per prompt (the reference answer, a wrong answer, an empty answer, mixed by step so the policy
"improves"), sends them to the grader in the documented batch shape and checks the answer's shape, like the
real service. The grader is the Lambda function deployed in the emulated account (its zip is unpacked and run
in a fresh interpreter without site-packages, as Lambda would) or a handler registered with
:meth:`register_grader`. The rewards are written to ``training_artifacts/reward_metrics.csv`` beside the
usual loss curve (the real layout is unverified).
"""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["RFT_MODELS", "RftMixin"]

RFT_MODELS: tuple[str, ...] = ("amazon.nova-2-lite-v1:0:256k",)
_ROLLOUTS_PER_PROMPT = 4
_STEPS = 5
_PROMPTS_PER_STEP = 8

Grader = Callable[[Any, Any], Any]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


class RftMixin:
    """Mixed into the Bedrock emulation's job handlers."""

    _rft_graders: dict[str, Grader]

    def register_grader(self, lambda_arn: str, handler: Grader) -> None:
        """Answer grader calls for ``lambda_arn`` with ``handler(event, context)`` in process (instead of the
        function deployed in the emulated account)."""
        if not hasattr(self, "_rft_graders"):
            self._rft_graders = {}
        self._rft_graders[lambda_arn] = handler

    # --- request checks -------------------------------------------------------------------------------------
    @staticmethod
    def rft_request_problem(p: Mapping[str, Any], ctype: str) -> str | None:
        """What the service would say about an RFT request (``None``: fine)."""
        config = p.get("customizationConfig") or {}
        if ctype != "REINFORCEMENT_FINE_TUNING":
            return (
                f"rftConfig is only valid for REINFORCEMENT_FINE_TUNING jobs, not {ctype}."
                if "rftConfig" in config
                else None
            )
        if p.get("baseModelIdentifier") not in RFT_MODELS and not str(p.get("baseModelIdentifier", "")).endswith(
            tuple(f"/{m}" for m in RFT_MODELS)
        ):
            return f"The model {p.get('baseModelIdentifier')} does not support customization type {ctype}."
        rft = config.get("rftConfig")
        if not isinstance(rft, Mapping) or not ((rft.get("graderConfig") or {}).get("lambdaGrader") or {}).get(
            "lambdaArn"
        ):
            return "A REINFORCEMENT_FINE_TUNING job needs customizationConfig.rftConfig.graderConfig.lambdaGrader."
        if p.get("hyperParameters"):
            return "REINFORCEMENT_FINE_TUNING takes its hyperparameters in rftConfig.hyperParameters."
        if "invocationLogsConfig" in (p.get("trainingDataConfig") or {}):
            return "invocationLogsConfig training data is only valid for DISTILLATION jobs."
        return None

    # --- the run --------------------------------------------------------------------------------------------
    def rft_check_lines(self, data: bytes) -> tuple[str | None, list[dict[str, Any]]]:
        """The first data problem (``None``: fine) and the prompt lines."""
        from finetune_sdk.data._rft_rules import MAX_PROMPTS, MIN_PROMPTS, line_problems

        lines: list[dict[str, Any]] = []
        for number, raw in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError:
                return f"Input data line {number} is not valid JSON.", []
            errors = [p for p in line_problems(obj) if p[2] == "error"]
            if errors:
                path, _, _, message, _ = errors[0]
                return f"Input data must follow the RFT (OpenAI chat) format: line {number}: {path}: {message}.", []
            lines.append(obj)
        if not MIN_PROMPTS <= len(lines) <= MAX_PROMPTS:
            return f"The training data has {len(lines)} prompts; RFT takes {MIN_PROMPTS} to {MAX_PROMPTS}.", []
        return None, lines

    def _grader_for(self, arn: str) -> Grader | str:
        graders: dict[str, Grader] = getattr(self, "_rft_graders", {})
        registered = graders.get(arn)
        if registered is not None:
            return registered
        try:
            from moto.awslambda.models import lambda_backends
        except ImportError:  # pragma: no cover - moto is what the emulation runs on
            return f"The grader {arn} cannot be reached."
        parts = arn.split(":")
        region, account = parts[3], parts[4]
        try:
            fn = lambda_backends[account][region].get_function(arn)
        except Exception:
            return f"Bedrock could not invoke the grader Lambda {arn}: the function does not exist."
        code: bytes = fn.code_bytes
        handler = str(getattr(fn, "handler", "lambda_function.lambda_handler"))

        def run(event: Any, context: Any) -> Any:
            module, func = handler.rsplit(".", 1)
            with tempfile.TemporaryDirectory(prefix="emulated-grader-") as tmp:
                with zipfile.ZipFile(io.BytesIO(code)) as zf:
                    zf.extractall(tmp)
                script = (
                    "import json, sys; sys.path.insert(0, sys.argv[1]); "
                    f"import {module} as m; print(json.dumps(m.{func}(json.loads(sys.stdin.read()), None)))"
                )
                done = subprocess.run(
                    [sys.executable, "-I", "-S", "-c", script, tmp],
                    input=json.dumps(event),
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
            if done.returncode != 0:
                raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "grader failed")
            return json.loads(done.stdout)

        return run

    def rft_rewards(
        self, arn: str, lines: Sequence[Mapping[str, Any]]
    ) -> tuple[str | None, list[tuple[int, float, float]]]:
        """Run the grader on emulated rollouts: ``(problem, [(step, mean reward, reward std)])``."""
        grader = self._grader_for(arn)
        if isinstance(grader, str):
            return grader, []
        rows: list[tuple[int, float, float]] = []
        for step in range(_STEPS):
            batch: list[dict[str, Any]] = []
            for j in range(_PROMPTS_PER_STEP):
                line = lines[(step * _PROMPTS_PER_STEP + j) % len(lines)]
                ref = line.get("reference_answer", (line.get("metadata") or {}).get("reference_answer"))
                right = _text(ref) if ref is not None else "42"
                for k in range(_ROLLOUTS_PER_PROMPT):
                    answer = (
                        right
                        if (k + step + j) % _ROLLOUTS_PER_PROMPT <= step * 3 // _STEPS
                        else ["", "I do not know."][k % 2]
                    )
                    sample = {key: value for key, value in line.items() if key != "messages"}
                    sample["id"] = f"{line.get('id', j)}-s{step}-r{k}"
                    sample["messages"] = [*line.get("messages", []), {"role": "assistant", "content": answer}]
                    batch.append(sample)
            try:
                answer_list = grader(batch, None)
            except Exception as exc:
                return f"The grader Lambda {arn} failed: {exc}", []
            problem = _answer_problem(batch, answer_list)
            if problem:
                return f"The grader Lambda {arn} returned an invalid response: {problem}", []
            scores = [float(a["aggregate_reward_score"]) for a in answer_list]
            mean = sum(scores) / len(scores)
            std = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
            rows.append((step, round(mean, 6), round(std, 6)))
        return None, rows

    @staticmethod
    def rft_metrics_csv(rows: Sequence[tuple[int, float, float]]) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("step_number", "reward_mean", "reward_std"))
        writer.writerows(rows)
        return out.getvalue().encode()


def _answer_problem(batch: Sequence[Mapping[str, Any]], answer: Any) -> str | None:
    """What AWS's verifiers would reject in a grader answer (``None``: the documented shape)."""
    if not isinstance(answer, list) or len(answer) != len(batch):
        return f"expected a list of {len(batch)} results"
    for sent, got in zip(batch, answer, strict=True):
        if not isinstance(got, Mapping) or got.get("id") != sent["id"]:
            return f"result for sample {sent['id']} is missing or out of order"
        score = got.get("aggregate_reward_score")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            return f"aggregate_reward_score of {sent['id']} is not a finite number"
        for metric in got.get("metrics_list", []) or []:
            if (
                not isinstance(metric, Mapping)
                or set(metric) - {"name", "value", "type"}
                or metric.get("type")
                not in (
                    "Reward",
                    "Metric",
                )
            ):
                return f"metrics_list of {sent['id']} has an entry that is not {{name, value, type: Reward|Metric}}"
    return None
