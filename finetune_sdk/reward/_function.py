"""The ``@reward`` decorator and :class:`RewardFunction`."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, overload

from finetune_sdk.data.records import Conversation, Record, TextRecord
from finetune_sdk.errors import ConfigurationError
from finetune_sdk.evaluation.metrics import Metric, reference_of
from finetune_sdk.reward._bundle import LambdaBundle, build_zip_bytes, deploy, write_zip
from finetune_sdk.reward._contract import RewardCore, completion_text, sample_fields
from finetune_sdk.reward._verify import RewardVerification, summarize, warnings_for

__all__ = ["RewardFunction", "TRLRewardFunc", "record_fields", "reward"]

TRLRewardFunc = Callable[..., list[float | None]]


def record_fields(record: Record | Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``(reference_answer, fields)`` of a record.

    A canonical record: ``metadata["reference_answer"]``, else its gold answer (the final assistant turn,
    ``metadata["reference"]`` or ``metadata["answer"]``); the fields are the other metadata keys. A raw
    mapping (an RFT data line or a grader sample): ``reference_answer`` at the top level or under
    ``metadata``; the fields are the other keys.
    """
    if isinstance(record, (Conversation, TextRecord)):
        fields = dict(record.metadata)
        if "reference_answer" in fields:
            return fields.pop("reference_answer"), fields
        return reference_of(record), fields
    if isinstance(record, Mapping):
        return sample_fields(record)
    raise TypeError(f"a record is a Conversation, a TextRecord or a mapping, got {type(record).__name__}")


