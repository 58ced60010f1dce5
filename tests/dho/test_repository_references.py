"""The repository stands alone: no tracked file points outside it (to a sibling `shared` folder, to
background documents by name, to an issue tracker's numbers), and every Markdown link in the
README, CONTRIBUTING and docs/ to a file of the repository finds that file (and the heading an
anchor names). A fact the code needs is written down here, in code or in docs/, not referred to."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve().relative_to(ROOT).as_posix()

FORBIDDEN = {
    "a path to the shared folder": re.compile(r"\.\./shared"),
    "a background document by name": re.compile(r"\b(?:DOMAIN|ARCHITECTURE|STYLE|STANDARDS)\.md\b"),
    "the background seed documents": re.compile(r"\bseeds/|\bseed\s+(?:documents?\b|0\d\d\b)", re.IGNORECASE),
    "an issue number": re.compile(r"\bissues?\s*#?\d+", re.IGNORECASE),
}
# «README, "Access and audit"», «CONTRIBUTING, «Layers»», «docs/api.md, "Every endpoint"»: a section named.
SECTION = re.compile(r"\b(README|CONTRIBUTING|docs/[\w-]+\.md)(?:'s)?,?\s*[«\"“]([^»\"”\n]{2,80})[»\"”]")
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)  # http:, https:, mailto:, …


def _tracked() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)  # noqa: S607
    return [name for name in listed.stdout.decode().split("\0") if name and (ROOT / name).is_file()]


def _text(name: str) -> str | None:
    data = (ROOT / name).read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def forbidden_references(text: str) -> list[str]:
    """What in text points outside the repository: «line: what (the match)»."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for what, pattern in FORBIDDEN.items():
            found += [f"{number}: {what} ({match.group(0)!r})" for match in pattern.finditer(line)]
    return found


def heading_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(markdown: str) -> set[str]:
    outside_code, anchors = True, set()
    for line in markdown.splitlines():
        if line.startswith("```"):
            outside_code = not outside_code
        elif outside_code and (heading := re.match(r"#{1,6}\s+(.*)", line)):
            anchors.add(heading_anchor(heading.group(1)))
    return anchors


def broken_links(name: str, text: str, tracked: set[str]) -> list[str]:
    """The relative links in the Markdown file `name` whose file (or heading) the repository lacks."""
    folders = {parent.as_posix() for path in tracked for parent in Path(path).parents}
    broken = []
    for target in LINK.findall(re.sub(r"```.*?```", "", text, flags=re.DOTALL)):
        if EXTERNAL.match(target):
            continue
        path, _, anchor = target.partition("#")
        normal = _normalise((Path(name).parent / path).as_posix() if path else name)
        if normal not in tracked and normal not in folders:
            broken.append(f"{target}: no such file in the repository")
        elif anchor and normal.endswith(".md") and normal in tracked and anchor not in _anchors_of(normal, name, text):
            broken.append(f"{target}: no heading with that anchor in {normal}")
    return broken


def _anchors_of(path: str, name: str, text: str) -> set[str]:
    # The file being checked is read as it stands (it may not be committed yet).
    return _anchors(text if path == name else (ROOT / path).read_text())


def _normalise(path: str) -> str:
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return "../" + path  # outside the repository: never tracked
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def test_no_tracked_file_refers_outside_the_repository():
    found = []
    for name in _tracked():
        if name == THIS or name.endswith(".lock"):
            continue
        text = _text(name)
        if text is not None:
            found += [f"{name}:{where}" for where in forbidden_references(text)]
    assert not found, "references to what is not in the repository:\n" + "\n".join(found)


def _headings(name: str) -> set[str]:
    return {
        heading.group(1).strip().lower()
        for line in (ROOT / name).read_text().splitlines()
        if (heading := re.match(r"#{1,6}\s+(.*)", line))
    }


def missing_sections(text: str, headings_of) -> list[str]:
    """Named sections («README, "Demo"») that no heading of that document begins with. The README's
    sections may have moved on to a docs/ page: what the README leads to counts as the README."""
    found = []
    for document, section in SECTION.findall(text):
        wanted = section.strip().rstrip(".:").lower()
        if not any(heading.startswith(wanted) for heading in headings_of(document)):
            found.append(f"{document} has no section {section!r}")
    return found


