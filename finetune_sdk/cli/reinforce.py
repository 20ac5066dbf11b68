"""``finetune reinforce``: reinforcement fine-tuning from one reward function (issue 17).

The reward is ``MODULE:NAME`` (an importable module or a ``.py`` file) naming a ``@reward`` function. The
command validates the RFT prompts (``--train``, OpenAI chat + ``reference_answer``), verifies the reward on them
(and on ``--completions``, e.g. the base model's answers), can write the grader zip (``--zip``), then either
stops (``--verify-only``), prints the Bedrock request it would send (``--dry-run``), trains locally with GRPO
(``--backend local --base-model FOLDER``) or submits the job (``Job.reinforce``). Exit codes: 0 success, 1 the
data has errors, the reward has warnings with ``--strict``, or the job failed; 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["load_reward", "register", "run"]

EXAMPLES = """examples:
  finetune reinforce --reward my_rewards.py:answer_letter --train rft.jsonl --verify-only
  finetune reinforce --reward my_rewards:answer_letter --train rft.jsonl --completions base.jsonl --zip grader.zip
  finetune reinforce --reward my_rewards:answer_letter --train rft.jsonl --backend bedrock \\
      --grader-role-arn arn:aws:iam::123456789012:role/Grader --output-uri s3://bucket/rft --hp epochCount=2 --dry-run
  finetune reinforce --reward my_rewards:answer_letter --train rft.jsonl --backend local \\
      --base-model ./tiny --output-dir grpo-run --max-steps 30 --learning-rate 0.01 --json
"""


def load_reward(spec: str) -> Any:
    """The ``RewardFunction`` named by ``MODULE:NAME`` or ``path/to/file.py:NAME``.

    Raises:
        argparse.ArgumentTypeError: not of that shape, not importable, or not a reward function.
    """
    from finetune_sdk.reward import RewardFunction

    target, sep, name = spec.rpartition(":")
    if not sep or not target or not name:
        raise argparse.ArgumentTypeError(f"--reward takes MODULE:NAME or FILE.py:NAME, got {spec!r}")
    try:
        if target.endswith(".py"):
            path = Path(target).resolve()
            if str(path.parent) not in sys.path:
                sys.path.insert(0, str(path.parent))  # so the zip finds the module by name
            module = importlib.import_module(path.stem)
        else:
            module = importlib.import_module(target)
    except ImportError as exc:
        raise argparse.ArgumentTypeError(f"cannot import {target!r} for --reward: {exc}") from exc
    value = getattr(module, name, None)
    if not isinstance(value, RewardFunction):
        raise argparse.ArgumentTypeError(
            f"{spec!r} is not a reward function; decorate it with @finetune_sdk.reward.reward"
        )
    return value


def _hp(text: str) -> tuple[str, int | float | str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"--hp takes NAME=VALUE, got {text!r}")
    for cast in (int, float):
        try:
            return key.strip(), cast(value)
        except ValueError:
            continue
    return key.strip(), value.strip()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``reinforce`` command."""
    p = subparsers.add_parser(
        "reinforce",
        help="reinforcement fine-tuning from one reward function (verify, grader zip, local GRPO, Bedrock RFT)",
        description="Validate RFT prompts, verify a @reward function on them, then train locally with GRPO or "
        "submit a Bedrock reinforcement fine-tuning job whose grader is the same function.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--reward", required=True, metavar="MODULE:NAME", help="the @reward function")
    p.add_argument("--train", required=True, metavar="PATH", help="RFT prompts (JSONL: messages + reference_answer)")
    p.add_argument("--completions", metavar="PATH", help="JSONL of {'completion': ...} per prompt (a baseline)")
    p.add_argument("--zip", type=Path, metavar="PATH", help="also write the grader Lambda zip here")
    p.add_argument("--verify-only", action="store_true", help="stop after validating and verifying")
    p.add_argument("--strict", action="store_true", help="exit 1 when the verification has warnings")
    p.add_argument("--backend", default="bedrock", help="bedrock (default) or local (GRPO with TRL)")
    p.add_argument("--model", default="amazon.nova-2-lite-v1:0:256k", help="Bedrock base model")
    p.add_argument("--region", default=None, help="AWS Region (bedrock)")
    p.add_argument("--grader-arn", default=None, metavar="ARN", help="an already deployed grader Lambda")
    p.add_argument("--grader-role-arn", default=None, metavar="ARN", help="execution role to deploy the grader")
    p.add_argument("--role-arn", default=None, help="the Bedrock job's service role")
    p.add_argument("--output-uri", default=None, metavar="S3_URI", help="where data is staged and output written")
    p.add_argument(
        "--hp",
        action="append",
        default=[],
        type=_hp,
        metavar="NAME=VALUE",
        help="RFT hyperparameter, service name (repeatable), e.g. --hp epochCount=2",
    )
    p.add_argument("--base-model", default=None, metavar="FOLDER", help="local: the Hugging Face model to train")
    p.add_argument("--output-dir", type=Path, default=Path("grpo-run"), help="local: the run folder")
    p.add_argument("--max-steps", type=int, default=50, help="local: GRPO steps")
    p.add_argument("--learning-rate", type=float, default=1e-5, help="local: learning rate")
    p.add_argument("--dry-run", action="store_true", help="bedrock: print the request; deploy and send nothing")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _emit(args: argparse.Namespace, result: dict[str, Any], lines: list[str]) -> None:
    if args.json:
        print(json.dumps(result, indent=2, default=str, ensure_ascii=False))
    else:
        print("\n".join(lines))


