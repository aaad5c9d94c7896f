"""A GraphQL validation rule that refuses a query whose estimated size is over a budget, before it runs.

Every field costs 1; a field with a `first` argument (every list of this API has one) multiplies what is
selected under it by `first` (its default when not given; the largest page when it is a variable). So
`events(first: 50) { device { events(first: 50) { label } } }` costs 50 * (1 + 1 + 50 * 2) and is refused
under a budget of 5000. Fragments are counted where they are spread.
"""
from __future__ import annotations

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    get_named_type,
)

MAX_NESTING = 64   # fragments spread within fragments deeper than this are a cycle (another rule reports it)


def cost_rule(max_cost: int, largest_page: int) -> type[ValidationRule]:
    """The rule for a budget of `max_cost`; a `first` given by a variable counts as `largest_page`."""

    class CostLimit(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args) -> None:
            root = self.context.schema.get_root_type(node.operation)
            if root is None:
                return
            cost = _selection_cost(self.context, node.selection_set, root, largest_page, 0)
            if cost > max_cost:
                self.report_error(GraphQLError(
                    f"query too costly: about {cost} items (at most {max_cost}); ask for smaller pages (first)"
                    " or fewer nested lists", node, extensions={"code": "QUERY_TOO_COSTLY", "cost": cost,
                                                              "max_cost": max_cost}))

    return CostLimit


def _selection_cost(context: ValidationContext, selection_set: SelectionSetNode, parent, largest_page: int,
                    nesting: int) -> int:
    if nesting > MAX_NESTING:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            field = parent.fields.get(selection.name.value) if isinstance(parent, GraphQLObjectType) else None
            total += 1
            if field is not None and selection.selection_set is not None:
                times = _first(selection, field, largest_page)
                total += times * _selection_cost(context, selection.selection_set, get_named_type(field.type),
                                                 largest_page, nesting + 1)
        elif isinstance(selection, InlineFragmentNode):
            kind = context.schema.get_type(selection.type_condition.name.value) if selection.type_condition else parent
            total += _selection_cost(context, selection.selection_set, kind or parent, largest_page, nesting + 1)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = context.get_fragment(selection.name.value)
            if fragment is not None:
                kind = context.schema.get_type(fragment.type_condition.name.value) or parent
                total += _selection_cost(context, fragment.selection_set, kind, largest_page, nesting + 1)
    return total


def _first(node: FieldNode, field, largest_page: int) -> int:
    """How many items the field may return: its `first` argument, else 1 (not a list)."""
    if "first" not in field.args:
        return 1
    for argument in node.arguments or ():
        if argument.name.value == "first":
            if isinstance(argument.value, IntValueNode):
                return max(int(argument.value.value), 0)
            return largest_page
    default = field.args["first"].default_value
    return default if isinstance(default, int) else largest_page