def test_every_section_a_tracked_file_names_exists():
    tracked = _tracked()
    docs = [name for name in tracked if name.startswith("docs/") and name.endswith(".md")]

    def headings_of(document: str) -> set[str]:
        if document == "README":
            return set().union(*(_headings(name) for name in ["README.md", *docs]))
        name = f"{document}.md" if document == "CONTRIBUTING" else document
        return _headings(name) if name in tracked else set()

    found = []
    for name in tracked:
        if name == THIS or name.endswith(".lock"):
            continue
        text = _text(name)
        if text is not None:
            found += [f"{name}: {what}" for what in missing_sections(text, headings_of)]
    assert not found, "references to sections that do not exist:\n" + "\n".join(found)


def test_every_relative_markdown_link_in_the_docs_finds_its_file():
    tracked = set(_tracked())
    docs = [name for name in tracked if name in ("README.md", "CONTRIBUTING.md") or
            (name.startswith("docs/") and name.endswith(".md"))]  # fmt: skip
    assert "README.md" in docs and any(name.startswith("docs/") for name in docs)
    found = []
    for name in sorted(docs):
        found += [f"{name}: {what}" for what in broken_links(name, (ROOT / name).read_text(), tracked)]
    assert not found, "Markdown links to nothing:\n" + "\n".join(found)


CODE_MAP = "docs/code-map.md"
FILE_LIKE = re.compile(
    r"^(?:[\w.-]+/)*[\w.-]+(?:\.(?:py|html|js|css|sh|yml|toml|lock|md)|/)$|^(?:Makefile|Dockerfile)$"
)


def missing_paths(text: str, tracked: set[str]) -> list[str]:
    """The code map's `path`s (files, or folders ending in /) that the repository lacks."""
    folders = {parent.as_posix() for path in tracked for parent in Path(path).parents}
    names = [name for name in re.findall(r"`([^`\s]+)`", text) if FILE_LIKE.match(name)]
    return [name for name in names if name not in tracked and name.rstrip("/") not in folders]


def test_every_path_in_the_code_map_exists():
    tracked = set(_tracked())
    text = (ROOT / CODE_MAP).read_text()
    assert len(re.findall(r"`[\w/.-]+\.py`", text)) > 50  # it is a map of the code
    missing = missing_paths(text, tracked)
    assert not missing, f"{CODE_MAP} names what does not exist:\n" + "\n".join(missing)


def test_the_checks_catch_what_they_are_for():
    # The patterns themselves, on lines that must and must not be caught. The caught lines are put
    # together here, so this file holds no such reference itself (a reviewer's grep finds none).
    shared, md, issue = "../" + "shared", ".m" + "d", "iss" + "ue"
    caught = (f"see {shared}/x", f"per DOMAIN{md}", f"STANDARDS{md} says", f"in seeds/001{md}",
              "se" + "ed 001 5.1", f"fixed in {issue} 12", f"{issue.capitalize()} #18", f"{issue}#7",
              "the se" + "ed documents' cases")  # fmt: skip
    for line in caught:
        assert forbidden_references(line), line
    for line in ("an issue with the gateway", "issues are tracked", "seed_demo", "the seed gives the same", "DOMAIN"):
        assert not forbidden_references(line), line
    tracked = {"README.md", "docs/api.md", "dho/embedded.py"}
    text = "[a](docs/api.md) [b](dho/embedded.py) [c](https://example.org) [d](#two-commands) [e](docs/)"
    assert broken_links("README.md", text + "\n## Two commands\n", tracked) == []
    assert len(broken_links("README.md", f"[x](docs/nope.md) [y]({shared}/DOMAIN{md})", tracked)) == 2
    assert heading_anchor("Forløp: henvisning, vurdering") == "forløp-henvisning-vurdering"
    assert missing_paths(
        "`docs/api.md` `dho/` `Makefile` `visible_patients` `docs/gone.py` `gone/`", tracked | {"Makefile"}
    ) == [
        "docs/gone.py",
        "gone/",
    ]
    headings = {"README": {"demo", "two commands"}, "CONTRIBUTING": {"layers"}}.get
    assert missing_sections('README, "Demo" and (CONTRIBUTING, «Layers»)', lambda d: headings(d, set())) == []
    assert (
        len(missing_sections('README "Store, then score" and docs/api.md, "Nothing"', lambda d: headings(d, set())))
        == 2
    )
