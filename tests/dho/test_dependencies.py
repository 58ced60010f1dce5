"""Runtime and development dependencies are locked apart. Production (the Dockerfile) and `make run`
install requirements.lock, which holds no test tool; `make test`, lint and the benchmarks install
requirements-dev.lock: the same pins plus the dev extra. And test mode comes from DHO_TESTING only,
never from pytest being importable (tests/testing_mode.py sets it for any way of starting pytest)."""

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV_TOOLS = {  # the dev extra: test tools, lint and type checking, the FHIR clients the FHIR API is tested with
    "pytest", "pytest-django", "pytest-xdist", "schemathesis", "playwright", "hypothesis", "factory-boy", "ruff",
    "axe-playwright-python", "pypdf", "fhirclient", "fhirpy", "mypy", "django-stubs", "djangorestframework-stubs",
}  # fmt: skip


def _pins(lock: str) -> dict[str, str]:
    return dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+)", (ROOT / lock).read_text(), re.MULTILINE))


def _name(requirement: str) -> str:
    return re.split(r"[<>=\[;! ]", requirement, maxsplit=1)[0].lower().replace("_", "-").replace(".", "-")


def test_it_keeps_every_test_tool_out_of_the_runtime_lock():
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    assert not DEV_TOOLS & set(runtime)
    assert set(dev) >= DEV_TOOLS
    assert {name: dev.get(name) for name in runtime} == runtime  # the very versions the tests ran with
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    assert declared <= {n.replace(".", "-") for n in runtime}
    assert {_name(r) for r in project["optional-dependencies"]["dev"]} == DEV_TOOLS


def test_it_type_checks_every_services_and_selectors_module():
    checked = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"])
    logic = {str(p.relative_to(ROOT)) for pattern in ("*/services.py", "*/services", "*/selectors.py") for p in
             ROOT.glob(pattern) if p.parts[len(ROOT.parts)] not in (".venv", "tests")}  # fmt: skip
    assert logic and logic <= checked, sorted(logic - checked)
    assert {"billing/calculation.py", "triage/services"} <= checked  # scoring.py is in triage/services
    assert all((ROOT / path).exists() for path in checked), checked


def test_it_installs_the_runtime_lock_in_production_and_the_dev_lock_for_tests():
    dockerfile = "\n".join(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line[:1] != "#")
    assert "-r requirements.lock" in dockerfile and "requirements-dev.lock" not in dockerfile
    makefile = (ROOT / "Makefile").read_text()
    targets = dict(re.findall(r"^([a-z$()_.-]+):\s*([^\n=]*)$", makefile, re.MULTILINE))
    assert targets["run"] == "$(STAMP)"
    for target in ("test", "lint", "bench-ingest", "bench-worklist", "bench-billing"):
        assert targets[target] == "$(DEV_STAMP)", target
    assert re.search(r"^\$\(STAMP\): requirements\.lock .*\n\t.*-r requirements\.lock$", makefile, re.MULTILINE)
    assert re.search(r"^\$\(DEV_STAMP\): requirements-dev\.lock .*\n\t.*-r requirements-dev\.lock$", makefile,
                     re.MULTILINE)  # fmt: skip
    lock = makefile[makefile.index("\nlock:") :].split("\n\n")[0]
    assert "--extra dev -o requirements-dev.lock" in lock
    assert "-c requirements-dev.lock -o requirements.lock" in lock
    assert "--native-tls" in makefile[makefile.index("LOCK :=") :].splitlines()[0]


def test_it_takes_test_mode_from_dho_testing_never_from_what_is_imported():
    tree = ast.parse((ROOT / "dho/settings.py").read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "modules"]
    env = {k: v for k, v in os.environ.items() if k not in ("DHO_TESTING", "SECRET_KEY")} | {"DHO_DEBUG": "0"}
    code = "import os, pytest, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'dho.settings'; django.setup()"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode != 0 and "SECRET_KEY må settes" in result.stderr  # pytest imported: no test mode
    # …while pytest itself, started any way, gets its test mode from tests/testing_mode.py.
    this = "tests/dho/test_dependencies.py::test_it_keeps_every_test_tool_out_of_the_runtime_lock"
    for command in ([sys.executable, "-m", "pytest"], [str(Path(sys.executable).parent / "pytest")]):
        result = subprocess.run([*command, "-q", "-p", "no:cacheprovider", "--collect-only", this], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
