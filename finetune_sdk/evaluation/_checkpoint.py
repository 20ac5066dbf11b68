"""Helpers of :class:`~finetune_sdk.evaluation.runner.Checkpoint`: an exclusive inter-process lock and model identity.

- :class:`CheckpointLock` holds an exclusive, non-blocking ``fcntl.flock`` on ``<checkpoint>.lock`` for as long as a
  run uses the checkpoint. A second process (or a second ``Checkpoint`` on the same file) gets a
  ``ConfigurationError`` naming the holder's pid and host instead of sending every request a second time. The lock
  is released by the kernel when the holder dies, so a killed run never blocks the rerun.
- :func:`model_identity` is what makes two models "the same" for a checkpoint: backend, kind and id (ARN, endpoint
  name or folder), never the display name.

Examples:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> lock = CheckpointLock(folder / "ckpt.jsonl")
    >>> lock.acquire(); lock.held
    True
    >>> other = CheckpointLock(folder / "ckpt.jsonl")
    >>> try:
    ...     other.acquire()
    ... except ConfigurationError as exc:
    ...     "in use by pid" in str(exc)
    True
    >>> lock.release(); other.acquire(); other.held
    True
    >>> other.release()
"""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path
from typing import IO, Any

from finetune_sdk.errors import ConfigurationError

__all__ = ["CheckpointLock", "lock_path", "model_identity"]

logger = logging.getLogger(__name__)


def lock_path(path: Path) -> Path:
    """The lock file of a checkpoint: ``<name>.lock`` beside it."""
    return path.with_name(path.name + ".lock")


def _holder(fh: IO[str]) -> str:
    try:
        fh.seek(0)
        info = json.loads(fh.read() or "{}")
    except (OSError, ValueError):
        return "another process"
    if not isinstance(info, dict) or "pid" not in info:
        return "another process"
    return f"pid {info.get('pid')} on host {info.get('host', '?')}"


class CheckpointLock:
    """An exclusive, non-blocking lock on a checkpoint file, held between :meth:`acquire` and :meth:`release`.

    Re-acquiring a lock this object already holds is a no-op. Where ``fcntl`` does not exist (Windows) nothing is
    locked and a debug line says so.

    Raises:
        ConfigurationError: (from :meth:`acquire`) another process holds the lock; the message names its pid and
            host and the fix.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh: IO[str] | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fh is not None

    def acquire(self) -> None:
        """Take the lock (at once or not at all); see the class for what is raised."""
        if self._fh is not None:
            return
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            logger.debug("no fcntl on this platform: checkpoint %s is not locked", self.path)
            return
        lpath = lock_path(self.path)
        lpath.parent.mkdir(parents=True, exist_ok=True)
        fh: IO[str] = open(lpath, "a+", encoding="utf-8")  # noqa: SIM115 - held open until release()
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(fh)
            fh.close()
            raise ConfigurationError(
                f"checkpoint {self.path} is in use by {holder} (lock file {lpath}); two runs on one checkpoint "
                "would send and pay for every request twice. Wait for that run to finish (its answers are reused "
                "when you rerun), or pass another checkpoint= path."
            ) from None
        info: dict[str, Any] = {"pid": os.getpid(), "host": socket.gethostname()}
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(info))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        """Release the lock (no-op when not held). The lock file stays; it is empty of meaning once unlocked."""
        fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        finally:
            fh.close()


def model_identity(*, backend: str | None, kind: str, model_id: str) -> str:
    """What identifies a model in a checkpoint key: backend, kind and id (ARN, endpoint or path), not its name.

    Examples:
        >>> model_identity(backend="bedrock", kind="chat", model_id="arn:aws:bedrock:us-east-1:1:custom-model/a")
        'bedrock|chat|arn:aws:bedrock:us-east-1:1:custom-model/a'
    """
    return f"{backend or ''}|{kind}|{model_id}"
