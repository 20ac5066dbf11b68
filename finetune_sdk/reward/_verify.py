"""``RewardFunction.verify``: what a reward function does on the data before any job is paid for."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

__all__ = ["RewardVerification", "ScoreSummary", "summarize"]

#: AWS's RFT guidance (Bedrock user guide): a baseline above ~95% means RFT may be unnecessary; near 0%,
#: start with supervised fine-tuning; positive rewards for under ~5% of samples are hard to learn from.
HIGH_BASELINE = 0.95
LOW_BASELINE = 0.05


class ScoreSummary(BaseModel):
    """The distribution of one set of scores.

    Attributes:
        count: samples scored.
        none_count: samples the function could not grade (``None``).
        error_count: samples where the function raised.
        mean, minimum, maximum: over the gradable samples (``None`` when there are none).
        positive_share: share of gradable samples with a score above 0.
        out_of_range: gradable scores outside [0, 1].
        histogram: counts in ten equal bins over [0, 1] (scores outside are clamped into the end bins).
        errors: the first few error messages.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    count: int
    none_count: int
    error_count: int
    mean: float | None
    minimum: float | None
    maximum: float | None
    positive_share: float | None
    out_of_range: int
    histogram: tuple[int, ...]
    errors: tuple[str, ...] = ()

    @property
    def none_share(self) -> float:
        """Share of samples that were not gradable or failed."""
        return (self.none_count + self.error_count) / self.count if self.count else 0.0

    @property
    def constant(self) -> bool:
        """Whether every gradable sample got the same score (GRPO learns nothing from a constant reward)."""
        return self.minimum is not None and self.minimum == self.maximum and self.count - self.none_count > 1


def summarize(scores: Sequence[float | None], errors: Sequence[str] = ()) -> ScoreSummary:
    """A :class:`ScoreSummary` of ``scores`` (``None``: not gradable) and the errors raised."""
    values = [s for s in scores if s is not None and not math.isnan(s)]
    hist = [0] * 10
    for v in values:
        hist[min(9, max(0, int(v * 10)))] += 1
    return ScoreSummary(
        count=len(scores) + len(errors),
        none_count=len(scores) - len(values),
        error_count=len(errors),
        mean=sum(values) / len(values) if values else None,
        minimum=min(values) if values else None,
        maximum=max(values) if values else None,
        positive_share=sum(1 for v in values if v > 0) / len(values) if values else None,
        out_of_range=sum(1 for v in values if v < 0 or v > 1),
        histogram=tuple(hist),
        errors=tuple(errors[:5]),
    )


class RewardVerification(BaseModel):
    """What :meth:`RewardFunction.verify` found.

    Attributes:
        reward: the function's name.
        references: scores of each record's reference answer taken as the completion (a correct answer
            should score high; ``None`` when no record has a reference answer).
        completions: scores of the given sample completions (a model's baseline), if any.
        warnings: problems and AWS's guidance, each with what to do.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    reward: str
    records: int
    references: ScoreSummary | None
    completions: ScoreSummary | None
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """``True`` when there is no warning."""
        return not self.warnings

    def to_text(self) -> str:
        """A few lines: each summary, then the warnings."""
        lines = [f"reward {self.reward!r} on {self.records} records"]
        for label, s in (("reference answers", self.references), ("completions", self.completions)):
            if s is None:
                continue
            mean = "n/a" if s.mean is None else f"{s.mean:.3f}"
            lines.append(
                f"  {label}: {s.count} scored, mean {mean}, min {s.minimum}, max {s.maximum}, "
                f"not gradable {s.none_share:.1%}, out of [0,1] {s.out_of_range}, histogram {list(s.histogram)}"
            )
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


def warnings_for(
    name: str,
    references: ScoreSummary | None,
    completions: ScoreSummary | None,
    empty: ScoreSummary | None = None,
) -> list[str]:
    """The warnings of a verification (problems of the function, then AWS's guidance on the baseline).
    ``empty`` are the scores of an empty completion, a negative control."""
    out: list[str] = []
    if (
        references is not None
        and empty is not None
        and references.mean is not None
        and empty.mean is not None
        and empty.mean >= references.mean
    ):
        out.append(
            f"an empty completion scores {empty.mean:.2f} on average, as much as the reference answers; a policy "
            "can collect this reward without answering (reward hacking): make wrong answers score lower"
        )
    for label, s in (("reference answers", references), ("completions", completions)):
        if s is None or s.count == 0:
            continue
        if s.error_count:
            out.append(
                f"{name} raised on {s.error_count} of {s.count} {label} (first: {s.errors[0]}); the Bedrock "
                "grader reports these samples with the none_score, so fix the function"
            )
        if s.none_share > 0.1:
            out.append(
                f"{name} could not grade {s.none_share:.0%} of the {label} (returned None); such samples give no "
                "learning signal: check the field names and the answer format"
            )
        if s.out_of_range:
            out.append(
                f"{s.out_of_range} scores of the {label} are outside [0, 1]; AWS asks for normalised rewards "
                "in 0-1: rescale the function"
            )
        if s.constant and (label == "completions" or s.minimum != 1.0):
            out.append(
                f"every gradable {label[:-1] if label.endswith('s') else label} scores {s.minimum}; a constant "
                "reward gives GRPO no signal: make the function discriminate"
            )
    if references is not None and references.mean is not None and references.mean < 0.9:
        out.append(
            f"the reference answers themselves score only {references.mean:.2f} on average; a correct answer "
            "should score near 1: check how the function parses completions"
        )
    if completions is not None and completions.mean is not None:
        if completions.mean > HIGH_BASELINE:
            out.append(
                f"the baseline completions already score {completions.mean:.1%} on average (above ~95%): RFT "
                "may be unnecessary for this task (AWS guidance)"
            )
        elif completions.positive_share is not None and completions.positive_share < LOW_BASELINE:
            out.append(
                f"only {completions.positive_share:.1%} of the baseline completions score above 0 (near 0%): "
                "start with supervised fine-tuning, then RFT (AWS guidance)"
            )
    return out
