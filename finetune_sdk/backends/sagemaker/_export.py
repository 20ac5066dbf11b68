"""SageMaker to Bedrock: a completed job's weights into Bedrock Custom Model Import.

Private; composed into :class:`finetune_sdk.backends.sagemaker.SageMakerBackend`.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from finetune_sdk.backends.base import (
    Backend,
    ModelArtifacts,
)

if TYPE_CHECKING:
    from finetune_sdk.jobs import Job

from finetune_sdk.backends.sagemaker._base import (
    _SageMakerBase,
)

__all__: list[str] = []

logger = logging.getLogger(__name__)


class _SageMakerExport(_SageMakerBase):
    """SageMaker to Bedrock: a completed job's weights into Bedrock Custom Model Import."""

    def model_artifacts(self, job_id: str) -> ModelArtifacts:
        """Where a training job's model is (its ``output/model/`` folder, or ``model.tar.gz``), with its record."""
        d = self._describe_training_job(job_id)
        record = self._job_record(d, self._tags(str(d.get("TrainingJobArn", ""))))
        compression = str((d.get("OutputDataConfig") or {}).get("CompressionType", "GZIP"))
        return ModelArtifacts(job=record, uri=self.model_folder(d), compression=compression)

    def list_artifact_files(self, uri: str) -> list[str]:
        """The names of the objects directly inside the S3 folder ``uri``."""
        from finetune_sdk._aws.s3 import split_s3_uri

        bucket, prefix = split_s3_uri(uri)
        names: list[str] = []
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        while True:
            page = self._call("s3", "list_objects_v2", resource=uri, **params)
            for obj in page.get("Contents", []):
                rel = str(obj["Key"])[len(prefix) :]
                if rel and "/" not in rel:
                    names.append(rel)
            if not page.get("IsTruncated"):
                return names
            params["ContinuationToken"] = page["NextContinuationToken"]

    # --- Bedrock export --------------------------------------------------------------------------------
    def export_to_bedrock(
        self,
        job_id: str,
        *,
        bedrock_backend: Backend | str | None = None,
        imported_model_name: str | None = None,
        role_arn: str | None = None,
    ) -> Job:
        """Import a completed job's weights into Amazon Bedrock (Custom Model Import); see
        :func:`finetune_sdk.export.export_to_bedrock` (the cross-backend move lives in the API layer)."""
        export_to_bedrock = importlib.import_module("finetune_sdk.export").export_to_bedrock

        return export_to_bedrock(  # type: ignore[no-any-return]
            job_id,
            sagemaker_backend=self,
            bedrock_backend=bedrock_backend,
            imported_model_name=imported_model_name,
            role_arn=role_arn,
        )
