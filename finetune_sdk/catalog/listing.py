"""The customisable base models as rows (``finetune models list --customizable``): what AWS lists and what
finetune_sdk does with each.

Examples:
    >>> from finetune_sdk.catalog.listing import customizable_rows
    >>> rows = {r["id"]: r for r in customizable_rows()}
    >>> rows["amazon.nova-lite-v1:0:300k"]["status"]
    'supported'
    >>> rows["meta.llama3-3-70b-instruct-v1:0:128k"]["status"]
    'unverified FINE_TUNING (refused unless FINETUNE_SDK_ALLOW_UNVERIFIED_MODELS=1)'
    >>> rows["amazon.titan-image-generator-v2:0"]["status"]
    'data format not built'
"""

from __future__ import annotations

from finetune_sdk.catalog import ALLOW_UNVERIFIED_ENV, all_models

__all__ = ["customizable_rows"]

_SHORT = {"FINE_TUNING": "fine-tune", "CONTINUED_PRE_TRAINING": "cpt", "DISTILLATION": "distill"}


def customizable_rows() -> list[dict[str, str]]:
    """One row per base model that AWS customises (or that the catalog keeps as unverified): id, name,
    Regions, customisation types, data format, finetune_sdk status, and the date it was checked."""
    rows = []
    for m in all_models():
        if not m.customizable or not (m.customizations or m.unverified_customizations):
            continue
        if m.data_support == "not_built":
            status = "data format not built"
        elif m.unverified_customizations:
            status = (
                f"unverified {', '.join(m.unverified_customizations)} "
                f"(refused unless {ALLOW_UNVERIFIED_ENV}=1)"
            )
        else:
            status = "supported"
        types = [_SHORT[c] for c in m.customizations] + [f"{_SHORT[c]}?" for c in m.unverified_customizations]
        rows.append(
            {
                "id": m.id,
                "name": m.name,
                "regions": ",".join(m.regions),
                "customizations": ",".join(types),
                "format": m.format,
                "status": status,
                "checked": m.date,
            }
        )
    return rows
