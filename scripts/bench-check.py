#!/usr/bin/env python3
"""Regression check for hot paths: instructions and allocations per operation.

For every hot path of `clusterkit-hotpaths` (Sources/HotPaths):
  - allocations per operation: `clusterkit-hotpaths --measure` counts allocation calls
    in-process (CMallocCounter) at 2,000 and 12,000 iterations and divides the difference
    by 10,000;
  - instructions per operation: the same difference of callgrind's instruction counts
    (`valgrind --tool=callgrind`, whole process) of `clusterkit-hotpaths NAME 2000` and
    `NAME 12000`.
The differences cancel set-up, process start and runtime initialisation. Neither figure
depends on machine load, so the check works on a busy shared machine; hardware counters
(perf) are not available on every VM, callgrind is.

Compares with benchmarks/hotpaths-thresholds.json; exits 1 if a figure exceeds its
threshold or a path has none. `--update` writes new thresholds: instructions + 10 %,
allocations + 0.05 (rounded up to hundredths).

Usage: scripts/bench-check.py [--binary PATH] [--update] [--only NAME]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

N1, N2 = 2_000, 12_000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THRESHOLDS = os.path.join(ROOT, "benchmarks", "hotpaths-thresholds.json")


def instructions(binary, name, iterations):
    """callgrind's total instruction count of one run."""
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "callgrind.out")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, name, str(iterations)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
        with open(out, encoding="utf-8", errors="replace") as data:
            for line in data:
                if line.startswith("totals:"):
                    return int(line.split()[1])
    sys.exit(f"bench-check: no totals in callgrind's output for {name}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "clusterkit-hotpaths"))
    parser.add_argument("--update", action="store_true")
    parser.add_argument("--only")
    options = parser.parse_args()
    # valgrind 3.19 cannot read the DWARF 5 that Swift 6.3 emits: count a copy without it.
    stripped = tempfile.NamedTemporaryFile(prefix="clusterkit-hotpaths-", delete=False)
    stripped.close()
    try:
        subprocess.run(["strip", "--strip-debug", "-o", stripped.name, options.binary], check=True)
        return check(options.binary, stripped.name, options)
    finally:
        os.unlink(stripped.name)


def check(binary, stripped, options):
    names = subprocess.run([binary, "--list"], check=True, capture_output=True, text=True, timeout=60).stdout.split()
    if options.only:
        names = [n for n in names if n == options.only]
    measured = subprocess.run([binary, "--measure"] + names, check=True, capture_output=True, text=True, timeout=600).stdout
    allocations = {row["name"]: row for row in map(json.loads, measured.splitlines())}
    thresholds = {}
    if os.path.exists(THRESHOLDS):
        with open(THRESHOLDS) as handle:
            thresholds = json.load(handle)
    failed = []
    print("| hot path | instructions/op | threshold | allocations/op | threshold | ns/op (info) | ok? |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        per_op = (instructions(stripped, name, N2) - instructions(stripped, name, N1)) / (N2 - N1)
        allocs = allocations[name]["allocationsPerOperation"]
        if options.update:
            thresholds[name] = {"instructions": math.ceil(per_op * 1.10), "allocations": math.ceil((allocs + 0.05) * 100) / 100}
        limit = thresholds.get(name)
        ok = limit is not None and per_op <= limit["instructions"] and allocs <= limit["allocations"]
        if not ok:
            failed.append(name)
        shown = (lambda key: str(limit[key]) if limit else "none")
        print(f"| {name} | {per_op:.0f} | {shown('instructions')} | {allocs:.2f} | {shown('allocations')} | "
              f"{allocations[name]['nanosecondsPerOperation']:.0f} | {'yes' if ok else 'NO'} |")
        sys.stdout.flush()
    if options.update:
        with open(THRESHOLDS, "w") as handle:
            json.dump(thresholds, handle, indent=2, sort_keys=True)
            handle.write("\n")
        print(f"thresholds written to {os.path.relpath(THRESHOLDS, ROOT)}")
        return 0
    if failed:
        print(f"bench-check: over threshold or without one: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
