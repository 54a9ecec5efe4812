"""Export and import of telemetry: the spec's JSON telemetry schema (one record per machine and instant, as a
JSON array or JSON Lines), CSV (one row per value), and Parquet when pyarrow is installed."""

from __future__ import annotations

import csv
import json
import math
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from app.core.domain.errors import ValidationError
from app.core.json_input import parse_json
from app.core.telemetry.repository import RawRow
from app.core.telemetry.rollup import RollupRow

FORMATS = ("json", "jsonl", "csv", "parquet")
CSV_HEADER = ["node_id", "job_id", "timestamp", "metric", "value"]
MAX_LINE_BYTES = 1_000_000  # one JSON Lines record
MAX_ARRAY_BYTES = 256 * 2**20  # a JSON array file is parsed whole
ROLLUP_HEADER = ["node_id", "metric", "minute", "n", "min", "mean", "max"]


def format_of(path: Path, fmt: str | None = None) -> str:
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt == "ndjson":
        fmt = "jsonl"
    if fmt not in FORMATS:
        raise ValidationError(f"unknown telemetry format {fmt!r}: use one of {', '.join(FORMATS)}", "format")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ModuleNotFoundError as exc:
            raise ValidationError("Parquet needs pyarrow, which is not installed: export to csv instead",
                                  "format") from exc
    return fmt


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def records(rows: Iterable[RawRow], alerts: dict[tuple[str, float], list[dict[str, Any]]] | None = None
            ) -> Iterator[dict[str, Any]]:
    """Group raw rows (ordered by time) into schema records: one per machine, job and timestamp."""
    cur_key: tuple[str, float, str | None] | None = None
    metrics: dict[str, float] = {}
    for node, metric, ts, value, job in rows:
        key = (node, ts, job)
        if key != cur_key:
            if cur_key is not None:
                yield _record(cur_key, metrics, alerts)
            cur_key, metrics = key, {}
        metrics[metric] = value
    if cur_key is not None:
        yield _record(cur_key, metrics, alerts)


def _record(key: tuple[str, float, str | None], metrics: dict[str, float],
            alerts: dict[tuple[str, float], list[dict[str, Any]]] | None) -> dict[str, Any]:
    node, ts, job = key
    # A stable id: the same sample exported twice gets the same telemetry_id.
    tid = uuid.uuid5(uuid.NAMESPACE_URL, f"imewe:telemetry:{node}:{ts!r}:{job}")
    # JSON has no NaN: a reading that was not a number is exported as null.
    metrics = {k: (v if math.isfinite(v) else None) for k, v in metrics.items()}
    return {"telemetry_id": str(tid), "node_id": node, "job_id": job, "timestamp": iso(ts), "metrics": metrics,
            "alerts": (alerts or {}).get((node, ts), [])}


def write_json(out: TextIO, recs: Iterable[dict[str, Any]], lines: bool) -> int:
    n = 0
    if lines:
        for r in recs:
            out.write(json.dumps(r, separators=(",", ":"), allow_nan=False) + "\n")
            n += 1
        return n
    out.write("[\n")
    for r in recs:
        out.write((",\n" if n else "") + json.dumps(r, separators=(",", ":"), allow_nan=False))
        n += 1
    out.write("\n]\n")
    return n


def write_csv(out: TextIO, rows: Iterable[RawRow]) -> int:
    w = csv.writer(out)
    w.writerow(CSV_HEADER)
    n = 0
    for node, metric, ts, value, job in rows:
        w.writerow([node, job or "", iso(ts), metric, repr(value)])
        n += 1
    return n


def write_rollups_csv(out: TextIO, rows: Iterable[RollupRow]) -> int:
    w = csv.writer(out)
    w.writerow(ROLLUP_HEADER)
    n = 0
    for r in rows:
        w.writerow([r.node_id, r.metric, iso(r.minute), r.n, repr(r.vmin), repr(r.vmean), repr(r.vmax)])
        n += 1
    return n


