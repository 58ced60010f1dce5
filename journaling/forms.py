from django import forms

from .models import Route


class RouteForm(forms.ModelForm):
    """Where a kommune's notes go: the model's own rules (organisation number, https, a key reference
    and never a key, every field of a sending route filled) give each field its error; the write is
    journaling.services.route_save, which checks the admin and audits."""

    # a receiver's address is https (Route.clean says so too); an address typed without a scheme is one
    base_url = forms.URLField(label="Adresse (https)", max_length=300, required=False, assume_scheme="https",
                              help_text="Journalføringstjenestens eller knutepunktets adresse.")  # fmt: skip

    class Meta:
        model = Route
        fields = ["kind", "orgnr", "base_url", "client_id", "key_reference", "scope"]
        labels = {
            "kind": "Mottak",
            "orgnr": "Kommunens organisasjonsnummer",
            "client_id": "HelseID-klient (client_id)",
            "key_reference": "Nøkkelreferanse",
            "scope": "Scope",
        }
        help_texts = {
            "orgnr": "Ni sifre (Enhetsregisteret).",
            "key_reference": "Filsti eller miljøvariabel med klientens private nøkkel (JWK). Aldri selve nøkkelen.",
            "client_id": "Til VKP: kommunens egen klient (VKP knytter hver klient til én kommune).",
            "scope": "Journalføringstjenesten: nhn:jft/api. VKP: scopet VKP har gitt klienten (nhn:vkp/api/…).",
        }
        widgets = {"kind": forms.RadioSelect}