class RewardFunction(Metric):
    """One reward function for every consumer: an Evaluator metric, a TRL GRPO reward, a Bedrock grader.

    Build it with :func:`reward`. It is a :class:`~finetune_sdk.evaluation.metrics.Metric`, so
    ``Evaluator(metrics=[my_reward])`` scores with it unchanged; calling it calls the wrapped function.

    Examples:
        >>> from finetune_sdk.reward import reward
        >>> @reward
        ... def letter(completion, *, reference_answer=None, **fields):
        ...     return None if reference_answer is None else float(completion.strip()[:1] == reference_answer)
        >>> letter.score("C) 12", {"messages": [], "reference_answer": "C"})
        1.0
        >>> out = letter.lambda_handler([{"id": "a", "messages": [{"role": "user", "content": "?"},
        ...     {"role": "assistant", "content": "B"}], "metadata": {"reference_answer": "C"}}], None)
        >>> out[0]["id"], out[0]["aggregate_reward_score"], out[0]["metrics_list"][0]["type"]
        ('a', 0.0, 'Reward')
        >>> letter.as_trl()(prompts=["?"], completions=["C"], reference_answer=["C"])
        [1.0]
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        none_score: float = 0.0,
        binary: bool = False,
        description: str | None = None,
    ) -> None:
        try:
            self._core = RewardCore(fn, name=name, none_score=none_score)
        except TypeError as exc:
            raise ConfigurationError(str(exc)) from exc
        self.fn = fn
        self.name = self._core.name
        self.binary = binary
        self.none_score = self._core.none_score
        doc = (getattr(fn, "__doc__", None) or "").strip().splitlines()
        self.description = description or (doc[0] if doc else f"reward function {self.name}")
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn
        self.__name__ = self.name
        self.__module__ = getattr(fn, "__module__", __name__)
        self.__qualname__ = getattr(fn, "__qualname__", self.name)

    def __call__(self, completion: str, **kwargs: Any) -> Any:
        """Call the wrapped function as written."""
        return self.fn(completion, **kwargs)

    def __repr__(self) -> str:
        return f"RewardFunction(name={self.name!r})"

    # -- one sample / Evaluator -----------------------------------------------------------------------------

    def score(self, prediction: str, record: Record | Mapping[str, Any]) -> float | None:
        """The reward of ``prediction`` (a completion) for ``record`` (a canonical record, an RFT data line or
        a grader sample); ``None`` when the function cannot grade it.

        Raises:
            TypeError: the function returned something other than a number, bool or ``None``.
        """
        reference, fields = record_fields(record)
        return self._core.call(completion_text(prediction), reference, fields)

    def params(self) -> dict[str, Any]:
        """The function's import path and a hash of its source (a report records which grader scored it)."""
        out: dict[str, Any] = {"callable": f"{self.__module__}.{self.__qualname__}"}
        with contextlib.suppress(OSError, TypeError):
            out["source_sha256"] = hashlib.sha256(inspect.getsource(self.fn).encode()).hexdigest()[:16]
        return out

    # -- TRL ------------------------------------------------------------------------------------------------

    def as_trl(self) -> TRLRewardFunc:
        """A reward function with TRL ``GRPOTrainer``'s signature: called with ``prompts``, ``completions``
        (strings, or lists of messages in conversational datasets) and the dataset's other columns as keyword
        arguments (a ``reference_answer`` column is the reference); returns one ``float | None`` per
        completion. A completion whose function raises scores ``None`` (TRL leaves it out)."""
        core = self._core

        def reward_func(
            prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **kwargs: Any
        ) -> list[float | None]:
            return core.trl_rewards(list(completions), kwargs)

        reward_func.__name__ = self.name
        reward_func.__qualname__ = self.name
        reward_func.__doc__ = self.description
        return reward_func

    # -- Bedrock grader -------------------------------------------------------------------------------------

    def lambda_handler(self, event: Any, context: Any = None) -> list[dict[str, Any]]:
        """The Bedrock RFT grader contract: a list of samples in (``reference_answer`` at the top level or under
        ``metadata``; the last assistant message is the completion), a list of ``{"id",
        "aggregate_reward_score", "metrics_list"}`` out. A sample the function cannot grade or that raises is
        reported with ``none_score`` and a ``gradable``/``grader_error`` metric; the batch never fails."""
        return self._core.lambda_handler(event, context)

    def lambda_zip_bytes(self, *, include: Iterable[str] = (), exclude: Iterable[str] = ()) -> bytes:
        """The grader zip's bytes (see :meth:`to_lambda_zip`)."""
        return build_zip_bytes(self.fn, name=self.name, include=include, exclude=exclude)[0]

    def to_lambda_zip(
        self, path: str | os.PathLike[str], *, include: Iterable[str] = (), exclude: Iterable[str] = ()
    ) -> LambdaBundle:
        """Write a deployable grader zip: ``lambda_function.py`` (handler ``lambda_function.lambda_handler``),
        the shared reward contract, a ``finetune_sdk.reward`` shim, the module defining the function and the
        pure-Python packages it imports. The bytes are deterministic: same code, same ``code_sha256``.

        Args:
            path: where to write the zip.
            include: more top-level packages to bundle.
            exclude: packages to leave out (e.g. provided by a Lambda layer).

        Raises:
            ConfigurationError: the source is unavailable, a dependency is compiled, or the zip is over 50 MB.
        """
        return write_zip(self.fn, path, name=self.name, include=include, exclude=exclude)

    def deploy_lambda(
        self,
        *,
        name: str,
        role_arn: str,
        session: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        timeout_s: int = 300,
        memory_mb: int = 512,
        runtime: str = "python3.12",
    ) -> str:
        """Deploy the grader as Lambda function ``name`` and return its ARN (what ``rftConfig.graderConfig.
        lambdaGrader.lambdaArn`` takes). Idempotent: an existing function whose ``CodeSha256`` equals this
        code's is left as it is; other code is updated in place.

        Args:
            name: the Lambda function name.
            role_arn: the function's execution role.
            session: a ``boto3.Session`` (default: a new one).
            timeout_s: the function timeout (Lambda's default of 3 s is too short for most graders; max 900).

        Raises:
            ConfigurationError: settings outside Lambda's limits; the code cannot be bundled.
            BackendError: Lambda answered with an error.
        """
        data = self.lambda_zip_bytes()
        return deploy(
            data,
            name=name,
            role_arn=role_arn,
            session=session,
            region=region,
            endpoint_url=endpoint_url,
            runtime=runtime,
            timeout_s=timeout_s,
            memory_mb=memory_mb,
            description=f"finetune_sdk reward grader {self.name}",
        )

    # -- verification ---------------------------------------------------------------------------------------

    def verify(
        self,
        dataset: Iterable[Record | Mapping[str, Any]],
        completions: Sequence[str] | None = None,
    ) -> RewardVerification:
        """Run the function on each record's reference answer (as the completion) and on ``completions``
        (e.g. the base model's answers, aligned with the records): score distributions, share not gradable,
        constant or out-of-[0, 1] scores, and AWS's guidance as warnings (a baseline above ~95%: RFT may be
        unnecessary; near 0%: start with supervised fine-tuning).

        Raises:
            ConfigurationError: ``completions`` is not as long as the dataset.
        """
        records = list(dataset)
        if completions is not None and len(completions) != len(records):
            raise ConfigurationError(
                f"completions has {len(completions)} entries for {len(records)} records; give one per record"
            )
        ref_scores: list[float | None] = []
        ref_errors: list[str] = []
        comp_scores: list[float | None] = []
        comp_errors: list[str] = []
        empty_scores: list[float | None] = []
        for i, record in enumerate(records):
            reference, fields = record_fields(record)
            if reference is not None:
                text = reference if isinstance(reference, str) else _json_text(reference)
                try:
                    ref_scores.append(self._core.call(text, reference, fields))
                except Exception as exc:
                    ref_errors.append(f"record {i}: {type(exc).__name__}: {exc}")
                with contextlib.suppress(Exception):
                    empty_scores.append(self._core.call("", reference, fields))
            if completions is not None:
                try:
                    comp_scores.append(self._core.call(completion_text(completions[i]), reference, fields))
                except Exception as exc:
                    comp_errors.append(f"record {i}: {type(exc).__name__}: {exc}")
        references = summarize(ref_scores, ref_errors) if (ref_scores or ref_errors) else None
        comps = summarize(comp_scores, comp_errors) if completions is not None else None
        empty = summarize(empty_scores) if empty_scores else None
        warnings = warnings_for(self.name, references, comps, empty)
        if references is None:
            warnings.insert(0, "no record has a reference answer; the function was checked on completions only")
        return RewardVerification(
            reward=self.name,
            records=len(records),
            references=references,
            completions=comps,
            warnings=tuple(warnings),
        )


