#!/usr/bin/env python3
"""Folds `perf script` output into flamegraph stacks and prints the top entries.

    perf script -i perf.data | python3 bench/fold.py FOLDED [COMM] > top.txt

FOLDED gets one line per distinct stack ("root;…;leaf count", the input of
inferno-flamegraph or flamegraph.pl). Only samples of threads whose name starts
with COMM (default: every thread) are kept. Printed: the functions with the most
samples on CPU themselves (self) and the most samples anywhere in their stack
(inclusive), in per cent of the samples kept.
"""

import collections
import re
import sys

# Rust's symbol hashes and generic noise, so one function is one name.
HASH = re.compile(r"::h[0-9a-f]{16}$")


def clean(symbol):
    symbol = symbol.split("+0x")[0]
    symbol = HASH.sub("", symbol)
    return symbol.replace(";", ":")


def main(argv):
    folded_path = argv[1]
    comm = argv[2] if len(argv) > 2 else ""
    stacks = collections.Counter()
    header, frames = None, []

    def flush():
        if header is not None and header.startswith(comm) and frames:
            stacks[";".join(reversed(frames))] += 1

    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line:
            flush()
            header, frames = None, []
        elif header is None:
            header = line.strip()
        else:
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                symbol = parts[1].rsplit(" (", 1)[0]
                frames.append(clean(symbol))
    flush()

    with open(folded_path, "w", encoding="utf-8") as out:
        for stack, count in stacks.most_common():
            out.write(f"{stack} {count}\n")

    total = sum(stacks.values()) or 1
    own = collections.Counter()
    anywhere = collections.Counter()
    for stack, count in stacks.items():
        names = stack.split(";")
        own[names[-1]] += count
        for name in set(names):
            anywhere[name] += count
    print(f"samples: {total}")
    print("\nself (on CPU in the function itself):")
    for name, count in own.most_common(25):
        print(f"  {100 * count / total:5.1f} %  {name[:150]}")
    print("\ninclusive (anywhere in the stack):")
    for name, count in anywhere.most_common(40):
        print(f"  {100 * count / total:5.1f} %  {name[:150]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
