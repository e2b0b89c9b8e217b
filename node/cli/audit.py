"""`gdi-node audit …`: the audit trail read back for the node's operator (beacon/audit.py).

Disclosure control is only as good as its oversight: the operator answers "who asked what of
which dataset, and what did they learn" from here, without writing SQL against the node's
database. `list` shows requests as they were answered, newest first, each with the question
as the node read it; `summary` adds them up per day, caller and dataset, which is where a
caller walking a dataset shows (and `list` then what it asked). Both read the database the
node uses (settings: DATABASE_URL or the embedded one), as `datasets` does.
"""
from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import click

from node.cli.common import connection, run, settings_of
from node.logs import shown
from node.settings import Settings


class Since(click.ParamType):
    """An ISO date (midnight UTC) or date and time; without a zone, UTC: the trail's days
    are UTC days (`summary`), so a bare date means the same day in both commands."""

    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not a date: give YYYY-MM-DD or an ISO 8601 date and "
                      "time, e.g. 2025-01-31 or 2025-01-31T08:00:00+02:00", param, ctx)
        moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        try:            # in UTC within the years 1-9999, as the database takes it
            moment.astimezone(UTC)
        except OverflowError:
            self.fail(f"{value!r} is outside the years 1 to 9999 in UTC", param, ctx)
        return moment


_SINCE = click.option("--since", type=Since(),
                      help="Only requests from then on: YYYY-MM-DD or an ISO 8601 date and "
                           "time (UTC unless it says otherwise).")
_UNTIL = click.option("--until", type=Since(),
                      help="Only requests before then, as --since reads it (a bare date: "
                           "before that day's midnight UTC).")
_CALLER = click.option("--caller", help="Only this caller, as the trail names it: "
                                        "'token ISSUER SUB', 'address IP' (an IPv6 caller "
                                        "by its network, e.g. 'address 2001:db8::/64') or "
                                        "'network IP PSEUDONYM'.")


def _range(since: datetime | None, until: datetime | None) -> None:
    """A range that holds nothing is the operator's slip, said rather than answered empty."""
    if since is not None and until is not None and until <= since:
        raise click.BadParameter(f"{until.isoformat()} is not after --since "
                                 f"{since.isoformat()}", param_hint="'--until'")
_JSON = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


@click.group()
def audit() -> None:
    """Who asked what of which dataset, and what they were told (the audit trail)."""


@audit.command("list")
@_SINCE
@_UNTIL
@_CALLER
@click.option("--dataset", "dataset_id", help="Only requests that asked this dataset "
                                               "(or, on /network/api, this peer).")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=100, show_default=True,
              help="At most this many entries.")
@_JSON
@click.pass_context
def audit_list(ctx: click.Context, since: datetime | None, until: datetime | None,
               caller: str | None, dataset_id: str | None, limit: int, as_json: bool) -> None:
    """List answered requests, and those refused for their budget, newest first (the last
    second's may still be buffered)."""
    _range(since, until)
    rows = run(_entries(settings_of(ctx), since, until, caller, dataset_id, limit))
    if as_json:
        click.echo(json.dumps([{"at": r["at"].isoformat(), "requestId": r["request_id"],
                                "caller": r["caller"], "endpoint": r["endpoint"],
                                "query": _query(r["query"]),
                                "datasets": json.loads(r["datasets"])} for r in rows],
                              indent=2))
        return
    if not rows:
        click.echo("no audit entries" + (" match" if since or until or caller or dataset_id
                                         else ""))
        return
    click.echo(f"{'AT (UTC)':<19}  {'CALLER':<30} {'ENDPOINT':<24} QUERY -> DATASETS")
    for r in rows:     # the path and query are the caller's to write: escaped (shown)
        click.echo(f"{r['at'].astimezone(UTC):%Y-%m-%d %H:%M:%S}  {shown(r['caller']):<30} "
                   f"{shown(r['endpoint']):<24} {shown(_asked(_query(r['query'])))} -> "
                   f"{_disclosed(json.loads(r['datasets']))}")


def _query(stored: str | None) -> dict[str, Any] | None:
    """An entry's question as recorded (beacon/audit.py ASKED); None in an entry
    written before the trail kept it (migration 0025)."""
    return None if stored is None else json.loads(stored)


