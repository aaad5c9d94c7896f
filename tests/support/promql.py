"""The metric names a PromQL expression reads, and the names a registry exposes: to check that dashboards and
rules query series the code really exports."""
from __future__ import annotations

import re

from prometheus_client import CollectorRegistry

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset",
             "inf", "nan"}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum")}


def metric_names(expr: str) -> set[str]:
    """Series names in `expr`: identifiers that are neither functions, keywords, labels nor durations."""
    text = _GROUPING.sub(" ", _RANGES.sub(" ", _MATCHERS.sub(" ", _STRING.sub('""', expr))))
    names = set()
    for match in _NAME.finditer(text):
        if not text[match.end():].lstrip().startswith("(") and match.group().lower() not in _KEYWORDS:
            names.add(match.group())
    return names


def exposed_names(registry: CollectorRegistry) -> set[str]:
    """Every series name the registry can expose (a counter's `_total`, a histogram's `_bucket`...), samples or not."""
    names = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names
