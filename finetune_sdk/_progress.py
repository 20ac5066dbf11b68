"""Progress bars that work in terminals and notebooks (``tqdm.auto``) and can be turned off.

Turn them off with :func:`disable_progress_bars` or ``FINETUNE_SDK_DISABLE_PROGRESS_BARS=1``. By default
bars are shown only where a person watches: a terminal (stderr is a TTY) or a Jupyter kernel. Output that
goes to a file, a pipe or a CI log gets no bars (``FINETUNE_SDK_DISABLE_PROGRESS_BARS=0`` forces them on).
"""

from __future__ import annotations

import os
import sys
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
    setting = os.environ.get("FINETUNE_SDK_DISABLE_PROGRESS_BARS", "").strip().lower()
    if setting in ("1", "true", "yes"):
        return False
    if setting in ("0", "false", "no"):
        return True
    return _watched()


def _watched() -> bool:
    """Whether a person sees stderr: a terminal, or a notebook kernel (which renders bars itself)."""
    if "ipykernel" in sys.modules:
        return True
    stream = sys.stderr
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def progress_bar(
    *, total: float | None = None, desc: str = "", unit: str = "it", enabled: bool | None = None, **options: Any
) -> Any:
    """A progress bar (a widget in notebooks with ipywidgets, else text), disabled when progress is off.

    tqdm is imported here, not at import time. A disabled bar is a plain ``tqdm``; in a notebook without
    ipywidgets the bar is text and no ``TqdmWarning`` is printed (see :func:`_bar_class`).
    """
    from tqdm.std import tqdm as text_tqdm

    show = progress_enabled() if enabled is None else enabled
    if not show:
        return text_tqdm(total=total, desc=desc, unit=unit, disable=True, **options)
    return _bar_class()(total=total, desc=desc, unit=unit, dynamic_ncols=True, **options)


def _bar_class() -> Any:
    """``tqdm.notebook.tqdm`` in a Jupyter kernel that has ipywidgets, else the text ``tqdm``.

    ``tqdm.auto`` is not imported: in a kernel without ipywidgets its import prints a ``TqdmWarning`` into
    the notebook (and then falls back to text anyway), which is what this choice avoids.
    """
    import importlib.util
    import sys

    from tqdm.std import tqdm as text_tqdm

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    in_kernel = shell is not None and "IPKernelApp" in getattr(shell, "config", {})
    if in_kernel and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm as notebook_tqdm

        return notebook_tqdm
    return text_tqdm