def write_parquet(path: Path, rows: Iterable[RawRow]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols: dict[str, list[Any]] = {"node_id": [], "job_id": [], "ts": [], "metric": [], "value": []}
    for node, metric, ts, value, job in rows:
        cols["node_id"].append(node)
        cols["job_id"].append(job)
        cols["ts"].append(ts)
        cols["metric"].append(metric)
        cols["value"].append(value)
    pq.write_table(pa.table(cols), path)
    return len(cols["ts"])


# ---------------------------------------------------------------------------------------------- import
EARLIEST_S = 946_684_800.0  # 2000-01-01: no machine of ours logged before it
FUTURE_SLACK_S = 3600.0  # clocks disagree a little; a reading from next year is not a clock


@dataclass(frozen=True, slots=True)
class ImportRules:
    """What an imported reading must satisfy beyond its own shape: a machine this site knows, a plausible time."""

    known_nodes: frozenset[str] | None = None  # None: any machine
    now_s: float | None = None  # None: no upper bound

    def check(self, node: str, ts: float, where: str) -> None:
        if self.known_nodes is not None and node not in self.known_nodes:
            raise ValidationError(f"{where}: no machine {node} on this site (register it first)", "node_id")
        if not EARLIEST_S <= ts or (self.now_s is not None and ts > self.now_s + FUTURE_SLACK_S):
            raise ValidationError(f"{where}: timestamp {_safe_iso(ts)} is not a plausible time of a reading "
                                  "(before 2000 or in the future)", "timestamp")


def _safe_iso(ts: float) -> str:
    try:
        return iso(ts)
    except (OverflowError, ValueError, OSError):
        return repr(ts)


def parse_time(value: Any, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        raise ValidationError(f"{where}: timestamp must be an ISO 8601 string", "timestamp")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(f"{where}: {value!r} is not an ISO 8601 time", "timestamp") from exc
    if t.tzinfo is None:
        raise ValidationError(f"{where}: {value!r} has no time zone (write it as UTC, e.g. ...Z)", "timestamp")
    return t.timestamp()


_METRIC = re.compile(r"[A-Za-z0-9_.\-]{1,40}")


def _metric_name(name: str, where: str) -> None:
    if not _METRIC.fullmatch(name):
        raise ValidationError(f"{where}: metric name {name[:40]!r} is not 1 to 40 letters, digits, '_', '.' or '-'",
                              "metrics")


def _uuid(value: Any, where: str, field: str, optional: bool = False) -> str | None:
    if value in (None, "") and optional:
        return None
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as exc:
        raise ValidationError(f"{where}: {field} {value!r} is not a UUID", field) from exc


def rows_from_record(rec: Any, where: str, rules: ImportRules = ImportRules()
                     ) -> tuple[list[RawRow], list[dict[str, Any]]]:
    """Validate one schema record; its raw rows and its alerts."""
    if not isinstance(rec, dict):
        raise ValidationError(f"{where}: a telemetry record is a JSON object")
    node = _uuid(rec.get("node_id"), where, "node_id")
    job = _uuid(rec.get("job_id"), where, "job_id", optional=True)
    ts = parse_time(rec.get("timestamp"), where)
    rules.check(node or "", ts, where)
    metrics = rec.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        raise ValidationError(f"{where}: metrics must be a non-empty object of name: number", "metrics")
    rows: list[RawRow] = []
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValidationError(f"{where}: metric {name!r} must be a finite number, not {value!r}", "metrics")
        _metric_name(name, where)
        rows.append((node, name, ts, float(value), job))
    alerts = rec.get("alerts") or []
    if not isinstance(alerts, list):
        raise ValidationError(f"{where}: alerts must be a list", "alerts")
    return rows, [dict(a, node_id=node, ts=ts) for a in alerts if isinstance(a, dict)]


def read_json(path: Path, rules: ImportRules = ImportRules()) -> Iterator[tuple[list[RawRow], list[dict[str, Any]]]]:
    try:
        with path.open("rb") as f:
            head = f.read(256).lstrip()[:1]
        if head == b"[":
            if path.stat().st_size > MAX_ARRAY_BYTES:
                raise ValidationError(f"{path.name}: a JSON array over {MAX_ARRAY_BYTES // 2**20} MB is read whole; "
                                      "export and import big files as JSON Lines (.jsonl), read a record at a time")
            data = parse_json(path.read_bytes(), path.name)
            for i, rec in enumerate(data):
                yield rows_from_record(rec, f"{path.name} record {i + 1}", rules)
            return
        with path.open("rb") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                if len(line) > MAX_LINE_BYTES:
                    raise ValidationError(f"{path.name} line {i}: longer than {MAX_LINE_BYTES // 1000} kB")
                where = f"{path.name} record {i} (line {i})"
                yield rows_from_record(parse_json(line, where), where, rules)
    except OSError as exc:
        raise ValidationError(f"cannot read {path.name}: {exc.strerror or exc}") from exc


def read_csv(path: Path, rules: ImportRules = ImportRules()) -> Iterator[RawRow]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            yield from _csv_rows(path, csv.reader(f), rules)
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{path.name}: not a CSV text file (bytes that are not UTF-8 at {exc.start})") from exc
    except csv.Error as exc:  # a NUL byte, or a field larger than the csv module's limit
        raise ValidationError(f"{path.name}: not a readable CSV file ({exc})") from exc


def _csv_rows(path: Path, r: Any, rules: ImportRules) -> Iterator[RawRow]:
    header = next(r, None)
    if header != CSV_HEADER:
        raise ValidationError(f"{path.name}: the header must be {','.join(CSV_HEADER)}")
    for i, row in enumerate(r, 2):
        where = f"{path.name} record {i - 1} (line {i})"
        if len(row) != 5:
            raise ValidationError(f"{where}: expected 5 columns, found {len(row)}")
        node, job, when, metric, value = row
        if len(metric) > 40 or len(value) > 40 or len(when) > 40:
            raise ValidationError(f"{where}: a field is too long for telemetry")
        try:
            v = float(value)
        except ValueError as exc:
            raise ValidationError(f"{where}: value {value[:40]!r} is not a number") from exc
        _metric_name(metric, where)
        if not math.isfinite(v):
            raise ValidationError(f"{where}: needs a finite value")
        node_id, ts = _uuid(node, where, "node_id") or "", parse_time(when, where)
        rules.check(node_id, ts, where)
        yield (node_id, metric, ts, v, _uuid(job, where, "job_id", optional=True))
