"""The demo kommuner's organisation numbers, one table for the two places that need it: `seed_demo`
gives each kommune's journal route its number (dho/demo.py), and `make run` registers them as the
demo HelseID client's delegations with the HelseID and JFT stand-ins (dho/embedded.py, before Django
is set up, hence no imports).

Invented like the demo's national ids: nine digits with a valid mod-11 control digit
(`journaling.models.orgnr_validate`) in the range of NHN's synthetic test organisations, never a real
kommune's. Ullensaker has NHN's test kommune 312229544 (the number the stand-in's tests use)."""

# kommunenummer → organisasjonsnummer
DEMO_ORGNR = {
    "3209": "312229544",  # Ullensaker
    "3230": "312229552",  # Gjerdrum
    "3238": "312229560",  # Nannestad
    "3240": "312229579",  # Eidsvoll
    "3242": "312229587",  # Hurdal
    "3228": "312229595",  # Nes
    "3207": "312229609",  # Nordre Follo
    "4203": "312229617",  # Arendal
    "4202": "312229625",  # Grimstad
    "4214": "312229633",  # Froland
}
