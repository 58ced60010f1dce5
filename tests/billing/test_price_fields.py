"""The price model's figures are listed once (billing.models.PRICE_FIELDS): the list is the model's
own figures, the form offers each and gives each back, and the service saves each."""

import datetime

from billing.calculation import Month
from billing.forms import PriceModelForm
from billing.models import MONEY_FIELDS, PRICE_FIELDS, PriceModel
from billing.services import price_model_save

BOOKKEEPING = {"id", "centre", "valid_from", "created_by", "created_at"}


def test_the_list_is_the_models_figures():
    figures = {f.name for f in PriceModel._meta.concrete_fields} - BOOKKEEPING
    assert set(PRICE_FIELDS) == figures
    assert len(PRICE_FIELDS) == len(set(PRICE_FIELDS))


def test_the_form_round_trips_every_figure_and_the_service_saves_them(world):
    model = PriceModel(
        centre=world.centres.ovre, valid_from=datetime.date(2026, 1, 1), note="Avtale", base_ore=123_400,
        base_key="mixed", base_equal_percent=30, host_in_base=False, own_follow_up_in_base=False,
        follow_up_ore=110_050, paused_percent=40, licence_ore=59_600, equipment_ore={"pulsoksymeter": 12_300},
        start_fee_ore=150_000,
    )  # fmt: skip
    initial = PriceModelForm.initial_from(model, month=Month.parse("2026-02"))
    data = {k: v for k, v in initial.items() if v is not False}
    form = PriceModelForm(data=data)
    assert form.is_valid(), form.errors
    values = form.values()
    assert set(values) == set(PRICE_FIELDS)
    saved = price_model_save(
        centre=world.centres.ovre, user=world.u.admin, valid_from=datetime.date(2026, 2, 1), values=values
    )
    for name in PRICE_FIELDS:
        assert getattr(saved, name) == getattr(model, name), name
    assert all(getattr(saved, name) > 0 for name in MONEY_FIELDS)
