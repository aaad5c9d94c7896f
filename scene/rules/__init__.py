"""Rules: what turns tracks into events.

A rule kind is one module here: its config (a `RuleConfig` with `type: Literal["<kind>"]`) and the evaluator that
config makes. `KINDS` lists them; the config file (`Rule`), the engine and the API's schema all read that one list.
"""
from __future__ import annotations

import operator
from collections.abc import Sequence
from functools import partial, reduce
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from vigia.scene.rules.base import EXIT_GRACE_S, Evaluator, Frame, Place, RuleConfig
from vigia.scene.rules.count import CountRule
from vigia.scene.rules.cross import CrossRule
from vigia.scene.rules.engine import RuleEngine
from vigia.scene.rules.loiter import LoiterRule
from vigia.scene.rules.present import PresentRule
from vigia.scene.rules.scene import Scene
from vigia.scene.rules.zone import EnterRule

__all__ = ["EXIT_GRACE_S", "KINDS", "Evaluator", "Frame", "Place", "Rule", "RuleConfig", "RuleEngine", "Scene",
           "layout_json", "rule_type"]

KINDS: tuple[type[RuleConfig], ...] = (EnterRule, LoiterRule, CrossRule, CountRule, PresentRule)


def rule_type(kinds: Sequence[type[RuleConfig]] = KINDS) -> Any:
    """The pydantic type of one rule of `kinds`, a union discriminated by `type`.

    A rule may carry the parameters of the other kinds (the layout API's flat shape, see `layout_json`): they are
    ignored, as they always were; a field no kind has is still an unknown field.
    """
    return Annotated[reduce(operator.or_, kinds), Field(discriminator="type"), BeforeValidator(partial(_own_fields, kinds))]


def _own_fields(kinds: Sequence[type[RuleConfig]], data: Any) -> Any:
    kind = next((k for k in kinds if isinstance(data, dict) and data.get("type") == k.kind()), None)
    if kind is None:
        return data
    others = {name for k in kinds if k is not kind for name in k.parameters()} - set(kind.model_fields)
    return {name: value for name, value in data.items() if name not in others}


Rule = rule_type()


def layout_json(rule: RuleConfig, kinds: Sequence[type[RuleConfig]] = KINDS) -> dict[str, Any]:
    """A rule as the layout API and the saved layouts carry it: with every kind's parameters, those of other
    kinds at their defaults (null where they have none)."""
    blank = {name: None if k.model_fields[name].is_required() else k.model_fields[name].get_default()
             for k in kinds for name in k.parameters()}
    own = rule.model_dump(mode="json")
    return own | {name: value for name, value in blank.items() if name not in own}
