"""``finetune models``: list, deploy, invoke and delete models (and remove deployments).

Commands use the :class:`finetune_sdk.models.Model` and ``Deployment`` handles (``--backend``, default
``$FINETUNE_SDK_BACKEND``, else ``bedrock``). A deployment is billed until it is removed, so ``deploy`` prints
the ``undeploy`` command to run afterwards. Exit codes: 0 success, 1 the service refused, 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from finetune_sdk.cli._resources import (
    add_backend_options,
    backend_from,
    parse_pairs,
    print_json,
    print_table,
    usage_error,
)

__all__ = ["register"]

EXAMPLES = """examples:
  finetune models list
  finetune models list --customizable
  finetune models invoke us.amazon.nova-micro-v1:0 "What is 2+2?" --max-tokens 20
  finetune models deploy arn:aws:bedrock:us-east-1:123456789012:custom-model/... --max-hourly-cost 25
  finetune models invoke arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123def456 "Hello"
  finetune models undeploy arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123def456
  finetune models delete arn:aws:bedrock:us-east-1:123456789012:custom-model/... --yes
"""

#: id fragments of deployments (invoked through the Deployment handle, not Model)
_DEPLOYMENT_MARKERS = (":provisioned-model/", ":custom-model-deployment/", ":endpoint/")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``models`` command group."""
    models = subparsers.add_parser(
        "models",
        help="list, deploy, invoke and delete models",
        description="Models on any backend: foundation, customised and imported; deployments.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = models.add_subparsers(dest="models_command", metavar="COMMAND")
    models.set_defaults(func=lambda args: _help(models))

    listing = sub.add_parser("list", help="customised and imported models, newest first")
    listing.add_argument("--limit", type=int, default=100, metavar="N", help="at most N models (default 100)")
    listing.add_argument(
        "--customizable",
        action="store_true",
        help="list the catalog's base models AWS customises, with what finetune_sdk supports (no backend call)",
    )
    add_backend_options(listing)
    listing.set_defaults(func=_list)

    deploy = sub.add_parser("deploy", help="make a model invocable (billed until undeployed)")
    deploy.add_argument("model_id", metavar="MODEL", help="model id, ARN or name")
    deploy.add_argument("--name", help="deployment name (default: <model>-deployment)")
    deploy.add_argument("--kind", help="provisioned | on-demand (Bedrock), endpoint (SageMaker)")
    deploy.add_argument("--model-units", type=int, default=1, metavar="N", help="model units (default 1)")
    deploy.add_argument("--commitment", choices=["OneMonth", "SixMonths"], help="Bedrock PT commitment")
    deploy.add_argument("--instance-type", help="instance type (SageMaker)")
    deploy.add_argument("--max-hourly-cost", type=float, metavar="USD", help="refuse above this hourly cost")
    deploy.add_argument("--tag", action="append", metavar="KEY=VALUE", help="tag (repeatable)")
    deploy.add_argument("--no-wait", action="store_true", help="return once creation has started")
    deploy.add_argument(
        "--timeout", type=float, metavar="SECONDS",
        help="give up waiting after this (the deployment is deleted unless --keep-on-failure)",
    )
    deploy.add_argument(
        "--keep-on-failure", action="store_true",
        help="keep (and keep paying for) a deployment whose wait is interrupted, times out or fails",
    )
    add_backend_options(deploy)
    deploy.set_defaults(func=_deploy)

    invoke = sub.add_parser("invoke", help="send one prompt to a model or deployment")
    invoke.add_argument("model_id", metavar="MODEL", help="model id, ARN, name, or deployment ARN")
    invoke.add_argument("prompt", help="the user message")
    invoke.add_argument("--system", help="system prompt")
    invoke.add_argument(
        "--max-tokens", type=int, default=512, metavar="N", help="max output tokens (default 512)"
    )
    invoke.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0)")
    invoke.add_argument("--deployment", action="store_true", help="MODEL is a deployment id")
    add_backend_options(invoke)
    invoke.set_defaults(func=_invoke)

    undeploy = sub.add_parser("undeploy", help="delete a deployment (stops its billing)")
    undeploy.add_argument("deployment_id", metavar="DEPLOYMENT", help="deployment id, ARN or name")
    add_backend_options(undeploy)
    undeploy.set_defaults(func=_undeploy)

    delete = sub.add_parser("delete", help="delete a customised or imported model")
    delete.add_argument("model_id", metavar="MODEL", help="model id, ARN or name")
    delete.add_argument("--yes", action="store_true", help="confirm the deletion (required)")
    add_backend_options(delete)
    delete.set_defaults(func=_delete)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _handles() -> Any:
    return importlib.import_module("finetune_sdk.models")


