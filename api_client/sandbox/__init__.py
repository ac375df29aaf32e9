"""A local simulator of Copernica's REST API v4, auth service and OAuth pages.

Run it with ``python -m api_client.sandbox --port 8765`` or in-process with
:class:`SandboxServer`; drive it through its control API with
:class:`~api_client.sandbox.control.SandboxControl`.
"""

from .control import SandboxAccount, SandboxApplication, SandboxControl
from .server import SandboxServer

__all__ = ["SandboxAccount", "SandboxApplication", "SandboxControl", "SandboxServer"]
