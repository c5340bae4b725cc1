"""Countries in the console: every country with each of its numbers, whether it was confirmed and
where, and one country's numbers as a form. Crisis and self-harm replies read these numbers, so a
save is checked all or nothing (bot/directory/numbers.py) and then waits for a second admin
(bot/directory/changes.py); it is audited with the country code and counts only."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console import audit
from bot.console.auth import Staff
from bot.console.core import Console
from bot.console.views_approvals import notice
from bot.console.views_directory import country_names
from bot.directory import changes, country_editing
from bot.directory.changes import CountryChange
from bot.directory.numbers import HOW, KINDS, NumberProblem
from bot.store.models import Country

BLANK_ROWS = 3  # empty rows offered below the existing numbers
MAX_ROWS = 60


async def countries(console: Console, request: Request, staff: Staff) -> Response:
    names = country_names(console, request, staff)
    with console.rt.db.session() as s:
        rows = [
            (c.code, names.get(c.code, c.code), list(c.numbers or []))
            for c in country_editing.all_countries(s)
        ]
    rows.sort(key=lambda r: r[1])
    unconfirmed = sum(1 for _, _, numbers in rows for n in numbers if not n.get("confirmed"))
    return console.html(
        request,
        staff,
        "directory_countries.html",
        rows=rows,
        unconfirmed=unconfirmed,
        done=request.query_params.get("done", ""),
    )


def _rows_from(form: FormData) -> list[dict[str, Any]]:
    rows = []
    for i in range(MAX_ROWS):
        number = str(form.get(f"number_{i}", "")).strip()
        if not number or form.get(f"delete_{i}"):
            continue
        rows.append(
            {
                "kind": str(form.get(f"kind_{i}", "")),
                "number": number,
                "label": str(form.get(f"label_{i}", "")),
                "how": str(form.get(f"how_{i}", "voice")),
                "source": str(form.get(f"source_{i}", "")),
                "verified": str(form.get(f"verified_{i}", "")) or None,
                "confirmed": bool(form.get(f"confirmed_{i}")),
                "note": str(form.get(f"note_{i}", "")),
            }
        )
    return rows


async def country(console: Console, request: Request, staff: Staff) -> Response:
    code = request.path_params["code"].upper()
    problem: tuple[str, int] | None = None
    if request.method == "POST":
        form = await console.form(request, staff)
        if form is None:
            return console.error(request, staff, 403, "csrf")
        rows = _rows_from(form)
        found = country_editing.check(rows)
        if not found:
            try:
                with console.rt.db.session() as s:
                    # Every number here can be in a crisis reply: a second admin approves.
                    outcome = changes.propose_or_apply(s, CountryChange(code, rows), staff.id)
                    if outcome.pending is not None:
                        numbers = outcome.pending.payload["numbers"]
                        audit.record(
                            s,
                            staff.id,
                            "approval.propose",
                            change=outcome.pending.id,
                            kind=changes.COUNTRY,
                            country=code.lower(),
                            numbers=len(numbers),
                            confirmed=sum(1 for n in numbers if n["confirmed"]),
                        )
            except NumberProblem as exc:
                found = [country_editing.RowProblem(0, exc.code, str(exc))]
        if not found:
            done = "saved" if outcome.unchanged else "pending"
            return console.go(f"/directory/country/{code}?done={done}")
        problem = (found[0].code, found[0].row)
        numbers = rows
    else:
        with console.rt.db.session() as s:
            stored = s.get(Country, code)
            if stored is None:
                return console.error(request, staff, 404, "missing")
            numbers = list(stored.numbers or [])
    return console.html(
        request,
        staff,
        "directory_country.html",
        status=422 if problem else 200,
        code=code,
        name=country_names(console, request, staff).get(code, code),
        numbers=numbers,
        blank=BLANK_ROWS,
        kinds=KINDS,
        hows=HOW,
        problem=problem,
        done=request.query_params.get("done", ""),
        **notice(console, changes.COUNTRY, code),
    )


def routes(console: Console) -> list[Route]:
    def admin(view: Any) -> Any:
        return console.guard(view, "admin")

    return [
        Route("/directory/countries", admin(countries)),
        Route("/directory/country/{code:str}", admin(country), methods=["GET", "POST"]),
    ]