def _json_text(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@overload
def reward(fn: Callable[..., Any], /) -> RewardFunction: ...


@overload
def reward(
    *, name: str | None = None, none_score: float = 0.0, binary: bool = False, description: str | None = None
) -> Callable[[Callable[..., Any]], RewardFunction]: ...


def reward(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    none_score: float = 0.0,
    binary: bool = False,
    description: str | None = None,
) -> RewardFunction | Callable[[Callable[..., Any]], RewardFunction]:
    """Turn ``fn(completion: str, *, reference_answer=None, **fields) -> float | None`` into a
    :class:`RewardFunction`; usable bare (``@reward``) or with options (``@reward(name="letter")``).

    ``None`` means "cannot grade this sample". Fields are the record's other data (RFT line keys, metadata):
    all of them when ``fn`` takes ``**fields``, else only those it names.

    Args:
        name: the metric name (default: the function's name).
        none_score: what the Bedrock grader reports for a sample ``fn`` cannot grade or that raises.
        binary: whether scores are 0/1 (the Evaluator then compares models with McNemar's test).
        description: one line for reports (default: the docstring's first line).

    Raises:
        ConfigurationError: ``fn`` does not take the completion as its first positional argument.

    Examples:
        >>> from finetune_sdk.reward import reward
        >>> @reward(binary=True)
        ... def says_yes(completion, **fields):
        ...     return completion.strip().lower().startswith("yes")
        >>> says_yes.score("Yes, it is.", {"messages": []}), says_yes.name
        (1.0, 'says_yes')
    """

    def wrap(f: Callable[..., Any]) -> RewardFunction:
        return RewardFunction(f, name=name, none_score=none_score, binary=binary, description=description)

    return wrap(fn) if fn is not None else wrap
