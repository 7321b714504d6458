#!/usr/bin/env python3
"""Issue 29's test on a folder of paired runs: per seed, the final AP of
pruned + fine-tuned against pruned + distilled, the mean paired difference
with its standard error, and whether distillation leads by more than two
standard errors and in every seed.

    python3 tools/experiments/paired_ap.py output/teacher_distill/s500_t4k
    python3 tools/experiments/paired_ap.py docs/results/teacher_distill/s500_t4k

DIR holds, per seed N, either the run folders `ft_seedN/` and
`distill_seedN/` that tools/experiments/distill_seeds.sh writes (the
`metrics.jsonl` found under each) or the kept copies `ft_seedN.metrics.jsonl`
and `distill_seedN.metrics.jsonl`. A run's AP is its last evaluation record
(the one at max_iters), read from metrics.jsonl, not from the logs.
"""
import glob
import json
import math
import os
import re
import sys


def metrics_file(d, arm, seed):
    kept = os.path.join(d, f"{arm}_seed{seed}.metrics.jsonl")
    if os.path.isfile(kept):
        return kept
    found = sorted(glob.glob(os.path.join(d, f"{arm}_seed{seed}", "**", "metrics.jsonl"), recursive=True))
    if len(found) != 1:
        sys.exit(f"paired_ap: {d}: expected one metrics.jsonl for {arm} seed {seed}, found {len(found)}")
    return found[0]


def final_ap(path):
    last = None
    with open(path) as f:
        for n, line in enumerate(f, 1):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"paired_ap: {path}:{n}: not JSON ({e})")
            if "AP" in rec:
                last = rec
    if last is None:
        sys.exit(f"paired_ap: {path}: no evaluation record (field 'AP')")
    return 100 * last["AP"], last.get("iter")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: paired_ap.py DIR")
    d = sys.argv[1]
    seeds = sorted({int(m.group(1)) for p in os.listdir(d) if (m := re.match(r"ft_seed(\d+)", p))})
    seeds = [s for s in seeds if any(p.startswith(f"distill_seed{s}") for p in os.listdir(d))]
    if len(seeds) < 2:
        sys.exit(f"paired_ap: {d}: needs at least two seeds with both runs, found {seeds}")
    rows = []
    for s in seeds:
        ft, ft_it = final_ap(metrics_file(d, "ft", s))
        di, di_it = final_ap(metrics_file(d, "distill", s))
        if ft_it != di_it:
            sys.exit(f"paired_ap: seed {s}: fine-tuned evaluated at step {ft_it}, distilled at {di_it}: not the same schedule")
        rows.append((s, ft, di))
    print("| seed | pruned + fine-tuned | pruned + distilled | difference |")
    print("|---|---|---|---|")
    for s, ft, di in rows:
        print(f"| {s} | {ft:.2f} | {di:.2f} | {di - ft:+.2f} |")
    diff = [di - ft for _, ft, di in rows]
    n = len(diff)
    mean = sum(diff) / n
    se = math.sqrt(sum((x - mean) ** 2 for x in diff) / (n - 1) / n)
    ft_mean = sum(r[1] for r in rows) / n
    di_mean = sum(r[2] for r in rows) / n
    print(f"| mean | {ft_mean:.2f} | {di_mean:.2f} | {mean:+.2f} (paired SE {se:.2f}) |")
    print(f"\n{n} seeds: ahead by more than 2 SE: {'yes' if mean > 2 * se else 'no'}; "
          f"ahead in every seed: {'yes' if all(x > 0 for x in diff) else 'no'}")


if __name__ == "__main__":
    main()
