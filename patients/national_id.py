"""Norwegian national identity numbers: the functions live in tenants/national_id.py (the bottom
layer, since the centre admin's HelseID binding checks a fødselsnummer too); patients and the layers
above keep importing them from here."""

from tenants.national_id import (
    K1_WEIGHTS,
    K2_WEIGHTS,
    IdKind,
    InvalidNationalId,
    NationalId,
    is_d_number,
    mask,
    parse,
    synthetic,
)

__all__ = [
    "K1_WEIGHTS",
    "K2_WEIGHTS",
    "IdKind",
    "InvalidNationalId",
    "NationalId",
    "is_d_number",
    "mask",
    "parse",
    "synthetic",
]
