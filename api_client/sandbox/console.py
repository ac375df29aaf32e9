"""The sandbox console: one plain HTML page at the sandbox's root, for people.

It lists the accounts with their databases, collections and counts, the API tokens issued
(with *Revoke*), the pending faults (with forms to add one and to clear them all), each
account's webhooks and latest deliveries, and forms to change a (sub)profile as a person in
Copernica would (:mod:`~api_client.sandbox.console_webhooks`). Its
forms post to ``/__sandbox__/console/...``, answered by :func:`console_post` through the
same :class:`~api_client.sandbox.admin.ControlApi` methods as the JSON control calls, and
then back to the page (303). Every value is HTML-escaped.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any, Protocol
from urllib.parse import quote

from .console_webhooks import EDIT_ROUTE, EditControl, edit_post, edits_section, webhooks_section
from .http import Request, Response, html_response


class ControlApi(EditControl, Protocol):
    """What the console uses of :class:`~api_client.sandbox.admin.ControlApi`."""

    def overview(self) -> dict[str, Any]: ...
    def signing_key_id(self) -> str: ...
    def revoke(self, body: dict[str, Any]) -> Response: ...
    def add_fault(self, body: dict[str, Any]) -> Response: ...
    def clear_faults(self, body: dict[str, Any]) -> Response: ...


#: The console's form posts, under the control API's prefix.
CONSOLE_ROUTE = "console/"
_ACTION = "/__sandbox__/console/"

_STYLE = """
body { font-family: system-ui, sans-serif; background: #f4f6f8; color: #1d2630; margin: 0; }
main { max-width: 70rem; margin: 2rem auto; background: #fff; padding: 1.5rem 2rem;
       border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.1); }
