"""The ``finetune`` command line. See ``finetune --help``."""
