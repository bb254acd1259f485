"""Large Monte Carlo runs and sweeps show a progress bar on a terminal, and nowhere else."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
SAMPLES = ["query", "power_for_chips", "-s", "aws-new-carlisle", "--samples", "10000000"]
SWEEP = ["sweep", "gradient_bandwidth", "-s", "b200-500k-nvl72", "--vary", "gpus_per_domain=8:576:1000000"]


def on_a_terminal(db: Path, args: list[str]) -> tuple[int, str]:
    """Run kb with stdout and stderr on a pseudo-terminal; its exit status and everything it wrote."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec kb, never return into pytest
        try:
            os.chdir(CHECKOUT)
            os.execv(sys.executable, [sys.executable, "-m", "kb", "--db", str(db), *args])
        finally:
            os._exit(127)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 1 << 20)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode("utf-8", "replace")


def test_ten_million_samples_show_a_bar_on_a_terminal(tmp_path: Path) -> None:
    db = tmp_path / "kb.sqlite"
    code, out = on_a_terminal(db, SAMPLES)
    assert code == 0, out
    assert "10000000 samples  [" in out and "100%" in out
    assert out.rstrip().splitlines()[-1].startswith("power_for_chips [aws-new-carlisle] = 150 to 168 MW")


def test_no_bar_in_json_nor_in_a_pipe(tmp_path: Path) -> None:
    db = tmp_path / "kb.sqlite"
    code, out = on_a_terminal(db, [*SAMPLES, "--json"])
    assert code == 0 and "samples  [" not in out and out.lstrip().startswith("{"), out
    piped = subprocess.run([sys.executable, "-m", "kb", "--db", str(db), *SAMPLES], cwd=CHECKOUT,
                           capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0 and "[" not in piped.stderr and "%" not in piped.stderr, piped.stderr


def test_a_large_sweep_shows_a_bar_but_not_in_json(tmp_path: Path) -> None:
    db = tmp_path / "kb.sqlite"
    code, out = on_a_terminal(db, [*SWEEP, "--plot", str(tmp_path / "bw.png")])
    assert code == 0 and "1000000 points  [" in out and "100%" in out, out[-300:]
    assert "gradient_bandwidth [b200-500k-nvl72] over 1000000 points: " in out  # drawn, not tabled
    assert (tmp_path / "bw.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out = on_a_terminal(db, [*SWEEP, "--json"])
    assert code == 0 and "points  [" not in out and out.lstrip().startswith("{"), out[:300]