def _asked(query: dict[str, Any] | None) -> str:
    """A question on one line: its parameters (as `name=value`, a list comma-joined), its
    filters and the granularity it asked; `-` where the entry holds none."""
    if query is None:
        return "-"
    parts = [f"{name}={_value(value)}"
             for group in (query.get("requestParameters") or {}).values()
             if isinstance(group, dict) for name, value in group.items()]
    if filters := query.get("filters"):
        parts.append(f"filters={_value(filters)}")
    parts.append(str(query.get("requestedGranularity", "-")))
    if (page := query.get("pagination") or {}).get("skip"):
        parts.append(f"skip={page['skip']}")
    return " ".join(parts)


def _value(value: Any) -> str:
    """A parameter's value as a GET would write it: a list comma-joined, text as it is."""
    if isinstance(value, list):
        return ",".join(_value(v) for v in value)
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _disclosed(datasets: dict[str, dict[str, Any]]) -> str:
    """One line per request: what each dataset told the caller, and what it cost them; of a
    network request (/network/api), what each peer asked answered, as passed on. Each with
    the purpose of use its individuals question declared, as recorded: the table left it
    out, so an operator reading who asked individuals of which dataset for what saw every
    question as stating none (found by a review, 2026-12-06)."""
    parts = []
    for key, d in sorted(datasets.items()):
        told = (f"count {d['count']}" if "count" in d
                else "found" if d.get("exists") else "not found")
        if "refused" in d:                     # a 429: nothing told (beacon_api._refused)
            part = (f"{shown(key)} [{d.get('tier')}] refused ({d['refused']} spent), "
                    f"spent {d.get('spent', 0)}")
        elif "peer" in d:
            answered = f", {d['granularity']}] {told}" if "granularity" in d else "]"
            part = f"{shown(key)} [peer {d['peer']}{answered}"
        else:
            part = (f"{shown(key)} [{d.get('tier')}, {d.get('granularity')}] {told}, "
                    f"spent {d.get('spent', 0)}")
        if "purpose" in d:                     # the caller's text: escaped, as the path is
            part += f", purpose {shown(str(d['purpose']))}"
        parts.append(part)
    return "; ".join(parts) or "-"


async def _entries(settings: Settings, since: datetime | None, until: datetime | None,
                   caller: str | None, dataset_id: str | None, limit: int) -> list:
    from beacon.audit import entries
    async with connection(settings) as conn:
        return await entries(conn, since=since, until=until, caller=caller,
                             dataset=dataset_id, limit=limit)


@audit.command("summary")
@_SINCE
@_UNTIL
@_CALLER
@_JSON
@click.pass_context
def audit_summary(ctx: click.Context, since: datetime | None, until: datetime | None,
                  caller: str | None, as_json: bool) -> None:
    """Per UTC day, caller and dataset: requests, requests that found something, and budget
    units spent, the busiest first."""
    _range(since, until)
    rows = run(_summary(settings_of(ctx), since, until, caller))
    if as_json:
        click.echo(json.dumps([{"day": day.isoformat(), "caller": who, "dataset": dataset,
                                "requests": requests, "hits": hits, "spent": spent}
                               for day, who, dataset, requests, hits, spent in rows],
                              indent=2))
        return
    if not rows:
        click.echo("no audit entries" + (" match" if since or until or caller else ""))
        return
    click.echo(f"{'DAY':<10}  {'CALLER':<30} {'DATASET':<20} {'REQUESTS':>8} {'HITS':>8} "
               f"{'SPENT':>8}")
    for day, who, dataset, requests, hits, spent in rows:
        click.echo(f"{day:%Y-%m-%d}  {shown(who):<30} {shown(dataset):<20} {requests:>8} "
                   f"{hits:>8} {spent:>8}")


async def _summary(settings: Settings, since: datetime | None, until: datetime | None,
                   caller: str | None) -> list[tuple[date, str, str, int, int, int]]:
    from beacon.audit import summary
    async with connection(settings) as conn:
        return await summary(conn, since=since, until=until, caller=caller)
