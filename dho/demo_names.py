"""What the demo's two builders share (dho/demo.py, the about 200 patients and the candidates;
dho/demo_history.py, the year's new patients): the names the patients are drawn from, the phone
number block and which kit a diagnosis gets. A module of its own, so neither imports the other back."""

FIRST_NAMES = [
    "Arne", "Astrid", "Bjørg", "Bjørn", "Dagny", "Einar", "Elin", "Finn", "Gerd", "Gunnar", "Hilde", "Ivar",
    "Jorunn", "Kjell", "Liv", "Magne", "Nils", "Oddny", "Ragnhild", "Sverre", "Solveig", "Terje", "Turid",
    "Wenche",
]  # fmt: skip
LAST_NAMES = [
    "Andersen", "Berge", "Eriksen", "Fjeld", "Haugland", "Iversen", "Jakobsen", "Karlsen", "Larsen",
    "Myhre", "Nygård", "Pedersen", "Rød", "Sandvik", "Solberg", "Tangen", "Ødegård", "Aasen",
]  # fmt: skip


def demo_phone(number: int) -> str:
    """A synthetic phone number from one block (900 00 000 – 900 99 999), the same on every run: the
    demo's patients and pårørende are invented, and so are their numbers."""
    return f"900 {number // 1000 % 100:02d} {number % 1000:03d}"


def kit_name(diagnoses) -> str:
    """The kit for the patient's diagnoses: heart failure needs the scale and the blood pressure too."""
    if "hjertesvikt" in diagnoses:
        return "Hjertesvikt"
    return "KOLS" if "kols" in diagnoses or "diabetes" not in diagnoses else "Diabetes"