def _list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        return usage_error("--limit must be at least 1")
    if args.customizable:
        from finetune_sdk.catalog.listing import customizable_rows

        listed = customizable_rows()[: args.limit]
        if args.json:
            print_json(listed)
        else:
            print_table([list(r.values()) for r in listed], [k.upper() for k in listed[0]] if listed else [])
        return 0
    models = []
    for i, model in enumerate(_handles().Model.list(backend=backend_from(args))):
        if i >= args.limit:
            break
        models.append(model)
    if args.json:
        print_json([m.record for m in models])
    elif models:
        rows = [
            [
                m.record.name,
                m.record.kind,
                m.record.status,
                "yes" if m.record.needs_deployment else "no",
                m.record.id,
            ]
            for m in models
        ]
        print_table(rows, ["NAME", "KIND", "STATUS", "NEEDS DEPLOY", "ID"])
    else:
        print("no models")
    return 0


def _deploy(args: argparse.Namespace) -> int:
    if args.model_units < 1:
        return usage_error("--model-units must be at least 1")
    try:
        tags = parse_pairs(args.tag, what="--tag")
    except ValueError as exc:
        return usage_error(str(exc))
    kind = args.kind.replace("-", "_") if args.kind else None
    handles = _handles()
    model = handles.Model.get(args.model_id, backend=backend_from(args))
    try:
        deployment = model.deploy(
            name=args.name,
            kind=kind,
            model_units=args.model_units,
            commitment=args.commitment,
            instance_type=args.instance_type,
            wait=not args.no_wait,
            timeout=args.timeout,
            max_hourly_cost=args.max_hourly_cost,
            tags=tags or None,
            keep_on_failure=args.keep_on_failure,
        )
    except BaseException as exc:
        kept = getattr(exc, "deployment", None)
        if args.keep_on_failure and kept is not None:
            print(f"kept deployment {kept.id} (billed until removed): finetune models undeploy {kept.id} "
                  f"--backend {kept.backend.name}", file=sys.stderr)
        elif kept is not None:
            print(f"deleted deployment {kept.id}: nothing is left billing", file=sys.stderr)
        raise
    record = deployment.record
    if args.json:
        print_json(record)
        return 0
    print(f"deployment {record.name} ({record.kind}): {record.status.value}")
    print(f"invoke id  {record.invoke_id}")
    if record.hourly_cost:
        print(f"cost       about ${record.hourly_cost:,.2f}/hour until removed")
    print(f"remove it  finetune models undeploy {record.id} --backend {deployment.backend.name}")
    return 0


def _invoke(args: argparse.Namespace) -> int:
    if args.max_tokens < 1:
        return usage_error("--max-tokens must be at least 1")
    handles = _handles()
    backend = backend_from(args)
    if args.deployment or any(marker in args.model_id for marker in _DEPLOYMENT_MARKERS):
        target = handles.Deployment.get(args.model_id, backend=backend)
        response = target.chat(
            args.prompt, system=args.system, max_tokens=args.max_tokens, temperature=args.temperature
        )
    else:
        target = handles.Model.get(args.model_id, backend=backend)
        response = target.chat(
            args.prompt, system=args.system, max_tokens=args.max_tokens, temperature=args.temperature
        )
    if args.json:
        print_json(response)
        return 0
    print(response.text)
    estimated = " (estimated)" if response.tokens_estimated else ""
    print(
        f"[{response.input_tokens} in / {response.output_tokens} out tokens{estimated}, "
        f"{response.latency_s:.2f}s, stop: {response.stop_reason}]"
    )
    return 0


def _undeploy(args: argparse.Namespace) -> int:
    handles = _handles()
    deployment = handles.Deployment.get(args.deployment_id, backend=backend_from(args))
    deployment.delete()
    if args.json:
        print_json({"deleted": deployment.id})
    else:
        print(f"deleted deployment {deployment.name} ({deployment.id})")
    return 0


def _delete(args: argparse.Namespace) -> int:
    if not args.yes:
        return usage_error(f"deleting {args.model_id} cannot be undone; add --yes to confirm")
    model = _handles().Model.get(args.model_id, backend=backend_from(args))
    model.delete()
    if args.json:
        print_json({"deleted": model.id})
    else:
        print(f"deleted {model.record.kind} model {model.name} ({model.id})")
    return 0
