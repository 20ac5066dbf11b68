"""Moved to :mod:`finetune_sdk._aws.patterns` (the one pattern engine); kept as an import shim."""

from finetune_sdk._aws.patterns import CharSet, JavaPattern, UnsupportedPattern, compile_java_pattern

__all__ = ["CharSet", "JavaPattern", "UnsupportedPattern", "compile_java_pattern"]
