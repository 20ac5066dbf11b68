"""The AWS core now lives in :mod:`finetune_sdk._aws` (below ``data/`` and the backends, so data uploads use it
without importing a backend); this package re-exports it under its old import path."""

from finetune_sdk._aws import *  # noqa: F403
from finetune_sdk._aws import __all__ as __all__
