"""The README's examples run: every `$ shopgraph ...` line and every Python block, against the demo."""

from __future__ import annotations

import os
import re
import shlex
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
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_example_runs(workdir, index):
    code = blocks("python")[index]
    here = os.getcwd()
    os.chdir(workdir)
    try:
        exec(compile(code, f"README.md python block {index}", "exec"), {"__name__": "readme"})
    finally:
        os.chdir(here)
