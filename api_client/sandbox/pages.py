"""The HTML pages of the sandbox: the OAuth consent page, its error page, the 5xx page."""

from __future__ import annotations

from html import escape

_STYLE = """
body { font-family: system-ui, sans-serif; background: #f4f6f8; color: #1d2630; margin: 0; }
main { max-width: 32rem; margin: 4rem auto; background: #fff; padding: 2rem;
       border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.1); }
h1 { font-size: 1.4rem; margin-top: 0; }
fieldset { border: 1px solid #d5dbe1; border-radius: 6px; margin: 1rem 0; }
label { display: block; padding: .3rem 0; }
button { font-size: 1rem; padding: .5rem 1.2rem; margin-right: .5rem; border-radius: 4px;
         border: 1px solid #7a8793; background: #fff; cursor: pointer; }
button[value=allow] { background: #1a73e8; color: #fff; border-color: #1a73e8; }
.note { color: #5b6873; font-size: .9rem; }
"""


def _page(title: str, content: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{content}</main></body></html>\n"
    )


def consent_page(
    *,
    action: str,
    application_name: str,
    accounts: list[tuple[int, str]],
    hidden: dict[str, str],
) -> str:
    """The consent page: pick an account, then Allow or Deny."""
    inputs = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in hidden.items()
    )
    if accounts:
        choices = "".join(
            f'<label for="account-{account_id}"><input type="radio" name="account" '
            f'id="account-{account_id}" value="{account_id}"{" checked" if index == 0 else ""}> '
            f"{escape(name)}</label>"
            for index, (account_id, name) in enumerate(accounts)
        )
    else:
        choices = '<p class="note">This sandbox has no accounts yet.</p>'
    content = (
        f"<h1>Authorize {escape(application_name)}</h1>"
        f"<p><strong>{escape(application_name)}</strong> asks for access to all data of one of "
        "your Copernica accounts.</p>"
        f'<form method="post" action="{escape(action)}">{inputs}'
        f"<fieldset><legend>Account</legend>{choices}</fieldset>"
        '<button type="submit" name="decision" value="allow">Allow</button>'
        '<button type="submit" name="decision" value="deny">Deny</button>'
        "</form>"
        '<p class="note">Copernica sandbox: no password needed.</p>'
    )
    return _page("Copernica - Authorize application", content)


def error_page(message: str) -> str:
    """The authorize endpoint's error page (never a redirect)."""
    content = f"<h1>Authorization failed</h1><p>{escape(message)}</p>"
    return _page("Copernica - Authorization failed", content)


def loadbalancer_error_page(status: int) -> str:
    """The HTML page Copernica's load balancer shows on 502/503/504."""
    content = (
        f"<h1>Loadbalancer Error</h1><p>HTTP {status}: there are too many requests to handle "
        "at the moment. Please try again later.</p>"
    )
    return _page("Loadbalancer Error", content)
