"""The demo's people as HelseID knows them, one table for the places that need it: the HelseID
stand-in offers them on its «pick a test person» page (dho/dev/helseid.py), and `seed_demo` binds
the demo users to them (dho/demo.py), so the demo logs in through the stand-in as well as with
passwords. `make run` reads it before Django is set up, hence no imports.

The personal ids (`pid`) are synthetic fødselsnumre (month + 80, valid check digits, never a real
person's); the HPR numbers are invented and far from any real one's range.
"""

# Erik Berg's (`fastlege.berg`) HPR number: the stand-in's person carries it, and his fastlege
# memberships in the demo (dho/demo.py GP_HPR), so «Logg inn med HelseID» and the henvisning's
# fastlege search find the same man by the same number.
BERG_HPR = "9144891"

# pid, HPR number or "", security level, name, demo username or "" (unknown to the platform), what the picker says
PERSONS = [
    ("14837821089", "9144889", "4", "Sigrid Dahl", "sykepleier.ullensaker", "sykepleier, Øvre Romerike"),
    ("02916921090", "9144890", "4", "Kari Holm", "koordinator.gjerdrum", "koordinator, Gjerdrum"),
    ("23866121036", BERG_HPR, "4", "Erik Berg", "fastlege.berg", "fastlege med HPR-nummer"),
    ("05898321020", "", "4", "Lise Lie", "leder.ullensaker", "leder, Øvre Romerike"),
    ("17819021015", "", "4", "Anne Aas", "admin.ullensaker", "senteradministrator, Øvre Romerike"),
    ("28847521033", "9144892", "3", "Anders Moen", "sykepleier.agder", "sykepleier, innlogget på nivå 3 (MinID)"),
    ("09887221038", "", "4", "Ukjent Person", "", "ukjent for plattformen"),
]  # fmt: skip
