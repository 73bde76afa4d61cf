"""update_readme.py — copies the markdown tables in benchmarks/results/ into README.md.

README.md marks each table's place with a pair of comments:
    <!-- bench:gemm -->
    ...replaced by benchmarks/results/gemm.md...
    <!-- /bench:gemm -->
Run after the benchmarks: `python benchmarks/update_readme.py`. The README is written atomically.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from common import RESULTS, write_atomic

README = Path(__file__).resolve().parent.parent / "README.md"


def main() -> int:
    text = README.read_text()
    pattern = re.compile(r"(<!-- bench:([\w.-]+) -->\n)(.*?)(<!-- /bench:\2 -->)", re.S)
    missing = []

    def fill(m):
        table = RESULTS / f"{m.group(2)}.md"
        if not table.exists():
            missing.append(m.group(2))
            return m.group(0)
        return m.group(1) + table.read_text().rstrip("\n") + "\n" + m.group(4)

    new = pattern.sub(fill, text)
    if new != text:
        write_atomic(README, new)
    for name in missing:
        print(f"no results for {name} (run benchmarks/bench_{name}.py)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
