"""The Makefile's Neo4j targets never print the password (make echoes each command it runs)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.helpers import REPO


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_neo4j_targets_keep_the_password_out_of_what_make_prints():
    secret = "pw-for-make-4711"
    shown = subprocess.run(["make", "-n", "neo4j-up", "test-neo4j", f"NEO4J_PASSWORD={secret}"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "docker compose" in shown and "pytest" in shown and secret not in shown
    # ... yet the commands get it, through their environment.
    echoed = subprocess.run(["make", "-s", "neo4j-up", f"NEO4J_PASSWORD={secret}",
                             "COMPOSE=sh -c 'echo $$NEO4J_PASSWORD' --"],
                            cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert echoed.strip() == secret
