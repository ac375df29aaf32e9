"""The console's webhook sections and its profile edit forms.

Per account: its webhooks with their delivery counters and its latest delivery attempts.
The edit forms change a profile or subprofile "at Copernica" through the control API's
``profiles``/``subprofiles`` calls (caller ``publisher``), so a person can watch a change
reach a webhook receiver. Every value shown is HTML-escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any, Protocol

from .http import Response

#: The console's edit form posts, under its own route.
EDIT_ROUTE = "edit/"
_ACTION = "/__sandbox__/console/edit/"


class EditControl(Protocol):
    """What the edit forms use of :class:`~api_client.sandbox.admin.ControlApi`."""

    def create_profile(self, body: dict[str, Any]) -> Response: ...
    def update_profile(self, body: dict[str, Any]) -> Response: ...
    def delete_profile(self, body: dict[str, Any]) -> Response: ...
    def update_subprofile(self, body: dict[str, Any]) -> Response: ...
    def delete_subprofile(self, body: dict[str, Any]) -> Response: ...


def webhooks_section(overview: dict[str, dict[str, Any]], key_id: str) -> str:
    """Each account's webhooks and latest deliveries; ``overview`` per account ID."""
    parts = [
        "<h2>Webhooks</h2>",
        '<p class="note">Calls are signed with the key published at '
        f"<code>{escape(key_id)}</code>.</p>",
    ]
    if not overview:
        parts.append("<p>No webhooks registered.</p>")
    for account_id, entry in sorted(overview.items()):
        parts.append(f"<h3>Account <code>{escape(account_id)}</code></h3>")
        parts.append(_hooks(entry["webhooks"]))
        parts.append(_deliveries(entry["deliveries"]))
    return "".join(parts)


def edits_section() -> str:
    """Forms that change data as a person in Copernica would (caller ``publisher``)."""
    fields = (
        '<label>Fields <textarea name="fields" rows="2" cols="30" '
        'placeholder="city=Utrecht"></textarea></label>'
    )
    return (
        "<h2>Change data at Copernica</h2>"
        '<p class="note">As a person in Copernica would: these edits fire webhooks with the '
        "caller <code>publisher</code>. Fields: one <code>name=value</code> per line.</p>"
        f'<form method="post" action="{_ACTION}profile/update"><p>'
        '<label>Profile ID <input name="profile_id" required></label>'
        f'{fields}<button type="submit">Update profile</button></p></form>'
        f'<form method="post" action="{_ACTION}profile/create"><p>'
        '<label>Database ID <input name="database_id" required></label>'
        f'{fields}<button type="submit">Create profile</button></p></form>'
        f'<form method="post" action="{_ACTION}profile/delete"><p>'
        '<label>Profile ID <input name="profile_id" required></label>'
        '<button type="submit">Delete profile</button></p></form>'
        f'<form method="post" action="{_ACTION}subprofile/update"><p>'
        '<label>Subprofile ID <input name="subprofile_id" required></label>'
        f'{fields}<button type="submit">Update subprofile</button></p></form>'
        f'<form method="post" action="{_ACTION}subprofile/delete"><p>'
        '<label>Subprofile ID <input name="subprofile_id" required></label>'
        '<button type="submit">Delete subprofile</button></p></form>'
    )


def edit_post(control: EditControl, action: str, form: dict[str, str]) -> tuple[Response, str]:
    """Run one edit form; returns the control API's answer and what to tell the person.

    A form that does not parse raises ``ValueError`` with a sentence for the page."""
    profile = form.get("profile_id", "").strip()
    subprofile = form.get("subprofile_id", "").strip()
    if action == "profile/update":
        body = {"profile_id": profile, "fields": _fields(form)}
        return control.update_profile(body), f"Profile {profile} updated."
    if action == "profile/create":
        body = {"database_id": form.get("database_id", "").strip(), "fields": _fields(form)}
        answer = control.create_profile(body)
        return answer, "Profile created."
    if action == "profile/delete":
        return control.delete_profile({"profile_id": profile}), f"Profile {profile} removed."
    if action == "subprofile/update":
        body = {"subprofile_id": subprofile, "fields": _fields(form)}
        return control.update_subprofile(body), f"Subprofile {subprofile} updated."
    if action == "subprofile/delete":
        answer = control.delete_subprofile({"subprofile_id": subprofile})
        return answer, f"Subprofile {subprofile} removed."
    raise ValueError(f"Unknown console action {action!r}.")


def _fields(form: dict[str, str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in form.get("fields", "").splitlines():
        if not line.strip():
            continue
        name, equals, value = line.partition("=")
        if not equals or not name.strip():
            raise ValueError(f"Write each field as name=value, not {line.strip()[:40]!r}.")
        fields[name.strip()] = value.strip()
    return fields


def _hooks(hooks: list[dict[str, Any]]) -> str:
    if not hooks:
        return "<p>No webhooks.</p>"
    rows = []
    for hook in hooks:
        limit = []
        if hook["database"] is not None:
            limit.append(f"database {hook['database']}")
        if hook["collection"] is not None:
            limit.append(f"collection {hook['collection']}")
        stats = hook["stats"]
        rows.append(
            f"<tr><td><code>{hook['id']}</code></td><td>{escape(hook['trigger'])}</td>"
            f"<td>{escape(', '.join(hook['callers']) or 'all')}</td>"
            f"<td>{escape(', '.join(limit) or 'all')}</td>"
            f"<td><code>{escape(hook['handler'])}</code></td>"
            f"<td>{stats['queued']} / {stats['attempted']} / {stats['succeeded']} / "
            f"{stats['failed']} / {stats['dropped']}</td></tr>"
        )
    return (
        "<table><thead><tr><th>ID</th><th>Trigger</th><th>Callers</th><th>Limited to</th>"
        "<th>Handler</th><th>Queued / tried / ok / failed / dropped</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _deliveries(items: list[dict[str, Any]]) -> str:
    if not items:
        return '<p class="note">No deliveries yet.</p>'
    rows = "".join(
        f"<tr><td>{escape(item['at'])}</td><td><code>{item['webhook']}</code></td>"
        f"<td>{escape(item['event'])}</td><td>{item['try']}</td>"
        f"<td>{escape(item['outcome'])}</td><td>{escape(item['fault'])}</td></tr>"
        for item in items
    )
    return (
        "<table><thead><tr><th>At</th><th>Webhook</th><th>Event</th><th>Try</th>"
        f"<th>Answer</th><th>Fault</th></tr></thead><tbody>{rows}</tbody></table>"
    )
