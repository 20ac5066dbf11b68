"""``help(finetune_sdk)`` is a concise map of the API, not thousands of lines of pydantic internals."""

from __future__ import annotations

import pydoc

import finetune_sdk


def test_help_page_is_concise_and_names_every_public_class() -> None:
    page = pydoc.render_doc(finetune_sdk, renderer=pydoc.plaintext)
    lines = page.splitlines()
    assert len(lines) < 150, len(lines)
    assert "model_validate" not in page and "Methods inherited from" not in page
    for name in finetune_sdk.__all__:
        if name != "__version__":
            assert name in page, name
    assert "FUNCTIONS" in page and "disable_progress_bars()" in page


def test_dir_and_class_pages_are_unchanged() -> None:
    assert sorted(dir(finetune_sdk)) == sorted(finetune_sdk.__all__)
    page = pydoc.render_doc(finetune_sdk.Evaluator, renderer=pydoc.plaintext)
    assert "estimate_cost" in page and "compare" in page
