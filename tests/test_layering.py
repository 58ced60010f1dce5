"""Which app may import which (CONTRIBUTING, "Layers"): an app uses its own layer and the layers
below it, never one above; `dho`, the project package, sits on top and no app imports it.

Three kinds of dependency are checked, because each once let an upper app in: Python imports
(wherever they stand, a function body included, and `import_module("…")`), migration dependencies,
and model relations (a lazy `ForeignKey("triage.Alert")` is no import, yet it ties the tables and
the migrations to triage).
"""

import ast
from pathlib import Path

import pytest
from django.apps import apps
from django.db.migrations.loader import MigrationLoader

ROOT = Path(__file__).resolve().parent.parent

# Bottom to top. Apps in one tuple are siblings and may use each other.
LAYERS = (("tenants",), ("patients",), ("measurements", "ebp"), ("triage",), ("billing", "journaling"), ("dho",))
LAYER = {app: level for level, names in enumerate(LAYERS) for app in names}
APPS = [app for app in LAYER if app != "dho"]  # dho may import anything

# Calls that import a module named by a string.
IMPORTING_CALLS = {"import_module", "__import__", "import_string", "include"}


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in the source, at any depth."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in IMPORTING_CALLS and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def above(app: str, other: str) -> bool:
    """Whether `other` is an app of a higher layer than `app` (third-party packages are not)."""
    return LAYER.get(other, -1) > LAYER[app]


def upward_imports(app: str, source: str) -> list[str]:
    return [f"line {line}: {module}" for line, module in imported_modules(source) if above(app, module.split(".")[0])]


def upward_migration_dependencies(app: str, dependencies, run_before=()) -> list[str]:
    """A dependency on an upper app's migration, or a `run_before` that makes a lower app's migration
    depend on this one."""
    return [f"depends on {d[0]}.{d[1]}" for d in dependencies if above(app, d[0])] + [
        f"runs before {r[0]}.{r[1]}" for r in run_before if r[0] in LAYER and above(r[0], app)
    ]


def _python_files(app: str) -> list[Path]:
    return sorted((ROOT / app).rglob("*.py"))


def test_every_project_app_has_a_layer():
    # A new app (referral, equipment …) fails here until CONTRIBUTING and LAYERS say where it sits.
    ours = {c.label for c in apps.get_app_configs() if Path(c.path).resolve().parent == ROOT}
    assert ours == set(LAYER)


@pytest.mark.parametrize("app", APPS)
def test_no_app_imports_an_app_above_it(app):
    files = _python_files(app)
    assert files, f"no Python files found for {app}"
    found = [
        f"{path.relative_to(ROOT)} {problem}"
        for path in files
        for problem in upward_imports(app, path.read_text(encoding="utf-8"))
    ]
    assert not found, f"{app} imports a layer above it (CONTRIBUTING, «Layers»):\n" + "\n".join(found)


def test_the_walk_sees_the_imports_that_are_allowed():
    # Guards against a walk that reads nothing and so passes: triage's own downward imports are seen.
    modules = {module for path in _python_files("triage") for _, module in imported_modules(path.read_text())}
    assert {"measurements.models", "patients.selectors", "tenants.models"} <= modules


def test_no_migration_depends_on_an_app_above_it():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    ours = [(key, m) for key, m in loader.disk_migrations.items() if key[0] in APPS]
    assert any(key[0] == "measurements" for key, _ in ours)
    found = [
        f"{app}.{name} {problem}"
        for (app, name), migration in ours
        for problem in upward_migration_dependencies(app, migration.dependencies, migration.run_before)
    ]
    assert not found, "\n".join(found)


def test_no_model_refers_to_a_model_above_it():
    found = []
    for model in apps.get_models():
        app = model._meta.app_label
        if app not in APPS:
            continue
        for field in model._meta.get_fields():
            if field.is_relation and field.concrete and field.related_model is not None:
                target = field.related_model._meta.app_label
                if above(app, target):
                    found.append(f"{model.__name__}.{field.name} → {target}.{field.related_model.__name__}")
    assert not found, "\n".join(found)


def test_the_scoring_tasks_measurements_sends_by_name_are_triages():
    # measurements queues triage's scoring by the task's registered name, not by importing it: a
    # renamed task must fail here, not as messages no worker takes.
    from measurements.services import SCORING_TASKS
    from triage import tasks

    assert {"reading": tasks.score_readings.name, "answer": tasks.score_answers.name} == SCORING_TASKS


# --- the checks themselves fail on what they are meant to catch ------------------------------------


@pytest.mark.parametrize(
    "app, source, upward",
    [
        ("tenants", "from patients.selectors import role_used_for\n", True),
        ("patients", "def get(self):\n    from triage.selectors import patient_follow_up\n", True),
        ("measurements", "import triage.tasks\n", True),
        ("measurements", "from importlib import import_module\nimport_module('triage.tasks')\n", True),
        ("ebp", "try:\n    from billing import views\nexcept ImportError:\n    pass\n", True),
        ("triage", "from dho.celery import app\n", True),
        ("billing", "import dho\n", True),
        ("measurements", "from ebp.models import PlanVersion\n", False),  # siblings
        ("ebp", "from measurements.types import SPECS\n", False),
        ("triage", "from patients.models import Patient\nfrom tenants import selectors\n", False),
        ("tenants", "from celery import current_app\nfrom . import models\n", False),
    ],
)
def test_the_import_check_fails_on_an_upward_import(app, source, upward):
    assert bool(upward_imports(app, source)) is upward


@pytest.mark.parametrize(
    "app, dependencies, run_before, upward",
    [
        ("measurements", [("triage", "0001_initial")], [], True),
        ("patients", [("tenants", "0001_initial"), ("ebp", "0001_initial")], [], True),
        ("triage", [], [("measurements", "0002_initial")], True),  # makes measurements depend on triage
        ("triage", [("measurements", "0002_initial"), ("auth", "__first__")], [], False),
        ("measurements", [("ebp", "0003_existing_centres_defaults")], [], False),
        ("measurements", [], [("triage", "0001_initial")], False),
    ],
)
def test_the_migration_check_fails_on_an_upward_dependency(app, dependencies, run_before, upward):
    assert bool(upward_migration_dependencies(app, dependencies, run_before)) is upward
