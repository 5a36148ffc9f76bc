"""`lint_command` over the whole rust-book with the Google style: wall time per fresh process.

Each run starts a new Python process that imports blockpass, loads the Google package,
reads the 101 chapters, lints them and renders Vale's line format, so the time includes
every start-up cost a user of `blockpass lint` pays. The alert count is printed so that a
run that silently linted nothing cannot pass for a fast one.

    python bench/lint_rust_book.py [--runs 3] [--style Google] [--chapters 'ch0[1-6]*.md']

``--style`` names a package of the shared data or is a style folder; ``--chapters`` picks
chapters by a glob (default: all of them).

Target (issue 4): under 10 s, median of 3 runs, on a 2-core machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Run in the child: the same call `blockpass lint --format vale` makes.
CHILD = """
import sys
from pathlib import Path
from blockpass.lint import lint_command
paths = [Path(p) for p in sys.argv[2:]]
output, code = lint_command(paths, [Path(sys.argv[1])], "vale", "suggestion")
print(output.count("\\n"), code)
"""


def style_folder(style: str) -> Path:
    return Path(style) if Path(style).is_dir() else DATA / "styles" / style / style


def one_run(styles: Path, chapters: list[Path]) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(styles), *map(str, chapters)],
        check=True,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    alerts, _ = done.stdout.split()
    return elapsed, int(alerts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--style", default="Google")
    parser.add_argument("--chapters", default="*.md", help="a glob of chapter file names")
    args = parser.parse_args()
    chapters = sorted((DATA / "corpora" / "rust-book").glob(args.chapters))
    times = []
    for number in range(1, args.runs + 1):
        elapsed, alerts = one_run(style_folder(args.style), chapters)
        times.append(elapsed)
        print(f"run {number}: {elapsed:.2f} s, {alerts} alerts in {len(chapters)} chapters")
    median = statistics.median(times)
    verdict = "meets" if median < 10 else "MISSES"
    print(f"median of {len(times)}: {median:.2f} s ({verdict} the 10 s target)")


if __name__ == "__main__":
    main()
