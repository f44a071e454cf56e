"""CSV directory import: time and peak memory of `bastion directory import` on SQLite.

Writes a directory file of N people (names, external ids, one person in ten with a secondary
address, everyone in one or two of 50 groups) in a temporary folder, then runs the real command
in a child process, so the peak RSS measured is the import's own: the dry run, the first import,
the same file again (nothing to change), and a file where 1% of the people left, 1% were renamed
and 1% are new. A smaller file runs first, to show the memory does not follow the file's size.

    .venv/bin/python benchmarks/csv_import.py [--lines 1000000] [--small 100000]

Target: a million lines in at most 300 MB peak RSS.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HEADER = "email,name,external_id,status,secondary_emails,groups\n"
GROUPS = 50
TARGET_MB = 300


def write_directory(path: Path, lines: int, *, changed: bool = False) -> None:
    """The directory file; ``changed``: 1% left, 1% renamed, 1% more people."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        for n in range(lines + (lines // 100 if changed else 0)):
            status = "deprovisioned" if changed and n % 100 == 7 else "active"
            name = f"Person {n} Renamed" if changed and n % 100 == 42 else f"Person {n}"
            secondary = f"p.{n}@alias.example.com" if n % 10 == 0 else ""
            groups = f"Group {n % GROUPS}" + (f";Group {(n * 7) % GROUPS}" if n % 3 == 0 else "")
            out.write(f"p{n}@example.com,{name},E{n:08d},{status},{secondary},{groups}\n")


def child_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env.update(
        BASTION_DATA_DIR=str(folder),
        BASTION_DATABASE_URL=f"sqlite:///{folder / 'bench.db'}",
        BASTION_LOG_LEVEL="warning",
    )
    return env


def run(env: dict[str, str], *args: str) -> tuple[float, float, str]:
    """Run `bastion ARGS` in a child: wall seconds, the child's peak RSS in MB, its last line."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "bastion", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    last = summary = ""
    for line in process.stdout:  # read as it comes: the preview is long
        last = line.strip() or last
        if "to create" in line:
            summary = line.strip()
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bastion {' '.join(args)} failed: {last}")
    return wall, usage.ru_maxrss / 1024, summary


def measure(folder: Path, lines: int) -> list[tuple[str, ...]]:
    env = child_env(folder)
    subprocess.run([sys.executable, "-m", "bastion", "migrate"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    subprocess.run([sys.executable, "-m", "bastion", "workspaces", "create", "Bench"], env=env,
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    first, changed = folder / "people.csv", folder / "people-changed.csv"
    write_directory(first, lines)
    write_directory(changed, lines, changed=True)
    size_mb = first.stat().st_size / 1024 / 1024
    rows = []
    for label, file, options in (
        ("dry run", first, ("--dry-run",)),
        ("first import", first, ()),
        ("same file again", first, ()),
        ("1% left, renamed, new", changed, ()),
    ):
        wall, rss, summary = run(env, "directory", "import", str(file), *options)
        counts = [int(word) for word in summary.split(";")[0].split() if word.isdigit()]
        rows.append(
            (
                f"{lines:,} ({size_mb:.0f} MB)",
                label,
                f"{wall:,.1f} s",
                f"{rss:,.0f} MB",
                " / ".join(f"{count:,}" for count in counts[:3]),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="people in the big file")
    parser.add_argument("--small", type=int, default=100_000, help="people in the small file")
    args = parser.parse_args()
    table = Table(
        "lines (file)",
        "run",
        "time",
        "peak RSS",
        "create/update/deprov.",
        title=f"bastion directory import on SQLite, in a child process (target ≤ {TARGET_MB} MB)",
    )
    with tempfile.TemporaryDirectory() as tmp:
        env = child_env(Path(tmp))
        _wall, rss, _ = run(env, "--help")
        table.add_row("", "bastion --help", "", f"{rss:,.0f} MB", "")
        for lines in (args.small, args.lines):
            folder = Path(tmp) / str(lines)
            folder.mkdir()
            for row in measure(folder, lines):
                table.add_row(*row)
    Console().print(table)


if __name__ == "__main__":
    main()