def run(args: argparse.Namespace) -> int:
    """Run ``finetune reinforce``; returns the exit code."""
    from finetune_sdk.data import Dataset

    try:
        reward = load_reward(args.reward)
    except argparse.ArgumentTypeError as exc:
        print(f"finetune reinforce: error: {exc}", file=sys.stderr)
        return 2
    data = Dataset.from_jsonl(args.train)
    report = data.validate(purpose="reinforcement")
    result: dict[str, Any] = {"validation": json.loads(report.to_json())}
    lines = [report.to_text()]
    if not report.ok:
        _emit(args, result, lines)
        return 1
    rows = [r for r in (json.loads(x) for x in Path(args.train).read_text(encoding="utf-8").splitlines() if x.strip())]
    completions = None
    if args.completions:
        given = [json.loads(x) for x in Path(args.completions).read_text(encoding="utf-8").splitlines() if x.strip()]
        completions = [str(c.get("completion", "")) if isinstance(c, dict) else str(c) for c in given]
    verification = reward.verify(rows, completions)
    result["verification"] = json.loads(verification.model_dump_json())
    lines.append(verification.to_text())
    if args.zip is not None:
        bundle = reward.to_lambda_zip(args.zip)
        result["zip"] = json.loads(bundle.model_dump_json())
        lines.append(f"grader zip: {bundle.path} ({bundle.size} bytes, CodeSha256 {bundle.code_sha256})")
    if args.verify_only or (args.strict and not verification.ok):
        _emit(args, result, lines)
        return 1 if args.strict and not verification.ok else 0
    hp = dict(args.hp)
    if args.backend == "local":
        if not args.base_model:
            print("finetune reinforce: error: --backend local needs --base-model FOLDER", file=sys.stderr)
            return 2
        from finetune_sdk.reward import GRPOSettings, train_grpo

        run_ = train_grpo(
            reward,
            args.base_model,
            rows,
            output_dir=args.output_dir,
            settings=GRPOSettings(max_steps=args.max_steps, learning_rate=args.learning_rate),
        )
        result["grpo"] = json.loads(run_.model_dump_json())
        lines.append(
            f"GRPO: {run_.steps} steps, model in {run_.model_dir}, rewards {run_.rewards[:1]} -> {run_.rewards[-1:]}"
        )
        _emit(args, result, lines)
        return 0
    if args.dry_run:
        from finetune_sdk.backends.bedrock._rft import rft_job_request

        request = rft_job_request(
            job_name="rft-dry-run",
            custom_model_name="rft-dry-run-model",
            role_arn=args.role_arn or "arn:aws:iam::123456789012:role/BedrockRFT",
            training_uri=f"{(args.output_uri or 's3://bucket/rft').rstrip('/')}/data/train.jsonl",
            output_uri=args.output_uri or "s3://bucket/rft",
            lambda_arn=args.grader_arn or "arn:aws:lambda:us-east-1:123456789012:function:grader",
            base_model=args.model,
            hyperparameters=hp,
        )
        result["request"] = request
        lines.append(json.dumps(request, indent=2))
        _emit(args, result, lines)
        return 0
    from finetune_sdk import backends
    from finetune_sdk.jobs import Job

    options: dict[str, Any] = {"region": args.region} if args.region else {}
    job = Job.reinforce(
        model=args.model,
        train=rows,
        reward=reward,
        grader_arn=args.grader_arn,
        grader_role_arn=args.grader_role_arn,
        hyperparameters=hp,
        backend=backends.get(args.backend, **options),
        role_arn=args.role_arn,
        output_uri=args.output_uri,
    )
    result["job"] = {"id": job.id, "name": job.name, "status": job.status.value}
    lines.append(f"submitted {job.name} ({job.id}): {job.status.value}")
    _emit(args, result, lines)
    return 0
