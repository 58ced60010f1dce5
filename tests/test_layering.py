"""Which app may import which (CONTRIBUTING, "Layers"): an app uses its own layer and the layers
below it, never one above; `dho`, the project package, sits on top and no app imports it.

Four kinds of dependency are checked, because each once let an upper app in: Python imports
(wherever they stand, a function body included, and `import_module("…")`), migration dependencies,
model relations (a lazy `ForeignKey("triage.Alert")` is no import, yet it ties the tables and the
migrations to triage), and template libraries loaded by name (`{% load triage_tags %}` in a
patients template is triage's code run by patients' page). A template under `templates/<app>/`
(or `<app>/templates/`) is the app's; the other templates (`base.html`, `admin/`, `registration/` …)
are the project's (dho), which may load any library.
"""

import ast
import re
from pathlib import Path

import pytest
from django.apps import apps
from django.db.migrations.loader import MigrationLoader
from django.template.backends.django import get_installed_libraries

ROOT = Path(__file__).resolve().parent.parent

# Bottom to top. Apps in one tuple are siblings and may use each other.
LAYERS = (
    ("tenants",), ("patients",), ("measurements", "ebp"), ("triage",), ("billing", "journaling"), ("insight",),
    ("dho",),
)  # fmt: skip
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


LOAD = re.compile(r"{%\s*load\s+(.+?)\s*%}")


def loaded_libraries(source: str) -> list[str]:
    """The library names a template loads: `{% load a b %}` both, `{% load x y from lib %}` lib."""
    names = []
    for found in LOAD.finditer(source):
        words = found.group(1).split()
        names += words[-1:] if "from" in words else words
    return names


def template_owner(path: Path) -> str:
    """The app a template belongs to: `templates/<app>/…` or `<app>/templates/…`; else dho's."""
    parts = path.relative_to(ROOT).parts
    if parts[0] == "templates":
        return parts[1] if len(parts) > 2 and parts[1] in LAYER else "dho"
    return parts[0] if parts[0] in LAYER else "dho"


def library_app(module: str) -> str:
    """The app of a library's module (`triage.templatetags.triage_tags` → triage); Django's and a
    third party's are no app of ours (an empty name, below every layer)."""
    app = module.split(".")[0]
    return app if app in LAYER else ""


def upward_loads(app: str, source: str, libraries: dict[str, str]) -> list[str]:
    """`{% load %}`s of an upper app's library (or of a name no installed library has)."""
    problems = []
    for name in loaded_libraries(source):
        if name not in libraries:
            problems.append(f"loads {name}, which no installed app offers")
        elif above(app, library_app(libraries[name])):
            problems.append(f"loads {name} ({libraries[name]})")
    return problems


def _templates() -> list[Path]:
    return sorted(
        [*(ROOT / "templates").rglob("*.html"), *(p for a in APPS for p in (ROOT / a).glob("templates/**/*.html"))]
    )


def test_no_template_loads_a_library_of_an_app_above_it():
    libraries = get_installed_libraries()
    templates = _templates()
    assert len(templates) > 50
    found = [
        f"{path.relative_to(ROOT)} {problem}"
        for path in templates
        for problem in upward_loads(template_owner(path), path.read_text(encoding="utf-8"), libraries)
    ]
    assert not found, "a template loads a library of a layer above its app (CONTRIBUTING, «Layers»):\n" + "\n".join(
        found
    )


def test_the_template_walk_sees_the_loads_that_are_allowed():
    # Guards against a walk that reads nothing: patients' own library, Django's, and the project's
    # base loading patients' access policy are all seen.
    libraries = get_installed_libraries()
    loads = {(template_owner(path), name) for path in _templates() for name in loaded_libraries(path.read_text())}
    assert {("patients", "patients_tags"), ("patients", "i18n"), ("dho", "access")} <= loads
    assert library_app(libraries["access"]) == "patients" and library_app(libraries["i18n"]) == ""


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


@pytest.mark.parametrize(
    "path, source, upward",
    [
        ("templates/patients/detail.html", "{% extends 'base.html' %}{% load i18n triage_tags %}", True),
        ("templates/patients/x.html", "{%load  static   ebp_tags%}", True),
        ("templates/tenants/x.html", "{% load patients_tags %}", True),
        ("templates/measurements/x.html", "{% load shown from ebp_tags %}", False),  # siblings
        ("templates/patients/x.html", "{% load no_such_library %}", True),
        ("templates/patients/x.html", "{% load i18n static patients_tags people %}", False),
        ("templates/triage/x.html", "{% load i18n ebp_tags patients_tags triage_tags %}", False),
        ("templates/base.html", "{% load static i18n access triage_tags %}", False),  # the project
        ("templates/registration/login.html", "{% load triage_tags %}", False),
    ],
)
def test_the_template_check_fails_on_an_upward_load(path, source, upward):
    libraries = get_installed_libraries()
    assert bool(upward_loads(template_owner(ROOT / path), source, libraries)) is upward


# --- no circle: the modules' import graph has no cycle --------------------------


def _module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def module_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Module → the project modules it imports, wherever the import stands (a name imported from a
    package that is itself a module counts as that module; any other name as the package)."""

    def resolve(name: str) -> str:
        while name and name not in sources:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for module, source in sources.items():
        deps = set()
        for node in ast.walk(ast.parse(source)):  # in a function too: an import there dodges no circle
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in sources else resolve(node.module))
            elif isinstance(node, ast.Import):
                deps.update(resolve(alias.name) for alias in node.names)
        graph[module] = {d for d in deps if d and d != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_module_import_runs_in_a_circle():
    # An app's AppConfig.ready imports its own receivers and registrations on purpose; migrations are history.
    sources = {
        _module_name(path): path.read_text()
        for app in LAYER
        for path in _python_files(app)
        if path.name != "apps.py" and "migrations" not in path.parts
    }
    assert cycles(module_graph(sources)) == []


def test_the_circle_check_finds_a_circle():
    sources = {
        "patients.selectors": "from patients.services import status_of\n",
        "patients.services": "from patients.services.status import status_of\n",
        "patients.services.status": "from patients.selectors import visible_patients\n",
        "patients.access": "from tenants.selectors import user_scope\n",
    }
    assert cycles(module_graph(sources)) == [["patients.selectors", "patients.services", "patients.services.status"]]
