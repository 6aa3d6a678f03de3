"""The benchmark report as pasteable Markdown or as JSON (same content)."""

from __future__ import annotations

from typing import Any

import orjson

MIB = 1024 * 1024


def to_json(report: dict[str, Any]) -> str:
    """The whole report, indented JSON."""
    return orjson.dumps(report, option=orjson.OPT_INDENT_2).decode()


def _ms(value: float) -> str:
    return f"{value:,.3f}" if value < 10 else f"{value:,.1f}"


def _mib(value: int | None) -> str:
    return "–" if not value else f"{value / MIB:,.0f} MiB"


def timing_table(report: dict[str, Any]) -> list[str]:
    """One row per operation: in-process p50/p95/p99, then HTTP p50/p95/p99 (ms)."""
    http = report["config"]["http"]
    head = "| operation | in-proc p50 | p95 | p99 |"
    rule = "|---|---:|---:|---:|"
    if http:
        head += " HTTP p50 | p95 | p99 |"
        rule += "---:|---:|---:|"
    head += " results/call |"
    rule += "---:|"
    lines = [head, rule]
    for op in report["operations"]:
        i = op["in_process"]
        cells = [op["label"], _ms(i["p50_ms"]), _ms(i["p95_ms"]), _ms(i["p99_ms"])]
        if http:
            h = op.get("http")
            cells += [_ms(h["p50_ms"]), _ms(h["p95_ms"]), _ms(h["p99_ms"])] if h else ["–"] * 3
        cells.append(f"{i['mean_results']:g}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def socket_table(report: dict[str, Any]) -> list[str]:
    """Timings on the chunk WebSocket (none without ``--http``), then a blank line."""
    rows = report.get("websocket") or []
    if not rows:
        return []
    lines = ["| over the chunk WebSocket | p50 | p95 | p99 | results/call |", "|---|---:|---:|---:|---:|"]
    for op in rows:
        lines.append(f"| {op['label']} | {_ms(op['p50_ms'])} | {_ms(op['p95_ms'])} | {_ms(op['p99_ms'])} "
                     f"| {op['mean_results']:g} |")
    return [*lines, ""]


def _import_rate(build: dict[str, Any]) -> str:
    """The generate rate, saying when it was measured and over how many systems."""
    rate = build.get("rate_systems_per_s")
    text = f"{rate:,} systems/s" if rate else "not measured"
    notes = [f"{build['seconds']:,} s"]
    if build.get("resumed"):
        notes.append(f"a resumed build: {build.get('systems_this_run', 0):,} systems written by the run that finished it")
    if build.get("reused"):
        notes.append("measured when the dataset was built")
    return f"{text} ({', '.join(notes)})"


def _parquet_import_rate(imported: dict[str, Any] | None) -> str:
    """The import of the same systems from Parquet, or why it is missing."""
    if not imported:
        return "not measured (--no-import-rate)"
    rate = imported.get("rate_systems_per_s")
    text = f"{rate:,} systems/s" if rate else "not measured"
    return f"{text} ({imported['seconds']:,} s, {imported['systems']:,} systems, checked first)"


def facts_table(report: dict[str, Any]) -> list[str]:
    """Import rate, sizes per system and peak memory."""
    b, s, m = report["build"], report["sizes"], report["memory"]
    ch = s["chunks"]
    rows = [
        ("import rate (generate)", _import_rate(b)),
        ("import rate (`haven import` of the same systems as Parquet)", _parquet_import_rate(report.get("import"))),
        ("core tables + indexes", f"{s['core_bytes_per_system']:,} B/system ({s['core_bytes'] / MIB:,.1f} MiB)"),
        ("search indexes (FTS5, ids only)", f"{s['fts_bytes_per_system']:,} B/system ({s['fts_bytes'] / MIB:,.1f} MiB)"),
        ("database file", f"{s['file_bytes'] / MIB:,.1f} MiB"),
        ("gzip chunk bytes", f"{ch['gzip_bytes_per_system']:,} B/system ({ch['chunks_sampled']} chunks, "
         f"{ch['systems_in_sample']:,} systems)"),
        ("peak RSS, bench process (queries)", _mib(m.get("bench_peak_rss_bytes"))),
        ("peak RSS, bench process (build)", _mib(m.get("build_peak_rss_bytes"))),
    ]
    if "import_peak_rss_bytes" in m:
        rows.append(("peak RSS, bench process (Parquet import)", _mib(m["import_peak_rss_bytes"])))
    if "server_peak_rss_bytes" in m:
        rows.append(("peak RSS, HTTP server process", _mib(m["server_peak_rss_bytes"])))
    load = report.get("load")
    if load:
        rows.append((f"{load['clients']} clients at once (pages, searches, details, spheres)",
                     f"{load['requests_per_s']:,} requests/s; each {_ms(load['p50_ms'])} / {_ms(load['p95_ms'])} / "
                     f"{_ms(load['p99_ms'])} ms p50 / p95 / p99 ({load['requests']:,} requests)"))
        rows.append((f"peak RSS, HTTP server process, after {load['clients']} clients at once",
                     _mib(m.get("server_load_peak_rss_bytes"))))
    return ["| measure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]


def to_markdown(report: dict[str, Any]) -> str:
    """Headline, the timing table and the facts table, ready to paste into docs."""
    c, mach = report["config"], report["machine"]
    lines = [
        f"### {c['systems']:,} systems (seed {c['seed']}, {c['calls']} calls per operation)",
        "",
        f"{mach['cpus']} CPUs, {mach['platform']}, Python {mach['python']}, SQLite {mach['sqlite']}"
        + (f", server malloc: {mach['server_malloc']}" if mach.get("server_malloc") else "")
        + ". Times in ms.",
        "",
        *timing_table(report),
        "",
        *socket_table(report),
        *facts_table(report),
    ]
    return "\n".join(lines) + "\n"
