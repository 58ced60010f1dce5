"""The stand-ins start and stop like the embedded PostgreSQL: fresh keys under the given directory,
servers in processes of their own that are gone afterwards, also when the launcher gets SIGTERM.
And the package of stand-ins stays out of the product: nothing outside it imports it, and it refuses
to load without debug or test mode."""

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from dho.demo_persons import PERSONS

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("tenants", "patients", "measurements", "ebp", "triage", "billing", "dho")


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in state  # a zombie has stopped; only its parent's wait is left


def _wait_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.1)
    return False


def test_it_writes_the_demo_keys_and_registry_and_answers(standins):
    assert (standins.directory / "helseid-registry.json").exists()
    registry = json.loads((standins.directory / "helseid-registry.json").read_text())
    demo = next(c for c in registry["clients"] if c["client_id"] == standins.client.client_id)
    assert demo["organisations"] == ["312229544"] and demo["scopes"] == ["nhn:jft/api"]
    # The demo's login: its callback and post-logout URIs, and the test persons of dho/demo_persons.py.
    assert "http://127.0.0.1:8000/innlogging/helseid/callback/" in demo["redirect_uris"]
    assert demo["post_logout_redirect_uris"] == ["http://127.0.0.1:8000/", "http://localhost:8000/"]
    assert {p["pid"] for p in registry["persons"]} >= {row[0] for row in PERSONS}
    assert registry["next_signing_key_file"] and len(standins.issuer_jwks()["keys"]) == 2
    assert not {"d", "p", "q"} & set(demo["jwks"]["keys"][0])  # the registry holds public keys only
    assert "d" in json.loads(standins.client.key_file.read_text())
    assert oct(standins.client.key_file.stat().st_mode & 0o777) == "0o600"
    assert standins.environ()["DHO_HELSEID_ISSUER"] == standins.helseid_issuer
    assert standins.environ()["DHO_JFT_BASE_URL"] == standins.jft_base_url
    assert (standins.directory / "jft-config.json").exists()
    document = requests.get(f"{standins.helseid_issuer}/.well-known/openid-configuration",
                            verify=str(standins.ca_file), timeout=10)  # fmt: skip
    assert document.status_code == 200
    # The certificate is trusted where it is named, nowhere else.
    import pytest

    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{standins.helseid_issuer}/.well-known/openid-configuration", verify=True, timeout=10)


def _launcher(tmp_path, body: str) -> subprocess.Popen[str]:
    script = (
        "import json, sys, time\n"
        "from dho.dev import standins\n"
        f"with standins.running({str(tmp_path)!r}) as env:\n"
        "    print(json.dumps({'pid': env.helseid_pid, 'jft': env.jft_pid}), flush=True)\n"
        f"{body}"
    )
    env = {**os.environ, "DHO_TESTING": "1"}
    return subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def test_it_stops_the_servers_when_its_block_ends(tmp_path):
    launcher = _launcher(tmp_path, "    pass\n")
    pids = json.loads(launcher.stdout.readline())
    assert launcher.wait(30) == 0
    assert _wait_gone(pids["pid"]) and _wait_gone(pids["jft"])


def test_it_stops_the_servers_on_sigterm(tmp_path):
    launcher = _launcher(tmp_path, "    time.sleep(60)\n")
    pids = json.loads(launcher.stdout.readline())
    pid = pids["pid"]
    assert not _gone(pid) and not _gone(pids["jft"])
    launcher.send_signal(signal.SIGTERM)
    assert launcher.wait(30) == 128 + signal.SIGTERM
    assert _wait_gone(pid) and _wait_gone(pids["jft"])


def test_a_server_whose_launcher_was_killed_stops_itself(tmp_path):
    launcher = _launcher(tmp_path, "    time.sleep(60)\n")
    pids = json.loads(launcher.stdout.readline())
    launcher.kill()  # SIGKILL: no finally runs
    launcher.wait(30)
    assert _wait_gone(pids["pid"]) and _wait_gone(pids["jft"])


def test_it_refuses_to_load_outside_debug_and_test_mode():
    env = {k: v for k, v in os.environ.items() if k not in ("DHO_TESTING", "DHO_DEBUG")}
    result = subprocess.run([sys.executable, "-c", "import dho.dev.standins"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode != 0 and "DHO_DEBUG eller DHO_TESTING" in result.stderr
    result = subprocess.run([sys.executable, "-c", "import dho.dev.helseid"], cwd=ROOT, env=env | {"DHO_DEBUG": "1"},
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    result = subprocess.run([sys.executable, "-c", "import dho.dev.jft"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode != 0 and "DHO_DEBUG eller DHO_TESTING" in result.stderr


# The one place that starts the stand-ins, for `make run`, as it starts the embedded PostgreSQL: inside
# this function only, which runs when debug mode asks for them (dho.embedded.standins_wanted), never
# on import and never in production settings (tests/dho/test_run.py).
LAUNCHERS = {"dho/embedded.py": "standins_start"}


def _inside_launcher(path: Path, tree: ast.AST) -> set[int]:
    name = LAUNCHERS.get(str(path.relative_to(ROOT)))
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name]
    assert len(functions) == (1 if name else 0), f"{path}: expected the function {name}"
    return {id(n) for f in functions for n in ast.walk(f)}


def test_no_product_code_imports_the_stand_ins():
    found = []
    for app in PRODUCT:
        for path in sorted((ROOT / app).rglob("*.py")):
            if (ROOT / "dho" / "dev") in path.parents:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            allowed = _inside_launcher(path, tree)
            for node in ast.walk(tree):
                if id(node) in allowed:
                    continue
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
                elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                    names = [node.value]  # import_module("dho.dev…") and the like
                if any(n == "dho.dev" or n.startswith("dho.dev.") for n in names):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, found
