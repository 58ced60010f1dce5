"""Øre and shares as text, for billing's modules: the logic is `tenants.norwegian` (one place for every
app's Norwegian numbers); these names stay so billing imports its money from one module of its own."""

from tenants.norwegian import NBSP, AmountError, kr, kroner, parse_kroner
from tenants.norwegian import percent as percent_text
from tenants.norwegian import quantity as quantity_text

__all__ = ["NBSP", "AmountError", "kr", "kroner", "parse_kroner", "percent_text", "quantity_text"]
