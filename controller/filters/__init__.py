"""The one filter language (IDM queryFilter / SCIM style): parse, evaluate locally, push down to Graph."""

from controller.filters._ast import And, Compare, Filter, Literal, Not, Or, Present
from controller.filters._eval import compile_filter, evaluate, filter_attributes
from controller.filters._graph import GraphFilterPlan, to_graph
from controller.filters._parser import parse_filter

__all__ = [
    "And",
    "Compare",
    "Filter",
    "GraphFilterPlan",
    "Literal",
    "Not",
    "Or",
    "Present",
    "compile_filter",
    "evaluate",
    "filter_attributes",
    "parse_filter",
    "to_graph",
]