h1 { font-size: 1.4rem; margin-top: 0; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; } td, th { text-align: left;
        padding: .3rem .5rem; border-bottom: 1px solid #e3e7eb; vertical-align: top; }
code { font-size: .85rem; } .note { color: #5b6873; font-size: .9rem; }
.notice { background: #e8f1fd; padding: .5rem .8rem; border-radius: 4px; }
.error { background: #fdecea; } form.inline { display: inline; }
input, select { margin-right: .4rem; } label { margin-right: .8rem; }
"""


def console_page(control: ControlApi, request: Request) -> Response:
    """The console page (``GET /``)."""
    overview = control.overview()
    notice = request.param("notice")
    error = request.param("error")
    parts = [
        "<h1>Copernica sandbox</h1>",
        '<p class="note">A local simulator of Copernica. This page and its JSON twin '
        "(<code>/__sandbox__/</code>) change what the simulated Copernica answers; nothing "
        "here is counted in the request statistics.</p>",
    ]
    if notice:
        parts.append(f'<p class="notice" role="status">{escape(notice)}</p>')
    if error:
        parts.append(f'<p class="notice error" role="alert">{escape(error)}</p>')
    parts.append(_accounts(overview["accounts"]))
    parts.append(_tokens(overview["tokens"]))
    parts.append(_faults(overview["faults"]))
    parts.append(_options(overview["options"]))
    parts.append(webhooks_section(overview["webhooks"], control.signing_key_id()))
    parts.append(edits_section())
    return html_response(200, _page("Copernica sandbox", "".join(parts)), _NO_STORE)


def console_post(control: ControlApi, action: str, request: Request) -> Response:
    """Run one console form through the control API's methods, then back to the page.

    The control API's own input errors (``ControlError``) are left to the caller."""
    form = request.form()
    if action == "revoke":
        token = form.get("access_token", "")
        answer = control.revoke({"access_token": token})
        done = f"Token {_short(token)} revoked: Copernica now refuses it."
    elif action == "faults":
        try:
            spec = _fault_spec(form)
        except ValueError as exc:
            return console_back(error=str(exc))
        answer = control.add_fault(spec)
        done = f"Fault added for {spec.get('method') or 'any method'} {spec['path']}."
    elif action == "faults/clear":
        answer = control.clear_faults({})
        done = "Every pending fault cleared."
    elif action.startswith(EDIT_ROUTE):
        try:
            answer, done = edit_post(control, action[len(EDIT_ROUTE) :], form)
        except ValueError as exc:
            return console_back(error=str(exc))
    else:
        return console_back(error=f"Unknown console action {action!r}.")
    if answer.status >= 400:
        return console_back(error=_message(answer))
    return console_back(notice=done)


# ---------------------------------------------------------------------------- sections


def _accounts(accounts: list[dict[str, Any]]) -> str:
    if not accounts:
        return "<h2>Accounts</h2><p>No accounts yet.</p>"
    rows = []
    for account in accounts:
        databases = []
        for database in account["databases"]:
            collections = "".join(
                f"<li>collection {escape(item['name'])} (<code>{escape(item['id'])}</code>): "
                f"{item['subprofiles']:,} subprofiles</li>"
                for item in database["collections"]
            )
            databases.append(
                f"<li>database {escape(database['name'])} (<code>{escape(database['id'])}</code>)"
                f": {database['profiles']:,} profiles"
                + (f"<ul>{collections}</ul>" if collections else "")
                + "</li>"
            )
        rows.append(
            f"<tr><td><code>{escape(account['account_id'])}</code></td>"
            f"<td>{escape(account['name'])}<br><span class=note>{escape(account['company'])}"
            f"</span></td><td><ul>{''.join(databases)}</ul></td></tr>"
        )
    return (
        "<h2>Accounts</h2><table><thead><tr><th>ID</th><th>Name</th>"
        f"<th>Databases and collections</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _tokens(tokens: list[dict[str, Any]]) -> str:
    if not tokens:
        return "<h2>API tokens</h2><p>No tokens issued yet.</p>"
    rows = []
    for token in tokens:
        if token["revoked"]:
            action = "revoked"
        else:
            action = (
                f'<form class="inline" method="post" action="{_ACTION}revoke">'
                f'<input type="hidden" name="access_token" value="{escape(token["token"])}">'
                f'<button type="submit">Revoke</button></form>'
            )
        via = f"OAuth, {escape(token['via'])}" if token["via"] else "API token"
        rows.append(
            f"<tr><td><code>{escape(token['token'])}</code></td>"
            f"<td>{escape(token['account'])} (<code>{escape(token['account_id'])}</code>)</td>"
            f"<td>{via}</td><td>{action}</td></tr>"
        )
    return (
        "<h2>API tokens</h2><table><thead><tr><th>Token</th><th>Account</th><th>Issued as</th>"
        f"<th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _faults(faults: list[dict[str, Any]]) -> str:
    if faults:
        rows = "".join(
            f"<tr><td>{escape(fault['method'] or 'any')}</td><td><code>{escape(fault['path'])}"
            f"</code></td><td>{escape(_describe(fault))}</td><td>{fault['count']}</td></tr>"
            for fault in faults
        )
        listing = (
            "<table><thead><tr><th>Method</th><th>Path prefix</th><th>What</th>"
            f"<th>Times left</th></tr></thead><tbody>{rows}</tbody></table>"
            f'<form method="post" action="{_ACTION}faults/clear">'
            '<button type="submit">Clear all faults</button></form>'
        )
    else:
        listing = "<p>No faults pending: every request is answered normally.</p>"
    methods = "".join(
        f'<option value="{method}">{method or "any"}</option>'
        for method in ("", "GET", "POST", "PUT", "DELETE")
    )
    form = (
        f'<form method="post" action="{_ACTION}faults"><p>'
        '<label>Path prefix <input name="path" value="/v4/" required></label>'
        f'<label>Method <select name="method">{methods}</select></label>'
        '<label>Status <input name="status" type="number" min="400" max="599" value="503">'
        "</label>"
        '<label>Times <input name="count" type="number" min="1" value="1"></label>'
        '<label>Delay (ms) <input name="delay_ms" type="number" min="0" value="0"></label>'
        '<label>Retry-After (s) <input name="retry_after" type="number" min="0"></label>'
        "</p><p>"
        '<label>Connection <select name="drop"><option value="">answer</option>'
        '<option value="before">drop before the request takes effect</option>'
        '<option value="after">drop after it took effect</option></select></label>'
        '<button type="submit">Add fault</button></p></form>'
    )
    return f"<h2>Faults</h2>{listing}<h3>Add a fault</h3>{form}"


def _options(options: dict[str, Any]) -> str:
    return (
        '<h2>Options</h2><p class="note">Set with <code>POST /__sandbox__/options</code>.</p>'
        f"<pre>{escape(json.dumps(options, indent=2))}</pre>"
    )


# ---------------------------------------------------------------------------- helpers


_NO_STORE = [("Cache-Control", "no-store")]


def _page(title: str, content: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{content}</main></body></html>\n"
    )


def _fault_spec(form: dict[str, str]) -> dict[str, Any]:
    """The JSON fault of the form: blank fields left out, numbers as integers."""
    spec: dict[str, Any] = {"path": form.get("path", "").strip() or "/"}
    if form.get("method"):
        spec["method"] = form["method"]
    for name in ("status", "count", "delay_ms", "retry_after"):
        value = form.get(name, "").strip()
        if value:
            if not value.isdigit():
                raise ValueError(f"{name} must be a whole number, not {value!r}.")
            spec[name] = int(value)
    if form.get("drop"):
        spec["drop"] = form["drop"]
        # A dropped connection answers nothing; a status would contradict it.
        spec.pop("status", None)
    return spec


def _describe(fault: dict[str, Any]) -> str:
    parts = []
    if fault["drop"]:
        parts.append(f"connection dropped {fault['drop']} the request takes effect")
    if fault["status"] is not None:
        parts.append(f"answers {fault['status']}")
    if fault["retry_after"] is not None:
        parts.append(f"Retry-After {fault['retry_after']} s")
    if fault["delay_ms"]:
        parts.append(f"after {fault['delay_ms']} ms")
    return ", ".join(parts) or "delay only"


def _message(response: Response) -> str:
    try:
        return str(json.loads(response.body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"The control API answered {response.status}."


def _short(token: str) -> str:
    return f"{token[:6]}…" if len(token) > 6 else token


def console_back(*, notice: str = "", error: str = "") -> Response:
    """303 to the console page, which shows ``notice`` or ``error``."""
    query = f"?notice={quote(notice)}" if notice else f"?error={quote(error)}" if error else ""
    return Response(303, [("Location", f"/{query}"), *_NO_STORE])
