"""`make bench`: how fast the app is, against a trivial route of itself, as history grows.

    python -m bench            quick: 1k and 100k stored appointments, short phases
    python -m bench --full     1k, 100k and 1M, longer phases, worker models side by side

Needs PostgreSQL (BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/postgres).
The databases it builds are kept (consular_bench_v*_N) and reused by the next run; the first
run of a size builds it (1M takes a while). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime

from bench import build, inprocess, web


def _machine() -> str:
    cores = os.cpu_count()
    memory = ""
    try:
        with open("/proc/meminfo") as info:
            kib = int(info.readline().split()[1])
            memory = f", {kib / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    import sqlalchemy as sa

    with build.bench_app(build.sqlalchemy_url("postgres", build.ADMIN_URL)).app_context():
        from consular.extensions import db

        server = db.session.scalar(sa.text("SHOW server_version"))
    return (
        f"{platform.node()}: {cores} cores{memory}, Python {platform.python_version()}, "
        f"PostgreSQL {server}; {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
    )


def _print(*lines: str) -> None:
    print(*lines, sep="\n", flush=True)


def history_table(sizes: list[int], repeats: int) -> dict[int, dict[str, float]]:
    results: dict[int, dict[str, float]] = {}
    for size in sizes:
        database = build.ensure_database(size, log=lambda line: print(line, file=sys.stderr))
        results[database.appointments] = inprocess.medians(database, repeats)
    stored = list(results)
    _print(
        "",
        "### In-process medians as the history grows (ms; Flask test client, PostgreSQL)",
        "",
        "| appointments stored | "
        + " | ".join(f"{n:,}" for n in stored)
        + f" | {stored[-1]:,} / {stored[0]:,} |",
        "|---|" + "---|" * (len(stored) + 1),
    )
    for name, title in inprocess.ROUTES:
        values = [results[n][name] for n in stored]
        growth = values[-1] / values[0] if values[0] else float("nan")
        _print(f"| {title} | " + " | ".join(f"{v:,.1f}" for v in values) + f" | {growth:.2f}× |")
    return results


def throughput_table(
    database: build.BenchDatabase,
    model: web.WorkerModel,
    seconds: float,
    rounds: int,
    routes: tuple[str, ...] | None = None,
) -> dict[str, web.RouteFigures]:
    chosen = {"routes": routes} if routes else {}
    figures = web.throughput(database, model, seconds=seconds, rounds=rounds, **chosen)
    _print(
        "",
        f"### Throughput, {database.appointments:,} appointments stored, {model.label}, "
        "50 connections",
        "",
        "Proof of work off (POW_ENABLED=0): the load solves no challenge; what checking and "
        "spending a proof costs a hold is in the in-process table.",
        "",
        "| route | req/s | share of the trivial route | p95 | failures |",
        "|---|---|---|---|---|",
    )
    order = ["trivial", "offices", "availability", "calendar", "staff_day", "hold"]
    for name in order:
        if name not in figures:
            continue
        f = figures[name]
        # Which answers were not the expected ones: a 409 is a lost race, a 503 an outage.
        other = ", ".join(
            f"{number}× {status}"
            for status, number in sorted(f.statuses.items())
            if status not in (200, 201)
        )
        _print(
            f"| {f.title} | {f.rate:,.0f} | {f.share * 100:.1f} % | {f.p95_ms:,.1f} ms | "
            f"{f.failures}{f' ({other})' if other else ''} |"
        )
    return figures


def rush_table(database: build.BenchDatabase, worker_class: str, threads: int) -> web.RushFigures:
    figures = web.rush(database, worker_class=worker_class, threads=threads)
    label = f"4 {worker_class} workers" + (f" × {threads} threads" if threads > 1 else "")
    _print(
        "",
        f"### A day opening: {figures.clients:,} clients, {figures.concurrency} at once, "
        f"{figures.seats} seats, {label}",
        "",
        "Proof of work off (POW_ENABLED=0): this measures the booking core under a rush.",
        "",
        "| seats held | distinct seats | overbooked slots | clients without a seat | requests | "
        "errors | p50 | p99 | holds p99 | last client done |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {figures.held} | {figures.distinct_seats_held} | {figures.overbooked_slots} | "
        f"{figures.clients_without_seat} | {figures.requests:,} | {figures.errors} | "
        f"{figures.p50_ms:,.0f} ms | {figures.p99_ms:,.0f} ms | {figures.hold_p99_ms:,.0f} ms | "
        f"{figures.last_client_s:.2f} s |",
    )
    if figures.held != figures.seats or figures.distinct_seats_held != figures.seats:
        raise SystemExit("the rush did not fill every seat exactly once")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--full", action="store_true", help="1k, 100k and 1M; longer phases")
    parser.add_argument("--sizes", help="comma-separated sizes instead of the defaults")
    parser.add_argument("--only", help="comma-separated parts: history, throughput, models, rush")
    parser.add_argument(
        "--routes",
        help="comma-separated routes of the throughput part: offices, availability, calendar, "
        "staff_day, hold (default: all)",
    )
    parser.add_argument(
        "--before",
        metavar="CHECKOUT",
        help="first measure the app of another checkout (an older commit, with /__ping) on "
        "the same databases and schema, to print before and after in one run",
    )
    arguments = parser.parse_args()
    if arguments.before:
        _measure_before(arguments.before, [a for a in sys.argv[1:] if a != arguments.before])
    if arguments.sizes:
        sizes = [int(n) for n in arguments.sizes.split(",")]
    else:
        sizes = [1_000, 100_000, 1_000_000] if arguments.full else [1_000, 100_000]
    parts = set((arguments.only or "history,throughput,models,rush").split(","))
    if not arguments.full and not arguments.only:
        parts.discard("models")
    seconds, rounds, repeats = (5.0, 3, 40) if arguments.full else (2.0, 2, 15)
    started = time.perf_counter()
    _print(f"Machine: {_machine()}")
    if "history" in parts:
        history_table(sizes, repeats)
    largest = build.ensure_database(sizes[-1], log=lambda line: print(line, file=sys.stderr))
    chosen = web.WorkerModel("production", workers=2, worker_class="gthread", threads=4)
    if "throughput" in parts:
        routes = tuple(arguments.routes.split(",")) if arguments.routes else None
        throughput_table(largest, chosen, seconds, rounds, routes)
    if "models" in parts:
        for model in (
            web.WorkerModel("sync", workers=2),
            web.WorkerModel("gthread-2", workers=2, worker_class="gthread", threads=2),
            web.WorkerModel("gthread-8", workers=2, worker_class="gthread", threads=8),
        ):
            throughput_table(largest, model, seconds, rounds)
    if "rush" in parts:
        rush_table(largest, "gthread", 4)
        if arguments.full:
            rush_table(largest, "sync", 1)
    _print("", f"(bench took {time.perf_counter() - started:.0f} s)")


def _measure_before(checkout: str, argv: list[str]) -> None:
    import subprocess
    from pathlib import Path

    here = Path(__file__).resolve().parent.parent
    root = Path(checkout).resolve()
    commit = subprocess.run(
        ["git", "-C", str(root), "log", "-1", "--format=%h %s"], capture_output=True, text=True
    ).stdout.strip()
    _print(f"## Before: {root} ({commit})", "")
    argv = [a for a in argv if a != "--before"]
    subprocess.run(
        [sys.executable, "-m", "bench", *argv],
        cwd=root,
        env={
            **os.environ,
            "BENCH_APP_ROOT": str(root),
            "BENCH_NO_MIGRATE": "1",
            "PYTHONPATH": f"{root}{os.pathsep}{here}",
        },
        check=True,
    )
    _print("", "## After: this checkout", "")


if __name__ == "__main__":
    main()
