"""The quality indicators (/console/indicateurs): the page with its charts, the CSV of each table
(/console/indicateurs.csv) and the users' committee report (/console/indicateurs/rapport.html).
Each download is audit-logged; a malformed period is refused with its French reason (400)."""

from __future__ import annotations

import asyncio
from datetime import date
from urllib.parse import urlencode

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.quality import indicators, report
from bot.services import runtime
from bot.services.accounts import Session
from bot.store.database import Store
from bot.web.console.pages import PREFIX, Console, agent_only
from bot.web.http import security_headers

# The committee report is a standalone file with its own inline CSS: nothing else may load or run if it is opened here.
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def indicators_period(request: Request) -> tuple[date, date, bool]:
    """(start, end, include_demo) of the request, or raises PeriodError (French)."""
    start, end = report.console_period(request.args.get("from"), request.args.get("to"))
    return start, end, request.args.get("demo") == "1"


async def indicators_data(
    console: Console, start, end, include_demo: bool, with_charts: bool = True, table: str | None = None
) -> dict:
    """The indicators of a period, computed in a worker thread on its own SQLite connection: a year
    of traffic takes seconds, during which the chat and the phone must keep answering. `table`: only
    what that table needs (report.collect). Two agents' requests are computed side by side; only the
    charts are drawn one at a time (bot/quality/charts.py DRAWING)."""
    pref = runtime.prefecture()

    def compute() -> dict:
        reader = Store(console.store.path)
        try:
            return report.collect(reader, pref, start, end, include_demo=include_demo, with_charts=with_charts, table=table)
        finally:
            reader.close()

    return await asyncio.get_running_loop().run_in_executor(None, compute)


@agent_only
async def indicators_page(request: Request, console: Console, session: Session) -> HTTPResponse:
    quick = report.quick_periods(report.paris_today())
    try:
        start, end, demo = indicators_period(request)
    except indicators.PeriodError as exc:
        return console.page(
            "indicators.html",
            status=400,
            session=session,
            error=str(exc),
            data=None,
            quick=quick,
            start_s=(request.args.get("from") or "")[:20],
            end_s=(request.args.get("to") or "")[:20],
            demo=request.args.get("demo") == "1",
        )
    data = await indicators_data(console, start, end, demo)

    def link(path: str, **extra) -> str:
        args = {"from": start.isoformat(), "to": end.isoformat(), **({"demo": "1"} if demo else {}), **extra}
        return f"{PREFIX}/{path}?" + urlencode(args)

    return console.page(
        "indicators.html",
        session=session,
        error="",
        data=data,
        tables=report.tables(data),
        quick=quick,
        start_s=start.isoformat(),
        end_s=end.isoformat(),
        demo=demo,
        link=link,
    )


@agent_only
async def indicators_csv(request: Request, console: Console, session: Session) -> HTTPResponse:
    try:
        start, end, demo = indicators_period(request)
    except indicators.PeriodError as exc:
        return console.refuse(400, session, "bad_period", reason=exc)
    wanted = request.args.get("table") or ""
    data = await indicators_data(console, start, end, demo, with_charts=False, table=wanted)
    table = next((t for t in report.tables(data) if t.id == wanted), None)
    if table is None:
        return console.refuse(404, session, "no_table")
    period = {"from": start.isoformat(), "to": end.isoformat()}
    console.audit(session.name, "indicators_csv", "indicators", table.id, detail=period)
    name = f"indicateurs-{table.id}-{start.isoformat()}-{end.isoformat()}.csv"
    resp = response.raw(
        table.csv().encode("utf-8"),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
    return security_headers(resp)


@agent_only
async def indicators_report(request: Request, console: Console, session: Session) -> HTTPResponse:
    try:
        start, end, demo = indicators_period(request)
    except indicators.PeriodError as exc:
        return console.refuse(400, session, "bad_period", reason=exc)
    html = report.render_html(await indicators_data(console, start, end, demo))
    period = {"from": start.isoformat(), "to": end.isoformat()}
    console.audit(session.name, "committee_report", "indicators", None, detail=period)
    name = report.report_name(runtime.prefecture().id, start, end) + ".html"
    resp = response.html(html, headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
    resp.headers["Content-Security-Policy"] = REPORT_CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


ROUTES = [
    ("/indicateurs", ("GET",), indicators_page),
    ("/indicateurs.csv", ("GET",), indicators_csv),
    ("/indicateurs/rapport.html", ("GET",), indicators_report),
]
