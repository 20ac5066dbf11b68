"""Progress bars that work in terminals and notebooks (``tqdm.auto``) and can be turned off.

Turn them off with :func:`disable_progress_bars` or ``FINETUNE_SDK_DISABLE_PROGRESS_BARS=1``.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["disable_progress_bars", "enable_progress_bars", "progress_bar", "progress_enabled"]

_override: bool | None = None


def disable_progress_bars() -> None:
    """Turn progress bars off for this process (overrides the environment variable)."""
    global _override
    _override = False


def enable_progress_bars() -> None:
    """Turn progress bars back on for this process."""
    global _override
    _override = True


def progress_enabled() -> bool:
    """Whether progress bars are shown, resolved on every call."""
    if _override is not None:
        return _override
    return os.environ.get("FINETUNE_SDK_DISABLE_PROGRESS_BARS", "").lower() not in ("1", "true", "yes")


def progress_bar(
    *, total: float | None = None, desc: str = "", unit: str = "it", enabled: bool | None = None, **options: Any
) -> Any:
    """A ``tqdm.auto`` bar, disabled when progress is off. Import of tqdm happens here, not at import time.

    A disabled bar is a plain ``tqdm`` (no notebook widget is looked for, so no warning about ipywidgets), and
    in a notebook without ipywidgets the bar falls back to text instead of warning.
    """
    import warnings

    from tqdm import TqdmWarning
    from tqdm.std import tqdm as text_tqdm

    show = progress_enabled() if enabled is None else enabled
    if not show:
        return text_tqdm(total=total, desc=desc, unit=unit, disable=True, **options)
    from tqdm.auto import tqdm

    with warnings.catch_warnings():
        warnings.simplefilter("error", TqdmWarning)
        try:
            return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, **options)
        except TqdmWarning:  # notebook front end without ipywidgets
            return text_tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, **options)
