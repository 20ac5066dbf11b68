"""The one session and client factory for AWS calls.

:class:`AwsClients` makes (and caches) boto3 clients from one session (or profile), Region and endpoint URLs
(VPC endpoints, moto server, the Bedrock emulation), with the SDK's user agent ``finetune-sdk/<version>`` and
botocore's own retries turned off: every retry happens in :func:`finetune_sdk._aws.retry.call_with_retries`,
where it is logged, bounded per error kind, and timed by the SDK clock. Nothing here imports boto3 or botocore
at module import time.

Examples:
    >>> clients = AwsClients(region="eu-west-1", backend="bedrock", endpoint_urls={"s3": "http://127.0.0.1:5000"})
    >>> clients.region, clients.endpoint_for("s3"), clients.endpoint_for("bedrock") is None
    ('eu-west-1', 'http://127.0.0.1:5000', True)
    >>> clients.user_agent.startswith("finetune-sdk/")
    True
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from finetune_sdk._version import __version__
from finetune_sdk.errors import ConfigurationError

__all__ = ["USER_AGENT", "AwsClients"]

#: appended to botocore's user agent on every client the SDK makes
USER_AGENT = f"finetune-sdk/{__version__}"

#: read timeouts (seconds) per service; model inference can take minutes
_READ_TIMEOUTS = {"bedrock-runtime": 300, "sagemaker-runtime": 300}


class AwsClients:
    """Lazily created, cached boto3 clients that share one session, Region and endpoint URLs.

    Args:
        session: a ``boto3.Session``; a new one is made on first use when ``None`` (from ``profile``).
        region: the Region; ``None`` uses the session's (``AWS_DEFAULT_REGION``, profile...).
        profile: a named profile of the shared AWS config, used when no ``session`` is given.
        endpoint_url: send every call to this URL (moto server, LocalStack); ``None`` for AWS.
        endpoint_urls: per-service endpoints (``{"bedrock-runtime": ...}``), over ``endpoint_url``.
        backend: the backend name, for messages.
        user_agent: appended to botocore's user agent.
        max_attempts: botocore's own attempts per call (1: the SDK's retry policy does all retrying).

    Raises (on first use):
        ConfigurationError: no Region could be resolved.
    """

    def __init__(
        self,
        *,
        session: Any | None = None,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        endpoint_urls: Mapping[str, str | None] | None = None,
        backend: str = "aws",
        user_agent: str = USER_AGENT,
        max_attempts: int = 1,
    ) -> None:
        self._session = session
        self._region = region
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.endpoint_urls = dict(endpoint_urls or {})
        self.backend = backend
        self.user_agent = user_agent
        self.max_attempts = max_attempts
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def session(self) -> Any:
        """The ``boto3.Session`` (created on first use)."""
        if self._session is None:
            import boto3

            kwargs: dict[str, Any] = {}
            if self._region:
                kwargs["region_name"] = self._region
            if self.profile:
                kwargs["profile_name"] = self.profile
            self._session = boto3.Session(**kwargs)
        return self._session

    @property
    def region_or_none(self) -> str | None:
        """The configured Region, or ``None`` when neither the caller nor the session has one."""
        if self._region:
            return self._region
        region = self.session.region_name
        return str(region) if region else None

    @property
    def region(self) -> str:
        """The Region calls go to.

        Raises:
            ConfigurationError: no Region is configured.
        """
        region = self.region_or_none
        if not region:
            raise ConfigurationError(
                f"no AWS Region for the {self.backend} backend: pass region='us-east-1' (or another) to "
                f"backends.get({self.backend!r}, ...), use a session with a Region, or set AWS_DEFAULT_REGION"
            )
        self._region = region
        return region

    def endpoint_for(self, service: str) -> str | None:
        """The endpoint URL calls to ``service`` go to (``None``: AWS's own)."""
        return self.endpoint_urls.get(service) or self.endpoint_url

    def client(self, service: str) -> Any:
        """The cached boto3 client for ``service`` (``"sagemaker"``, ``"s3"``, ``"logs"``...).

        Raises:
            ConfigurationError: no Region is configured.
        """
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                from botocore.config import Config

                config = Config(
                    user_agent_extra=self.user_agent,
                    retries={"total_max_attempts": self.max_attempts, "mode": "standard"},
                    connect_timeout=10,
                    read_timeout=_READ_TIMEOUTS.get(service, 60),
                )
                client = self.session.client(
                    service, region_name=self.region, endpoint_url=self.endpoint_for(service), config=config
                )
                self._clients[service] = client
            return client
