"""Typed options specific to the Bedrock backend, passed as ``backend_options=BedrockOptions(...)``.

Examples:
    >>> from finetune_sdk.backends.bedrock.options import BedrockOptions
    >>> options = BedrockOptions(subnet_ids=("subnet-1",), security_group_ids=("sg-1",))
    >>> options.vpc_config()
    {'subnetIds': ['subnet-1'], 'securityGroupIds': ['sg-1']}
"""

from __future__ import annotations

from typing import Any

from pydantic import model_validator

from finetune_sdk.backends.base import BackendOptions

__all__ = ["BedrockOptions"]


class BedrockOptions(BackendOptions):
    """Options the generic specs do not carry.

    Attributes:
        kms_key_id: KMS key (id, ARN or alias) that encrypts the custom or imported model.
        subnet_ids / security_group_ids: run the job inside your VPC (both or neither).
        deployment_description: description of an on-demand custom model deployment.
    """

    kms_key_id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    deployment_description: str | None = None

    @model_validator(mode="after")
    def _vpc_pair(self) -> BedrockOptions:
        if bool(self.subnet_ids) != bool(self.security_group_ids):
            raise ValueError("a VPC config needs both subnet_ids and security_group_ids")
        return self

    def vpc_config(self) -> dict[str, Any] | None:
        """The ``vpcConfig`` request member, or ``None`` when no VPC is set."""
        if not self.subnet_ids:
            return None
        return {"subnetIds": list(self.subnet_ids), "securityGroupIds": list(self.security_group_ids)}
