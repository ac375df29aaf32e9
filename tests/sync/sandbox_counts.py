"""What the sandbox counted of a run's requests, for the sync tests."""

from __future__ import annotations

from api_client.sandbox.control import SandboxControl


def id_list_requests(sandbox: SandboxControl) -> int:
    """How many id-list pages (``profileids``, ``subprofileids``) the sandbox served."""
    requests = sandbox.stats()["requests"]
    return sum(
        count for key, count in requests.items() if key.endswith(("/profileids", "/subprofileids"))
    )
