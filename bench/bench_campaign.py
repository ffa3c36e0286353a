"""Fault campaign tables (issue 5): every fault kind against simulated firmware 2.0.2 and 1.3.5, with the time taken.

Each power-cut campaign enumerates every command boundary and byte offsets through every write, from an empty and
from a stale device (>= 200 points); the other kinds enumerate every write (hangs), every command (lost results,
reboots) and seeded noise levels. Throwaway credentials are generated in a temporary directory.

    .venv/bin/python bench/bench_campaign.py [--profile 2.0.2 --profile 1.3.5] [--frontend at_client]
                                             [--points N] [--workers 4]

Prints one table per (profile, front-end): points tried and the four targets (false successes, not desired after
the second apply, unrelated tags touched, CFUN left changed while the device answered; all must be 0), then the time
taken. Exit status 1 when a target is missed. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from credwarden.field.campaign import ALL_KINDS, KINDS, CampaignReport, CampaignSettings, run_campaign
from credwarden.field.sample_manifest import write_campaign_manifest


def print_table(report: CampaignReport) -> None:
    header = ("kind", "points", "1st failed", "false ok", "not desired", "unrelated", "CFUN changed", "CFUN@reboot")
    print(f"\nfault campaign: mfw {report.profile}, {report.frontend}")
    print(f"{header[0]:<12}" + "".join(f"{h:>13}" for h in header[1:]))
    for s in report.summaries:
        print(f"{s.kind:<12}" + "".join(f"{c:>13}" for c in s.figures()))
    total = sum(s.points for s in report.summaries)
    verdict = "all targets met" if not report.violations else f"{len(report.violations)} VIOLATIONS"
    print(f"{'total':<12}{total:>13}   time {report.elapsed_s:.1f} s   {verdict}")
    for result in report.violations[:10]:
        print(f"  violation: {result.point.kind} {result.point.where}: {result.to_json()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--profile", action="append", help="simulated firmware (repeatable) [2.0.2, 1.3.5]")
    parser.add_argument("--frontend", action="append", help="at_client, shell, slm (repeatable) [at_client]")
    parser.add_argument(
        "--kind", action="append", choices=ALL_KINDS, help="fault kinds (repeatable) [all but power-off]"
    )
    parser.add_argument("--points", type=int, default=None, help="at most this many points per kind [all]")
    parser.add_argument("--workers", type=int, default=4, help="points run at a time [4]")
    args = parser.parse_args()
    logging.getLogger("credwarden").setLevel(logging.CRITICAL)  # recoveries provoked on purpose are not news
    missed = False
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cw-bench-campaign-") as scratch:
        manifest = write_campaign_manifest(Path(scratch))
        for profile in args.profile or ["2.0.2", "1.3.5"]:
            for frontend in args.frontend or ["at_client"]:
                settings = CampaignSettings(
                    manifest,
                    kinds=tuple(args.kind or KINDS),
                    points=args.points,
                    profile=profile,
                    frontend=frontend,
                    workers=args.workers,
                )
                report = run_campaign(settings)
                print_table(report)
                missed = missed or bool(report.violations)
    print(f"\ntotal time {time.monotonic() - started:.1f} s")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
