"""The one place where the CLI checks AWS credentials and Region before a cloud command does any work.

A command opts in with :func:`add_cloud_options` (``--region`` and ``--profile``); ``main`` then calls
:func:`preflight` before the command runs. For the ``bedrock`` and ``sagemaker`` backends the check builds
the ``boto3.Session`` the command will use and, when the profile, the Region or the credentials are
missing, raises :class:`CloudSetupError` (exit 2) whose message names the command-line fix
(``--profile``, ``--region``, ``aws configure``). It reads local configuration only (environment, shared
files, the instance metadata service with a short timeout), so a missing setup fails in well under a
second, before any file is read or any request is sent.

Messages here speak in flags: the API's own errors talk about ``region=`` and ``session=`` arguments, which
mean nothing to someone at a shell prompt.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from finetune_sdk.errors import ConfigurationError

__all__ = [
    "CLOUD_BACKENDS",
    "CloudSetupError",
    "add_cloud_options",
    "backend_name",
    "cli_credential_hint",
    "preflight",
    "session_options",
]

#: backends whose commands need AWS credentials and a Region
CLOUD_BACKENDS = frozenset({"bedrock", "sagemaker"})

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d{1,2}$")

#: service error codes that mean "these credentials are not usable", not "you may not do this"
_BAD_CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
    }
)


class CloudSetupError(ConfigurationError):
    """The command cannot reach AWS as configured (profile, Region or credentials); exit code 2."""


def add_cloud_options(parser: argparse.ArgumentParser, *, default_backend: str) -> None:
    """Add ``--region`` and ``--profile`` and mark the command for :func:`preflight`.

    ``default_backend`` is the backend used when neither ``--backend`` nor ``$FINETUNE_SDK_BACKEND`` names
    one (``bedrock`` for ``jobs``/``models``, ``local`` for ``eval``/``distill``).
    """
    parser.add_argument(
        "--region",
        default=None,
        help="AWS Region for the bedrock/sagemaker backends (default: $AWS_REGION, then the profile's)",
    )
    parser.add_argument(
        "--profile",
        default=None,
        metavar="NAME",
        help="AWS profile from ~/.aws/config for the bedrock/sagemaker backends (default: $AWS_PROFILE)",
    )
    parser.set_defaults(cloud_default_backend=default_backend, aws_session=None)


def backend_name(args: argparse.Namespace) -> str:
    """The backend a command will use: ``--backend``, else ``$FINETUNE_SDK_BACKEND``, else its default."""
    return str(
        getattr(args, "backend", None)
        or os.environ.get("FINETUNE_SDK_BACKEND")
        or getattr(args, "cloud_default_backend", None)
        or "bedrock"
    )


def _setup_hint(profile: str | None) -> str:
    if profile:
        return (
            f"run `aws configure --profile {profile}` (or `aws sso login --profile {profile}`), "
            "or pass another --profile"
        )
    return (
        "pass --profile NAME (a profile in ~/.aws/config), run `aws configure` (or `aws sso login`), "
        "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )


def preflight(args: argparse.Namespace) -> None:
    """Check the profile, Region and credentials of a cloud command; store the session on ``args``.

    Does nothing for backends outside :data:`CLOUD_BACKENDS` (``local``, third-party ones), except refuse
    ``--profile``, which only AWS backends use.

    Raises:
        CloudSetupError: an unknown ``--profile``, no Region or a malformed ``--region``, no credentials,
            or credentials that cannot be loaded (expired SSO token, broken profile). The message says
            which flag or command fixes it.
    """
    name = backend_name(args)
    profile: str | None = getattr(args, "profile", None)
    region: str | None = getattr(args, "region", None)
    if name not in CLOUD_BACKENDS:
        if profile:
            raise CloudSetupError(
                f"--profile applies to --backend bedrock or sagemaker, not {name!r}; drop --profile"
            )
        return
    if region is not None and not _REGION.match(region):
        raise CloudSetupError(
            f"--region {region!r} is not an AWS Region name; pass one such as --region us-east-1"
        )

    import boto3
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as exc:
        raise CloudSetupError(
            f"--profile {profile}: no such profile in ~/.aws/config or ~/.aws/credentials; list them with "
            f"`aws configure list-profiles` or create it with `aws configure --profile {profile}`"
        ) from exc
    if not session.region_name:
        where = f" and profile {profile!r} sets none" if profile else ""
        raise CloudSetupError(
            f"the {name} backend needs an AWS Region{where}: pass --region us-east-1 (or another), "
            "set AWS_REGION, or run `aws configure`"
        )
    try:
        frozen = _frozen_credentials(session)
    except BotoCoreError as exc:
        raise CloudSetupError(
            f"the AWS credentials for the {name} backend could not be loaded ({exc}); {_setup_hint(profile)}"
        ) from exc
    if frozen is None or not frozen.access_key or not frozen.secret_key:
        raise CloudSetupError(f"no AWS credentials found for the {name} backend: {_setup_hint(profile)}")
    args.aws_session = session


#: credential providers that ask a server on the network (EC2 instance metadata, ECS/EKS container agent)
_REMOTE_PROVIDERS = frozenset({"iam-role", "container-role"})
#: how long those may take before the check gives up: on EC2 or in a container they answer in milliseconds
_REMOTE_DEADLINE_S = 0.8


def _frozen_credentials(session: Any) -> Any:
    """The session's credentials, frozen, or ``None``; the network-backed providers get a short deadline.

    Local sources (environment, shared files, SSO cache, ``credential_process``, assume-role) are tried
    first as botocore orders them. Only when none has credentials are the instance-metadata and container
    providers asked, in a daemon thread that is abandoned after :data:`_REMOTE_DEADLINE_S`: off EC2 the
    metadata address can hang for seconds, and a missing setup must fail in under one.
    """
    import threading

    core = session._session  # the botocore session boto3 wraps
    try:
        providers = list(core.get_component("credential_provider").providers)
    except (AttributeError, LookupError):  # pragma: no cover - a botocore without the resolver API
        credentials = session.get_credentials()
        return credentials.get_frozen_credentials() if credentials is not None else None
    remote = [p for p in providers if getattr(p, "METHOD", "") in _REMOTE_PROVIDERS]
    for provider in providers:
        if provider in remote:
            continue
        credentials = provider.load()
        if credentials is not None:
            return credentials.get_frozen_credentials()
    found: list[Any] = []

    def ask_remote() -> None:
        for provider in remote:
            try:
                credentials = provider.load()
            except Exception:  # an unreachable metadata server just means "none here"
                continue
            if credentials is not None:
                found.append(credentials.get_frozen_credentials())
                return

    worker = threading.Thread(target=ask_remote, name="finetune-cli-credentials", daemon=True)
    worker.start()
    worker.join(_REMOTE_DEADLINE_S)
    return found[0] if found else None


def cli_credential_hint(exc: BaseException, args: argparse.Namespace) -> str | None:
    """A flag-speaking message when the service rejected the credentials themselves, else ``None``.

    Credentials that exist but are expired or unknown to AWS pass :func:`preflight` (it sends nothing);
    the first request then fails with one of these codes, and the CLI answers with exit code 2 and the fix.
    """
    code = getattr(exc, "code", None)
    if code not in _BAD_CREDENTIAL_CODES:
        return None
    profile: str | None = getattr(args, "profile", None)
    return f"AWS rejected the credentials ({code}): {_setup_hint(profile)}"


def session_options(args: argparse.Namespace) -> dict[str, Any]:
    """Constructor options for the backend: the checked session for AWS backends, else ``region=``."""
    session = getattr(args, "aws_session", None)
    if session is not None and backend_name(args) in CLOUD_BACKENDS:
        return {"session": session}
    region = getattr(args, "region", None)
    return {"region": region} if region is not None else {}
