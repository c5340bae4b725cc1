"""Changes to what a crisis or self-harm reply shows wait for a second admin (docs/security.md).

A crisis reply names the country's emergency, ambulance, police and crisis numbers and the first
active entry of a crisis category (``bot.needs.CRISIS_CATEGORIES``: the hotline). One admin alone
must not be able to change them: a wrong number there costs someone the call they managed to
make. So every change from the console, the command line or an HSDS import goes through
``propose_or_apply``:

- a change to a country's numbers (or its languages, which choose the examples a person with no
  country yet is given) is held as a pending change;
- a change to a service that is, or would become, in a crisis category is held, unless it only
  records a verification (``last_verified``, ``verified_by``: what the "verified today" button
  does too);
- any other service change is applied at once.

``apply_pending`` applies a held change once ``bot.store.approvals.check_approver`` has accepted
the approver, and refuses it if what it changes was changed after it was proposed (the approver
approved a diff against the old state, not against today's).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from bot.directory.country_editing import replace_numbers
from bot.directory.editing import free_id, new_service_id, slug, write_service
from bot.directory.hsds.schema import COUNTRY_CODES
from bot.directory.numbers import NumberProblem, clean_all
from bot.needs import CRISIS_CATEGORIES
from bot.store import approvals
from bot.store.approvals import ApprovalRefused
from bot.store.content_models import PendingChange
from bot.store.models import Country, Organization, Service

SERVICE = "service"
COUNTRY = "country"
KINDS = (SERVICE, COUNTRY)
# What a service change may touch without a second admin (the "verified today" of the form).
QUIET_FIELDS = frozenset({"last_verified", "verified_by"})
# The fields of a service the approver compares, in the order the diff shows them.
SERVICE_FIELDS = (
    "name",
    "names",
    "organization_id",
    "status",
    "country",
    "region",
    "categories",
    "phones",
    "email",
    "languages",
    "hours",
    "description",
    "free",
    "confidential",
    "may_involve_police",
    "may_share_with_immigration",
    "gender_only",
    "for_children",
    "lgbtq_affirming",
    "public_address",
    "address",
    "source",
    "last_verified",
    "verified_by",
)

ServiceAction = Literal["save", "retire", "reactivate", "delete"]


@dataclass(frozen=True)
class ServiceChange:
    """One service to save (create or update), retire, reactivate or delete.

    ``record`` (for "save") has the fields of a ``Service`` as ``editing.parse_service`` or
    ``hsds.importing.normalise`` make them, plus ``organization``: ``{"id"}`` for an existing
    organisation left as it is, or ``{"id"?, "name", "url", "description"}`` to create one (or,
    with an id, to create or update that one, as an import does). ``service_id`` is empty for a
    new entry whose id is chosen when it is stored.
    """

    action: ServiceAction
    service_id: str
    record: dict[str, Any] | None = None


@dataclass(frozen=True)
class CountryChange:
    """A country's whole list of numbers (checked by ``numbers.clean_all``), and its languages
    when given (None leaves them)."""

    code: str
    numbers: list[dict[str, Any]]
    languages: list[str] | None = None


@dataclass(frozen=True)
class Outcome:
    """What ``propose_or_apply`` did: applied at once (``service_id`` is the entry's id) or held
    (``pending`` is the change waiting for a second admin)."""

    applied: bool
    pending: PendingChange | None = None
    service_id: str | None = None
    unchanged: bool = False


@dataclass
class DiffRow:
    field: str
    before: str
    after: str
    changed: bool = True
    # A country number that is not confirmed from a source (the console says so in words).
    before_unconfirmed: bool = False
    after_unconfirmed: bool = False


# --- what an entry looks like, as JSON (the payload, the snapshot, the diff) ---


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def service_snapshot(svc: Service | None) -> dict[str, Any] | None:
    if svc is None:
        return None
    return {key: _json_value(getattr(svc, key)) for key in SERVICE_FIELDS}


def country_snapshot(country: Country | None) -> dict[str, Any] | None:
    if country is None:
        return None
    return {"numbers": list(country.numbers or []), "languages": list(country.languages or [])}


def _loud(snapshot: dict[str, Any] | None) -> dict[str, Any] | None:
    """A snapshot without the verification fields: marking an entry verified while a change to it
    waits does not make that change stale."""
    if snapshot is None:
        return None
    return {k: v for k, v in snapshot.items() if k not in QUIET_FIELDS}


def _unchanged(now: dict[str, Any] | None, before: dict[str, Any] | None) -> bool:
    """Whether an entry is as it was when a change to it was proposed, on the fields the proposal
    recorded (one proposed before a field existed, such as ``names``, is not stale for that)."""
    now, before = _loud(now), _loud(before)
    if now is None or before is None:
        return now == before
    return {key: now.get(key) for key in before} == before


def _record_json(record: dict[str, Any]) -> dict[str, Any]:
    return {key: _json_value(value) for key, value in record.items()}


def _same(a: Any, b: Any) -> bool:
    """Equal once empty parts of a mapping are left out: a form that sends ``weekly: {}`` for
    hours stored without it changes nothing."""

    def bare(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: bare(v) for k, v in value.items() if v not in (None, "", [], {})}
        return value

    return bool(bare(a) == bare(b))


def _crisis(categories: Any) -> bool:
    return bool(CRISIS_CATEGORIES & set(categories or []))


# --- proposing ---


def propose_or_apply(
    session: Session, change: ServiceChange | CountryChange, author: str | None
) -> Outcome:
    """Apply ``change`` now, or hold it for a second admin when it changes what a crisis reply
    shows (module docstring). ``author`` is the admin's id (None: the command line). Raises
    ``NumberProblem`` for a bad number and ``ValueError`` for a service that does not exist."""
    if isinstance(change, CountryChange):
        return _country(session, change, author)
    return _service(session, change, author)


def _country(session: Session, change: CountryChange, author: str | None) -> Outcome:
    code = change.code.upper()
    if code not in COUNTRY_CODES:
        raise NumberProblem("bad_country", f"'{code}' is not an ISO 3166 two-letter code")
    numbers = clean_all(change.numbers)
    current = session.get(Country, code)
    before = country_snapshot(current)
    languages = (
        list(change.languages)
        if change.languages is not None
        else list(current.languages or [])
        if current
        else []
    )
    after = {"numbers": numbers, "languages": languages}
    if before == after:
        return Outcome(applied=True, unchanged=True)
    pending = approvals.propose(session, COUNTRY, code, after, before, author)
    return Outcome(applied=False, pending=pending)


def _service(session: Session, change: ServiceChange, author: str | None) -> Outcome:
    svc = session.get(Service, change.service_id) if change.service_id else None
    if change.action != "save" and svc is None:
        raise ValueError("no such service")
    before = service_snapshot(svc)
    if change.action == "save":
        record = _record_json(dict(change.record or {}))
        after_categories = record.get("categories")
        changed = {
            key
            for key, value in record.items()
            if key not in ("id", "organization")
            and (before is None or not _same(before.get(key), value))
        }
        if before is not None and _organization_changes(session, svc, record):
            changed.add("organization_id")
        quiet = before is not None and changed <= QUIET_FIELDS
        payload: dict[str, Any] = {"action": "save", "record": record}
    else:
        assert svc is not None
        after_categories = svc.categories
        quiet = False
        payload = {"action": change.action}
    held = not quiet and (
        _crisis(before["categories"] if before else None) or _crisis(after_categories)
    )
    if not held:
        sid = _apply_service(session, change.service_id, payload)
        return Outcome(applied=True, service_id=sid)
    if change.service_id:
        target = change.service_id
    else:  # the id is chosen now, so two new entries are two proposals, not one superseding
        record = payload["record"]
        record["id"] = str(record.get("id") or "") or new_service_id(
            session, record.get("country"), record["name"]
        )
        target = "new:" + record["id"]
    pending = approvals.propose(session, SERVICE, target, payload, before, author)
    return Outcome(applied=False, pending=pending, service_id=change.service_id or None)


def _organization_changes(session: Session, svc: Service | None, record: dict[str, Any]) -> bool:
    org = record.get("organization") or {}
    if svc is None:
        return True
    if org.get("id") != svc.organization_id:
        return True
    if "name" not in org:
        return False
    stored = session.get(Organization, svc.organization_id)
    return stored is None or (stored.name, stored.url, stored.description or "") != (
        org.get("name"),
        org.get("url"),
        org.get("description") or "",
    )


# --- applying ---


def apply_pending(session: Session, change: PendingChange) -> str:
    """Apply an approved change (the caller has checked the approver). Returns the target's id:
    a country code, or the service's id (chosen now for a new entry). Raises ApprovalRefused
    "stale" when what it changes was changed after it was proposed."""
    if change.kind == COUNTRY:
        current = country_snapshot(session.get(Country, change.target))
        if current != change.before:
            raise ApprovalRefused("the country's numbers changed since this proposal", "stale")
        payload = change.payload
        replace_numbers(session, change.target, payload["numbers"], payload["languages"])
        return change.target
    if change.kind != SERVICE:
        raise ApprovalRefused(f"not a directory change: {change.kind}", "failed")
    new = change.target.startswith("new:")
    sid = "" if new else change.target
    if not new and not _unchanged(service_snapshot(session.get(Service, sid)), change.before):
        raise ApprovalRefused("the entry changed since this proposal", "stale")
    wanted = change.target.removeprefix("new:") if new else ""
    if wanted and session.get(Service, wanted) is not None:
        raise ApprovalRefused("an entry with this id was made since this proposal", "stale")
    return _apply_service(session, sid, change.payload)


def _apply_service(session: Session, sid: str, payload: dict[str, Any]) -> str:
    action = payload["action"]
    svc = session.get(Service, sid) if sid else None
    if action == "save":
        return _save(session, svc, dict(payload["record"]))
    if svc is None:
        raise ApprovalRefused("the entry does not exist any more", "stale")
    if action == "delete":
        session.delete(svc)
    else:
        svc.status = "retired" if action == "retire" else "active"
    session.flush()
    return svc.id


def _save(session: Session, svc: Service | None, record: dict[str, Any]) -> str:
    org_id = _organization(session, record.pop("organization", None) or {})
    wanted = str(record.pop("id", "") or "")
    if record.get("last_verified"):
        record["last_verified"] = dt.date.fromisoformat(str(record["last_verified"]))
    sid = wanted or ("" if svc else new_service_id(session, record.get("country"), record["name"]))
    return write_service(session, svc, sid, org_id, record).id


def _organization(session: Session, org: dict[str, Any]) -> str:
    org_id = str(org.get("id") or "")
    if "name" not in org:
        if not org_id or session.get(Organization, org_id) is None:
            raise ApprovalRefused("the organisation does not exist any more", "stale")
        return org_id
    found = session.get(Organization, org_id) if org_id else None
    if found is None:
        found = Organization(id=org_id or free_id(session, Organization, slug(org["name"])))
    found.name, found.url = org["name"], org.get("url")
    found.description = org.get("description") or ""
    session.add(found)
    session.flush()
    return found.id


# --- showing ---


def _show(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, dict) and "number" in item:
                parts.append(f"{item['number']} ({item.get('kind', 'voice')})")
            else:
                parts.append(str(item))
        return ", ".join(parts)
    if isinstance(value, dict):
        return ", ".join(
            f"{k}: {_show(v)}" for k, v in value.items() if v not in (None, "", [], {})
        )
    return str(value)


def diff(change: PendingChange) -> list[DiffRow]:
    """Before and after, field by field, for the approver: changed fields first."""
    before = change.before or {}
    if change.kind == COUNTRY:
        return _country_diff(before, change.payload)
    action = change.payload.get("action")
    if action != "save":
        return [DiffRow("status", _show(before.get("status")), action or "")]
    record = dict(change.payload.get("record") or {})
    org = record.pop("organization", {}) or {}
    rows = []
    if "name" in org:
        rows.append(DiffRow("organization", _show(before.get("organization_id")), org["name"]))
    elif before.get("organization_id") != org.get("id"):
        rows.append(DiffRow("organization_id", _show(before.get("organization_id")), org["id"]))
    for key in SERVICE_FIELDS:
        if key in record:
            old, new = before.get(key), record[key]
            rows.append(DiffRow(key, _show(old), _show(new), changed=not _same(old, new)))
    return sorted(rows, key=lambda r: not r.changed)


def _country_diff(before: dict[str, Any], after: dict[str, Any]) -> list[DiffRow]:
    def keyed(numbers: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
        return {(n["kind"], n["number"], n.get("how", "voice")): n for n in numbers}

    def number(n: dict[str, Any] | None) -> str:
        if n is None:
            return "—"
        how = n.get("how", "voice")
        return str(n["number"]) + ("" if how == "voice" else f" ({how})")

    old, new = keyed(before.get("numbers") or []), keyed(after.get("numbers") or [])
    rows = []
    for key in list(old) + [k for k in new if k not in old]:
        was, now = old.get(key), new.get(key)
        rows.append(
            DiffRow(
                key[0],
                number(was),
                number(now),
                changed=was != now,
                before_unconfirmed=was is not None and not was.get("confirmed"),
                after_unconfirmed=now is not None and not now.get("confirmed"),
            )
        )
    if (before.get("languages") or []) != (after.get("languages") or []):
        rows.append(
            DiffRow("languages", _show(before.get("languages")), _show(after.get("languages")))
        )
    return sorted(rows, key=lambda r: not r.changed)
