"""Kroner typed into the price-model form: what is an amount and what is refused, in Norwegian."""

import pytest

from tenants.norwegian import AmountError, parse_kroner


@pytest.mark.parametrize(("text", "ore"), [("1 212,50", 121_250), ("1212.5", 121_250), ("1212", 121_200), ("", 0)])
def test_it_reads_an_amount_in_kroner(text, ore):
    assert parse_kroner(text) == ore


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "sNaN", "1e400", "tolv", "1,234"])
def test_it_refuses_what_is_not_an_amount_with_a_message_not_a_crash(text):
    with pytest.raises(AmountError) as refused:
        parse_kroner(text)
    assert f"«{text}»" in str(refused.value)
