"""The demo's logins, one table for the two places that need it: `seed_demo` creates them
(dho/demo.py) and `make run` prints them (dho/run.py, before Django is set up, hence no imports)."""

# username, first name, last name, role, centre slug or kommunenummer, staff, what `make run` says
LOGINS = [
    ("sykepleier.ullensaker", "Sigrid", "Dahl", "nurse", "ovre-romerike", False,
     "sykepleier, Oppfølgingssenteret Øvre Romerike"),
    ("sykepleier.nordrefollo", "Nora", "Lunde", "nurse", "3207", False,
     "sykepleier, Nordre Follo (følger opp egne pasienter)"),
    ("sykepleier.agder", "Anders", "Moen", "nurse", "agder", False, "sykepleier, Regional TMS Agder"),
    ("koordinator.gjerdrum", "Kari", "Holm", "coordinator", "3230", False, "koordinator, Gjerdrum"),
    ("koordinator.nannestad", "Knut", "Vik", "coordinator", "3238", False, "koordinator, Nannestad"),
    ("fastlege.berg", "Erik", "Berg", "gp", "3209", False, "fastlege (godkjenner planer)"),
    ("okonomi.ullensaker", "Ola", "Økland", "finance", "ovre-romerike", False, "økonomi, Øvre Romerike"),
    ("okonomi.gjerdrum", "Guro", "Fossum", "finance", "3230", False, "økonomi, Gjerdrum (bare Gjerdrums linjer)"),
    ("leder.ullensaker", "Lise", "Lie", "leader", "ovre-romerike", False,
     "leder, Øvre Romerike (tjenestens tall, ingen pasienter)"),
    ("admin.ullensaker", "Anne", "Aas", "admin", "ovre-romerike", True, "senteradministrator, Øvre Romerike"),
    ("admin.agder", "Astrid", "Berge", "admin", "agder", True, "senteradministrator, Regional TMS Agder"),
]  # fmt: skip
