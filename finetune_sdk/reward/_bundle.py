"""The grader Lambda: a deterministic deployment zip and an idempotent deploy.

The zip holds ``lambda_function.py`` (handler ``lambda_function.lambda_handler``), the reward contract
(:mod:`finetune_sdk.reward._contract`, standard library only) as ``_finetune_reward_contract.py``, a two-file
``finetune_sdk.reward`` shim so the user's ``from finetune_sdk.reward import reward`` works inside Lambda,
the module that defines the function, and the pure-Python third-party packages that module imports. Entries
are sorted and carry a fixed timestamp and mode, so the same code gives the same bytes, the same SHA-256 and
therefore the same Lambda ``CodeSha256``.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import inspect
import io
import os
import sys
import textwrap
import types
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from finetune_sdk.errors import ConfigurationError

__all__ = ["HANDLER", "LambdaBundle", "build_zip_bytes", "deploy", "write_zip"]

#: The Lambda handler setting for the bundle.
HANDLER = "lambda_function.lambda_handler"
#: Lambda's limit for a zip uploaded directly (``ZipFile``): 50 MB.
MAX_DIRECT_ZIP_BYTES = 50 * 1024 * 1024
_CONTRACT_MODULE = "_finetune_reward_contract"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_NATIVE_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
_ALLOWED_SDK_MODULES = ("finetune_sdk.reward",)


class LambdaBundle(BaseModel):
    """A written grader zip.

    Attributes:
        path: where the zip was written.
        sha256: hex SHA-256 of the zip bytes.
        code_sha256: the same digest base64-encoded, as Lambda reports it in ``CodeSha256``.
        files: the archive's entries, sorted.
        size: the zip's size in bytes.
        handler: the Lambda handler setting (``lambda_function.lambda_handler``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    sha256: str
    code_sha256: str
    files: tuple[str, ...]
    size: int
    handler: str = HANDLER


def _top(module_name: str) -> str:
    return module_name.split(".", 1)[0]


def _is_stdlib(top: str) -> bool:
    names: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())
    return top in names or top in sys.builtin_module_names or top == "__future__"


