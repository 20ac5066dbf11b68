"""Moved to :mod:`finetune_sdk._aws.patterns`; kept as an import shim."""

from finetune_sdk._aws.patterns import CharSet, JavaPattern, UnsupportedPattern, compile_java_pattern, pattern_matches

__all__ = ["CharSet", "JavaPattern", "UnsupportedPattern", "compile_java_pattern", "pattern_matches"]
