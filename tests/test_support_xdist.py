"""The suite's own parallel run: tests marked `xdist_group(name)` run in one worker.

tests/kubernetes/ relies on it (each cluster's tests share the cluster one worker starts; in
another worker they would deploy it again, or collide on its addresses), and pytest 9.2.0 with
pytest-xdist 3.8.0 loses it without a word (pytest-dev/pytest-xdist#1386): the pinned pair must
keep it."""

import subprocess
import sys

TEST = """
import os, pytest

pytestmark = pytest.mark.xdist_group("one-cluster")

@pytest.mark.parametrize("i", range(8))
def test_where(i):
    with open(os.path.join(os.environ["WHERE"], f"{i}"), "w") as f:
        f.write(os.environ["PYTEST_XDIST_WORKER"])
"""


def test_a_group_runs_in_one_worker(tmp_path):
    (tmp_path / "test_grouped.py").write_text(TEST)
    where = tmp_path / "where"
    where.mkdir()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "4", "--dist", "loadgroup",
                           "-c", "/dev/null", "--rootdir", str(tmp_path), str(tmp_path / "test_grouped.py")],
                          capture_output=True, text=True, timeout=120, env={**__import__("os").environ, "WHERE": str(where)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    workers = {p.read_text() for p in where.iterdir()}
    assert len(list(where.iterdir())) == 8
    assert len(workers) == 1, f"one group ran in {sorted(workers)}"