def _package_files(top: str) -> dict[str, bytes]:
    """The ``.py`` files of an installed top-level module or package, keyed by archive path.

    Raises:
        ConfigurationError: it cannot be found, or it holds compiled extensions.
    """
    spec = importlib.util.find_spec(top)
    if spec is None:
        raise ConfigurationError(f"dependency {top!r} of the reward function is not installed here; install it")
    out: dict[str, bytes] = {}
    locations = list(spec.submodule_search_locations or [])
    if not locations:
        origin = spec.origin
        if origin is None or not origin.endswith(".py"):
            raise ConfigurationError(
                f"dependency {top!r} of the reward function is not pure Python ({origin}); ship it as a Lambda "
                "layer and leave it out with exclude=[...]"
            )
        out[f"{top}.py"] = Path(origin).read_bytes()
        return out
    for location in locations:
        root = Path(location)
        for path in sorted(root.rglob("*")):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            if path.suffix in _NATIVE_SUFFIXES or ".cpython-" in path.name:
                raise ConfigurationError(
                    f"dependency {top!r} of the reward function holds a compiled extension ({path.name}); the "
                    "bundle carries pure-Python packages only. Ship it as a Lambda layer and pass "
                    f"exclude=[{top!r}]"
                )
            if path.suffix in (".py", ".typed", ".json", ".txt"):
                out[f"{top}/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    return out


def _referenced_tops(module: types.ModuleType | None, fn: Callable[..., Any]) -> set[str]:
    """Top-level third-party modules the function's module (or, without one, the function) uses.

    Raises:
        ConfigurationError: it uses a part of finetune_sdk other than ``finetune_sdk.reward``.
    """
    namespace: Mapping[str, Any] = vars(module) if module is not None else getattr(fn, "__globals__", {})
    own = module.__name__ if module is not None else getattr(fn, "__module__", "__main__")
    tops: set[str] = set()
    for key, value in namespace.items():
        if key.startswith("__"):
            continue
        name = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
        if not isinstance(name, str) or name == own or name == "__main__":
            continue
        top = _top(name)
        if top == "finetune_sdk":
            if not name.startswith(_ALLOWED_SDK_MODULES):
                raise ConfigurationError(
                    f"the reward module uses {key!r} from {name}; the Lambda bundle carries only "
                    "finetune_sdk.reward (the SDK itself needs compiled packages). Copy what you need into "
                    "your module"
                )
            continue
        if _is_stdlib(top) or top == own.split(".")[0]:
            continue
        tops.add(top)
    return tops


def _source_entries(fn: Callable[..., Any], name: str) -> tuple[dict[str, bytes], str, str]:
    """``(files, module path, attribute)``: the user's code as archive entries and where the function lives."""
    module = inspect.getmodule(fn)
    modname = getattr(fn, "__module__", None) or "__main__"
    source_file = inspect.getsourcefile(fn) if module is not None else None
    qualname = getattr(fn, "__qualname__", name)
    if "<locals>" in qualname:
        raise ConfigurationError(
            f"reward function {name!r} is defined inside a function; define it at module level so the Lambda "
            "can import it"
        )
    if modname != "__main__" and source_file is not None and os.path.isfile(source_file):
        arc = modname.replace(".", "/") + ".py"
        return {arc: Path(source_file).read_bytes()}, modname, qualname
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as exc:
        raise ConfigurationError(
            f"the source of reward function {name!r} is not available ({exc}); define it in a .py module"
        ) from exc
    body = "from finetune_sdk.reward import reward\n\n\n" + source
    if "@" not in source.split("def ", 1)[0]:
        body += f"\n\n{qualname} = reward({qualname})\n"
    return {"_reward_main.py": body.encode()}, "_reward_main", qualname


def _handler_source(module: str, attribute: str) -> bytes:
    return (
        '"""Bedrock RFT grader generated by finetune_sdk (RewardFunction.to_lambda_zip)."""\n\n'
        f"import {module} as _user_module\n\n"
        f"_reward = _user_module.{attribute}\n"
        "if not hasattr(_reward, 'lambda_handler'):\n"
        f"    from {_CONTRACT_MODULE} import RewardCore\n\n"
        "    _reward = RewardCore(_reward)\n\n\n"
        "def lambda_handler(event, context):\n"
        "    return _reward.lambda_handler(event, context)\n"
    ).encode()


_SHIM_ROOT = b'"""finetune_sdk shim inside a grader Lambda: only finetune_sdk.reward is bundled."""\n'
_SHIM_REWARD = (
    b'"""finetune_sdk.reward inside a grader Lambda: the decorator from the shared reward contract."""\n\n'
    b"from _finetune_reward_contract import RewardCore as RewardFunction\n"
    b"from _finetune_reward_contract import reward\n\n"
    b'__all__ = ["RewardFunction", "reward"]\n'
)


def build_zip_bytes(
    fn: Callable[..., Any],
    *,
    name: str,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
) -> tuple[bytes, tuple[str, ...]]:
    """The zip's bytes and entry names for reward function ``fn``.

    Raises:
        ConfigurationError: the source is unavailable, a dependency is compiled or missing, or the zip is
            over Lambda's 50 MB direct-upload limit.
    """
    from finetune_sdk.reward import _contract

    files, module, attribute = _source_entries(fn, name)
    files["lambda_function.py"] = _handler_source(module, attribute)
    files[f"{_CONTRACT_MODULE}.py"] = Path(inspect.getfile(_contract)).read_bytes()
    files["finetune_sdk/__init__.py"] = _SHIM_ROOT
    files["finetune_sdk/reward/__init__.py"] = _SHIM_REWARD
    user_module = inspect.getmodule(fn) if module != "_reward_main" else None
    tops = (_referenced_tops(user_module, fn) | {_top(i) for i in include}) - {_top(e) for e in exclude}
    for top in sorted(tops):
        for arc, data in _package_files(top).items():
            files.setdefault(arc, data)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for arc in sorted(files):
            info = zipfile.ZipInfo(arc, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            zf.writestr(info, files[arc], compresslevel=9)
    data = buffer.getvalue()
    if len(data) > MAX_DIRECT_ZIP_BYTES:
        raise ConfigurationError(
            f"the grader zip is {len(data):,} bytes, over Lambda's {MAX_DIRECT_ZIP_BYTES:,}-byte direct upload "
            "limit; move large dependencies to a Lambda layer and pass exclude=[...]"
        )
    return data, tuple(sorted(files))


def _digests(data: bytes) -> tuple[str, str]:
    digest = hashlib.sha256(data).digest()
    return digest.hex(), base64.b64encode(digest).decode()


def write_zip(
    fn: Callable[..., Any],
    path: str | os.PathLike[str],
    *,
    name: str,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
) -> LambdaBundle:
    """Write the grader zip for ``fn`` to ``path`` and describe it (see :func:`build_zip_bytes`)."""
    data, names = build_zip_bytes(fn, name=name, include=include, exclude=exclude)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    hex_digest, b64 = _digests(data)
    return LambdaBundle(path=str(target), sha256=hex_digest, code_sha256=b64, files=names, size=len(data))


def deploy(
    data: bytes,
    *,
    name: str,
    role_arn: str,
    session: Any = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    runtime: str = "python3.12",
    timeout_s: int = 60,
    memory_mb: int = 512,
    description: str = "",
) -> str:
    """Create or update Lambda function ``name`` with zip ``data``; its ARN. Same code: nothing is changed.

    Raises:
        ConfigurationError: ``timeout_s`` or ``memory_mb`` outside Lambda's limits.
        BackendError: Lambda answered with an error (``AccessDeniedError``, ``ServiceValidationError`` ...).
    """
    from finetune_sdk._aws import error_code, translate_error

    if not 1 <= timeout_s <= 900:
        raise ConfigurationError(
            f"timeout_s={timeout_s} is outside Lambda's 1-900 seconds; Bedrock graders may take up to 15 minutes"
        )
    if not 128 <= memory_mb <= 10240:
        raise ConfigurationError(f"memory_mb={memory_mb} is outside Lambda's 128-10240 MB")
    from finetune_sdk._aws import AwsClients

    client = AwsClients(session=session, region=region, endpoint_url=endpoint_url, backend="lambda").client("lambda")
    _, code_sha = _digests(data)
    try:
        existing = client.get_function(FunctionName=name)
    except Exception as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise translate_error(exc, backend="lambda", action="GetFunction", resource=name) from exc
        existing = None
    try:
        if existing is None:
            created = client.create_function(
                FunctionName=name,
                Runtime=runtime,
                Role=role_arn,
                Handler=HANDLER,
                Code={"ZipFile": data},
                Timeout=timeout_s,
                MemorySize=memory_mb,
                Description=description[:256],
                Publish=False,
            )
            return str(created["FunctionArn"])
        config = existing["Configuration"]
        if config.get("CodeSha256") != code_sha:
            updated = client.update_function_code(FunctionName=name, ZipFile=data)
            return str(updated["FunctionArn"])
        return str(config["FunctionArn"])
    except Exception as exc:
        if isinstance(exc, ConfigurationError):
            raise
        action = "CreateFunction" if existing is None else "UpdateFunctionCode"
        raise translate_error(exc, backend="lambda", action=action, resource=name) from exc
