"""The README's examples run: every `$ shopgraph ...` line and every Python block, against the demo."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from tests.helpers import REPO, shared_data

README = (REPO / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def cli_examples() -> list[str]:
    lines = [line[2:].strip() for block in blocks("console") for line in block.splitlines()
             if line.startswith("$ shopgraph ")]
    return [line.split("  #")[0].strip() for line in lines]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """What `shopgraph demo` leaves in the current directory, built by the demo itself."""
    from shopgraph.demo.run import run_demo

    root = tmp_path_factory.mktemp("readme")
    shutil.copytree(REPO / "docs" / "examples", root / "docs" / "examples")   # "Bring your own catalog"
    shown = run_demo(out=root / "shopgraph-demo", say=lambda line: None)
    assert shown["text_hits"] and shown["image_hits"] and shown["cypher_vector_hits"]
    return root


def test_readme_has_examples():
    assert len(cli_examples()) >= 10 and len(blocks("python")) >= 3


@pytest.mark.parametrize("command", cli_examples())
def test_cli_example_runs(workdir, command):
    args = shlex.split(command)[1:]
    if args[0] == "demo" and "--data" not in args:
        return  # the fixture ran the demo itself
    if any("../shared/data" in a for a in args):
        if not shared_data().exists():
            pytest.skip("../shared/data is absent")
        if args[0] == "demo" or "--dataset" in args:
            pytest.skip("ingesting a whole real dataset is covered by tests/test_real_data.py")
    result = subprocess.run([sys.executable, "-m", "shopgraph", *args], cwd=workdir, capture_output=True,
                            text=True, timeout=900)  # a hang guard, not a timing: `train` took >300 s at load 2-12
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    # A catalog ingest's rows are products; an export read back (--dataset) counts nodes and
    # relationships read, which no product count can balance.
    if args[0] == "ingest" and not {"--inspect", "--interactions", "--dataset"} & set(args):
        check_summary(command, result.stdout)


def summary_counts(text: str) -> dict[str, int]:
    """The run summary's "label   number" lines as {label: number}."""
    counts = {}
    for line in text.splitlines():
        found = re.fullmatch(r"(\S.*?)\s+([\d,]+)", line.strip())
        if found:
            counts[found.group(1).strip()] = int(found.group(2).replace(",", ""))
    return counts


def check_summary(command: str, text: str) -> None:
    """A README ingest does what the README says: every row accounted for, and the images found
    (the catalogs with local photos lose at most their deliberately missing or broken ones)."""
    n = summary_counts(text)
    assert n["rows read"] == n["products written"] + n["products unchanged"] + n["quarantined rows"], text
    assert n["rows read"] > 0
    if "odd_catalog" in command:
        assert (n["products written"], n["identifiers invalid"], n["prices unreadable"]) == (7, 1, 1), text
        assert n["images not fetched (URL)"] == 3 and "brakmoor electronics -> brakmoor" in text
    elif "--image-col" in command or "--mapping" in command:
        assert n["without image"] <= 0.05 * n["rows read"], text


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_example_runs(workdir, index):
    code = blocks("python")[index]
    here = os.getcwd()
    os.chdir(workdir)
    try:
        exec(compile(code, f"README.md python block {index}", "exec"), {"__name__": "readme"})
    finally:
        os.chdir(here)


def http_examples() -> list[tuple[str, int | None]]:
    """(shell line, expected HTTP status or None for a plain command) of the README's sh block with
    the curl examples; a trailing `# refused: NNN` names the status a refused request gets."""
    block = next(b for b in blocks("sh") if "curl" in b)
    out = []
    for line in block.splitlines():
        if not line.startswith("$ "):
            continue
        command, _, comment = line[2:].partition("   # ")
        refused = re.search(r"refused: (\d{3})", comment)
        out.append((command.strip(), int(refused.group(1)) if refused else (200 if "curl" in command else None)))
    return out


README_PAIR = ("shop_a:A-626123", "shop_b:L61545935")  # the pair the README's review examples decide on


def test_http_examples_run(workdir):
    """Every curl line of the README against `shopgraph serve`'s app on the demo graph (run last in
    this module: the CLI examples above trained the matcher that fills the review queue)."""
    import shutil

    from tests.serve.conftest import KEY, LiveServer, make_app

    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    import urllib.request

    app, host = make_app(workdir / "shopgraph-demo" / "demo.db")
    server = LiveServer(app).start()
    try:
        env = {**os.environ, "SHOPGRAPH_API_KEY": KEY}
        # The README decides on one pair of its own demo's review queue; which pairs the trained
        # scorer leaves for review can change with the scorer, so the test decides on the queue's
        # first pair instead (what a reader following the README does with their own ids).
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/review?limit=1", timeout=60) as response:
            queue = json.loads(response.read())["items"]
        for command, status in http_examples():
            command = command.replace("localhost:8000", f"127.0.0.1:{server.port}")
            if queue and '"decision"' in command:
                command = command.replace(README_PAIR[0], queue[0]["src"]).replace(README_PAIR[1], queue[0]["dst"])
            if status is not None:
                command += " -w '\\n%{http_code}'"
            result = subprocess.run(["bash", "-c", command], cwd=workdir, env=env, capture_output=True, text=True,
                                    timeout=120)
            assert result.returncode == 0, (command, result.stderr)
            if status is not None:
                body, code = result.stdout.rsplit("\n", 1)
                assert int(code) == status, (command, body)
                assert json.loads(body)
    finally:
        server.stop()
        host.close()
