"""Data and helpers of the SageMaker emulation: synthetic JumpStart hub documents, model folders, responders.

Private; :mod:`finetune_sdk.testing.emulation` re-exports the public names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    pass

__all__ = [
    "LLAMA3_MODEL_IDS",
    "EndpointResponder",
    "FaultKind",
    "default_endpoint_responder",
    "llama3_hub_document",
    "model_folder_files",
]

ACCOUNT_ID = "123456789012"
FaultKind = Literal["throttle", "5xx", "drop", "drop_after_apply", "capacity"]
OutputKind = Literal["merged", "adapter", "none"]
#: ``responder(endpoint_name, request_body) -> response_body`` (JSON-able) scripts every endpoint answer
EndpointResponder = Callable[[str, Mapping[str, Any]], Any]

#: the JumpStart Llama 3.x ids the emulation knows out of the box
LLAMA3_MODEL_IDS: tuple[str, ...] = (
    "meta-textgeneration-llama-3-8b",
    "meta-textgeneration-llama-3-8b-instruct",
    "meta-textgeneration-llama-3-1-8b",
    "meta-textgeneration-llama-3-1-8b-instruct",
)
_TRAINING_PHASES = (("Starting", 0.0), ("Downloading", 0.1), ("Training", 0.2), ("Uploading", 0.9))
_PHASE_MESSAGES = {
    "Starting": "Preparing the instances for training",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Stopping": "Stopping the training job",
    "Stopped": "The job was stopped",
    "Failed": "Training job failed",
}
_LOG_GROUP = "/aws/sagemaker/TrainingJobs"


def llama3_hub_document(
    model_id: str = "meta-textgeneration-llama-3-8b", *, region: str = "us-east-1"
) -> dict[str, Any]:
    """A SYNTHETIC JumpStart hub content document for a Meta Llama 3.x text-generation model.

    Field names and shapes follow what the ``sagemaker`` v3 SDK parses; the hyperparameter defaults are the
    Meta fine-tuning script's as captured in the v2 SDK's unit tests; URIs and image tags are illustrative.

    Examples:
        >>> doc = llama3_hub_document("meta-textgeneration-llama-3-1-8b-instruct")
        >>> doc["GatedBucket"], doc["SupportedTrainingInstanceTypes"][0]
        (True, 'ml.g5.12xlarge')
    """
    registry = f"763104351884.dkr.ecr.{region}.amazonaws.com"
    private = f"s3://jumpstart-private-cache-prod-{region}"

    def hp(name: str, kind: str, default: Any, **extra: Any) -> dict[str, Any]:
        entry = {"Name": name, "Type": kind, "Default": default, "Scope": "algorithm"}
        entry.update(extra)
        return entry

    true_false = ["True", "False"]
    hyperparameters = [
        hp("int8_quantization", "text", "False", Options=true_false),
        hp("enable_fsdp", "text", "True", Options=true_false),
        hp("epoch", "int", 5, Min=1, Max=1000),
        hp("learning_rate", "float", 0.0001, Min=1e-08, Max=1),
        hp("lora_r", "int", 8, Min=1),
        hp("lora_alpha", "int", 32, Min=1),
        hp("lora_dropout", "float", 0.05, Min=0, Max=1),
        hp("instruction_tuned", "text", "False", Options=true_false),
        hp("chat_dataset", "text", "False", Options=true_false),
        hp("add_input_output_demarcation_key", "text", "True", Options=true_false),
        hp("per_device_train_batch_size", "int", 4, Min=1, Max=1000),
        hp("per_device_eval_batch_size", "int", 1, Min=1, Max=1000),
        hp("max_train_samples", "int", -1, Min=-1),
        hp("max_val_samples", "int", -1, Min=-1),
        hp("seed", "int", 10, Min=1),
        hp("max_input_length", "int", -1, Min=-1),
        hp("validation_split_ratio", "float", 0.2, Min=0, Max=1),
        hp("train_data_split_seed", "int", 0, Min=0),
        hp("preprocessing_num_workers", "text", "None"),
        hp("chat_template", "text", "Llama3.1" if "3-1" in model_id else "Llama3"),
        {
            "Name": "sagemaker_submit_directory",
            "Type": "text",
            "Scope": "container",
            "Default": "/opt/ml/input/data/code/sourcedir.tar.gz",
        },
        {
            "Name": "sagemaker_program",
            "Type": "text",
            "Scope": "container",
            "Default": "transfer_learning.py",
        },
        {"Name": "sagemaker_container_log_level", "Type": "text", "Scope": "container", "Default": "20"},
    ]
    training_image = (
        f"{registry}/huggingface-pytorch-training:2.0.0-transformers4.28.1-gpu-py310-cu118-ubuntu20.04"
    )
    return {
        "Url": "https://ai.meta.com/resources/models-and-libraries/llama-downloads/",
        "MinSdkVersion": "2.225.0",
        "Version": "2.4.0",
        "TrainingSupported": True,
        "IncrementalTrainingSupported": False,
        "GatedBucket": True,
        "HostingEcrUri": f"{registry}/djl-inference:0.31.0-lmi13.0.0-cu124",
        "HostingArtifactUri": f"{private}/meta-textgeneration/{model_id}/artifacts/inference-prepack/v2.0.0/",
        "HostingArtifactS3DataType": "S3Prefix",
        "HostingArtifactCompressionType": "None",
        "InferenceEnvironmentVariables": [
            {"Name": "SAGEMAKER_PROGRAM", "Type": "text", "Default": "inference.py", "Scope": "container"},
            {"Name": "HF_MODEL_ID", "Type": "text", "Default": "/opt/ml/model", "Scope": "container"},
            {
                "Name": "OPTION_ENABLE_CHUNKED_PREFILL",
                "Type": "text",
                "Default": "true",
                "Scope": "container",
            },
        ],
        "DefaultInferenceInstanceType": "ml.g5.2xlarge",
        "SupportedInferenceInstanceTypes": ["ml.g5.2xlarge", "ml.g5.12xlarge", "ml.p4d.24xlarge"],
        "InferenceEnableNetworkIsolation": True,
        "DefaultPayloads": {
            "emailDraft": {
                "ContentType": "application/json",
                "Body": {
                    "inputs": "Write an email to a colleague about a delayed shipment.",
                    "parameters": {"max_new_tokens": 256, "top_p": 0.9, "temperature": 0.6},
                },
            }
        },
        "TrainingEcrUri": training_image,
        "TrainingScriptUri": f"s3://jumpstart-cache-prod-{region}/source-directory-tarballs/meta/"
        "transfer_learning/textgeneration/v1.0.x/sourcedir.tar.gz",
        "TrainingArtifactUri": f"{private}/meta-training/train-{model_id}.tar.gz",
        "TrainingArtifactCompressionType": "None",
        "TrainingArtifactS3DataType": "S3Prefix",
        "Hyperparameters": hyperparameters,
        "TrainingMetrics": [
            {"Name": "huggingface-textgeneration:eval-loss", "Regex": "eval_epoch_loss=tensor\\(([0-9\\.]+)"},
            {"Name": "huggingface-textgeneration:train-loss", "Regex": "train_epoch_loss=([0-9\\.]+)"},
        ],
        "DefaultTrainingInstanceType": "ml.g5.12xlarge",
        "SupportedTrainingInstanceTypes": [
            "ml.g5.12xlarge",
            "ml.g5.24xlarge",
            "ml.g5.48xlarge",
            "ml.p4d.24xlarge",
        ],
        "TrainingVolumeSize": 256,
        "TrainingEnableNetworkIsolation": True,
        "DisableOutputCompression": True,
        "TrainingInstanceTypeVariants": {
            "Variants": {
                "g5": {
                    "Properties": {
                        "ImageUri": training_image,
                        "GatedModelEnvVarUri": f"{private}/meta-training/g5/v1.0.0/train-{model_id}.tar.gz",
                    }
                },
                "p4d": {
                    "Properties": {
                        "ImageUri": training_image,
                        "GatedModelEnvVarUri": f"{private}/meta-training/p4d/v1.0.0/train-{model_id}.tar.gz",
                    }
                },
            }
        },
    }


def model_folder_files(
    kind: OutputKind = "merged", *, architecture: str = "LlamaForCausalLM"
) -> dict[str, bytes]:
    """Small stand-in files of a trained model folder: merged Hugging Face weights, or a LoRA adapter only."""
    if kind == "none":
        return {}
    if kind == "adapter":
        return {
            "adapter_config.json": json.dumps({"peft_type": "LORA", "r": 8, "lora_alpha": 32}).encode(),
            "adapter_model.safetensors": b"\x00" * 64,
        }
    config = {
        "architectures": [architecture],
        "model_type": "llama",
        "max_position_embeddings": 8192,
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "torch_dtype": "bfloat16",
    }
    return {
        "config.json": json.dumps(config).encode(),
        "generation_config.json": json.dumps({"bos_token_id": 128000, "eos_token_id": 128009}).encode(),
        "model.safetensors": b"\x00" * 128,
        "tokenizer.json": json.dumps({"version": "1.0", "model": {"type": "BPE"}}).encode(),
        "tokenizer_config.json": json.dumps({"tokenizer_class": "PreTrainedTokenizerFast"}).encode(),
        "special_tokens_map.json": json.dumps({"bos_token": "<|begin_of_text|>"}).encode(),
    }


def _last_user_text(body: Mapping[str, Any]) -> str:
    messages = body.get("messages")
    if isinstance(messages, list):
        for m in reversed(messages):
            if isinstance(m, Mapping) and m.get("role") == "user":
                return str(m.get("content", ""))
        return ""
    prompt = str(body.get("inputs", ""))
    found = re.findall(
        r"<\|start_header_id\|>user<\|end_header_id\|>\n\n(.*?)<\|eot_id\|>", prompt, flags=re.S
    )
    if found:
        return str(found[-1])
    instruction = re.findall(r"### Instruction:\n(.*?)\n\n", prompt, flags=re.S)
    return str(instruction[-1]) if instruction else prompt


def default_endpoint_responder(endpoint: str, body: Mapping[str, Any]) -> Any:
    """Answers ``echo: <last user message>``: a TGI list for ``inputs`` bodies, a ``chat.completion`` for
    ``messages`` bodies, with the token counts each container reports."""
    text = f"echo: {_last_user_text(body)}"
    tokens = max(1, len(text) // 4)
    if "messages" in body:
        prompt_chars = sum(len(str(m.get("content", ""))) for m in body["messages"] if isinstance(m, Mapping))
        return {
            "id": "chatcmpl-emulated",
            "object": "chat.completion",
            "model": endpoint,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": max(1, prompt_chars // 4),
                "completion_tokens": tokens,
                "total_tokens": max(1, prompt_chars // 4) + tokens,
            },
        }
    return [
        {
            "generated_text": text + "<|eot_id|>",
            "details": {"finish_reason": "eos_token", "generated_tokens": tokens, "seed": None},
        }
    ]


def _noop() -> None:
    return None


_LOADER: Any = None
_SESSIONS: dict[str, Any] = {}
#: S3 and logs clients of the shared sessions (stateless: moto keeps the state, and resets it per mock)
_SHARED_CLIENTS: dict[str, dict[str, Any]] = {}


def _shared_loader() -> Any:
    """One botocore data loader per process: service models (SageMaker's is megabytes of JSON) parse once."""
    global _LOADER
    if _LOADER is None:
        import botocore.loaders

        _LOADER = botocore.loaders.create_loader()
    return _LOADER


def _shared_session(region: str) -> Any:
    """One ``boto3.Session`` per Region for the emulations that start their own moto.

    Sessions are costly to make, and :meth:`SageMakerEmulation.stop` removes every handler it registered.
    """
    import boto3

    session = _SESSIONS.get(region)
    if session is None:
        session = boto3.Session(region_name=region)
        session._session.register_component("data_loader", _shared_loader())
        _SESSIONS[region] = session
    return session


@dataclass
class _Job:
    name: str
    started: float
    phase_seen: set[str] = field(default_factory=set)
    fail_message: str | None = None
    complete_now: bool = False
    stop_at: float | None = None
    output: OutputKind = "merged"
    done: bool = False


@dataclass
class _Endpoint:
    name: str
    started: float


@dataclass
class _Fault:
    kind: FaultKind
    remaining: int


class _Http:
    """The ``http_response`` botocore expects back from a ``before-call`` handler that answers itself."""

    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = {}
        self.content = b""
        self.raw = None
