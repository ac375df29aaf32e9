"""The control API's webhook calls: registrations, delivery faults, options, keys, waiting.

``GET webhooks`` (every account's, with delivery counters), ``GET|POST webhooks/faults``
(:class:`~.webhook_delivery.DeliveryFaults`: set replaces them all), ``GET|POST
webhooks/options`` (``retry_delays_ms``, ``timeout_ms``, ``hold_ms``, ``senders``), ``GET
webhooks/deliveries`` (the latest attempts, newest first), ``POST webhooks/wait``
(``timeout`` seconds: answers once nothing is queued, held or in flight, so a test
synchronises on the sandbox instead of sleeping), ``GET webhooks/keys`` and ``POST
webhooks/keys/rotate`` (``keep_old_seconds``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

from .control_input import ControlError, integer
from .http import Response, json_response
from .state import SandboxState
from .webhook_delivery import DeliveryFaults, DeliveryOptions
from .webhook_keys import DEFAULT_KEEP_OLD_SECONDS, KEYS_PREFIX

Route = Callable[[dict[str, Any]], Response]
_MAX_WAIT = 60.0
_RECENT_PER_ACCOUNT = 20


class WebhookControl:
    """The ``webhooks/...`` calls of the control API."""

    state: SandboxState

    def webhook_routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("GET", "webhooks"): self.list_webhooks,
            ("GET", "webhooks/faults"): self.webhook_faults,
            ("POST", "webhooks/faults"): self.set_webhook_faults,
            ("GET", "webhooks/options"): self.webhook_options,
            ("POST", "webhooks/options"): self.set_webhook_options,
            ("GET", "webhooks/deliveries"): self.webhook_deliveries,
            ("POST", "webhooks/wait"): self.wait_webhooks,
            ("GET", "webhooks/keys"): self.webhook_keys,
            ("POST", "webhooks/keys/rotate"): self.rotate_webhook_key,
        }

    def list_webhooks(self, body: dict[str, Any]) -> Response:
        with self.state.lock:
            hooks = sorted(self.state.webhooks.values(), key=lambda hook: hook.id)
            items = [hook.as_record() for hook in hooks]
        for item in items:
            item["stats"] = self.state.deliveries.stats_of(item["id"])
        return json_response(200, items)

    def webhook_faults(self, body: dict[str, Any]) -> Response:
        return json_response(200, self.state.deliveries.faults.as_json())

    def set_webhook_faults(self, body: dict[str, Any]) -> Response:
        known = {item.name for item in fields(DeliveryFaults)}
        unknown = set(body) - known
        if unknown:
            raise ControlError(
                f"Unknown delivery faults: {', '.join(sorted(unknown))}; known: "
                + ", ".join(sorted(known))
            )
        values: dict[str, Any] = {}
        for name in known - {"webhook_id"}:
            value = integer(body, name, None)
            if value is not None:
                if value < 0:
                    raise ControlError(f"{name} must be at least 0")
                values[name] = value
        values["webhook_id"] = integer(body, "webhook_id", None)
        faults = DeliveryFaults(**values)
        self.state.deliveries.faults = faults
        return json_response(200, faults.as_json())

    def webhook_options(self, body: dict[str, Any]) -> Response:
        return json_response(200, self.state.deliveries.options.as_json())

    def set_webhook_options(self, body: dict[str, Any]) -> Response:
        """Set the options named in the body; the others keep their value."""
        unknown = set(body) - {"retry_delays_ms", "timeout_ms", "hold_ms", "senders"}
        if unknown:
            raise ControlError(f"Unknown delivery options: {', '.join(sorted(unknown))}")
        current = self.state.deliveries.options
        delays = body.get("retry_delays_ms", current.retry_delays_ms)
        if (
            not isinstance(delays, list)
            or len(delays) > 10
            or not all(isinstance(item, int) and not isinstance(item, bool) for item in delays)
            or any(item < 0 for item in delays)
        ):
            raise ControlError("retry_delays_ms must be a list of at most 10 delays (ms, >= 0)")
        timeout = integer(body, "timeout_ms", current.timeout_ms)
        if not 1 <= timeout <= 60_000:
            raise ControlError("timeout_ms must be between 1 and 60000")
        hold = integer(body, "hold_ms", current.hold_ms)
        if not 0 <= hold <= 600_000:
            raise ControlError("hold_ms must be between 0 and 600000")
        senders = integer(body, "senders", current.senders)
        if not 1 <= senders <= 16:
            raise ControlError("senders must be between 1 and 16")
        options = DeliveryOptions(list(delays), timeout, hold, senders)
        self.state.deliveries.options = options
        return json_response(200, options.as_json())

    def webhook_deliveries(self, body: dict[str, Any]) -> Response:
        return json_response(200, self.state.deliveries.recent_list())

    def wait_webhooks(self, body: dict[str, Any]) -> Response:
        timeout = body.get("timeout", 10)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise ControlError("timeout must be a number of seconds")
        if not 0 <= timeout <= _MAX_WAIT:
            raise ControlError(f"timeout must be between 0 and {_MAX_WAIT:.0f} seconds")
        idle = self.state.deliveries.wait_idle(float(timeout))
        return json_response(200, {"idle": idle, "pending": self.state.deliveries.pending()})

    def webhook_keys(self, body: dict[str, Any]) -> Response:
        items = self.state.webhook_keys.listing()
        for item in items:
            item["key_id"] = self._key_id(item["selector"])
        return json_response(200, items)

    def rotate_webhook_key(self, body: dict[str, Any]) -> Response:
        keep = body.get("keep_old_seconds", DEFAULT_KEEP_OLD_SECONDS)
        if isinstance(keep, bool) or not isinstance(keep, int | float) or keep < 0:
            raise ControlError("keep_old_seconds must be a number of seconds (>= 0)")
        key = self.state.webhook_keys.rotate(float(keep))
        return json_response(201, {"selector": key.selector, "key_id": self._key_id(key.selector)})

    def webhook_overview(self) -> dict[str, dict[str, Any]]:
        """Per account ID (a string): its webhooks with counters and its latest deliveries."""
        with self.state.lock:
            hooks = sorted(self.state.webhooks.values(), key=lambda hook: hook.id)
            records = [hook.as_record() for hook in hooks]
        result: dict[str, dict[str, Any]] = {}
        for record in records:
            record["stats"] = self.state.deliveries.stats_of(record["id"])
            entry = result.setdefault(str(record["account_id"]), {"webhooks": [], "deliveries": []})
            entry["webhooks"].append(record)
        for item in self.state.deliveries.recent_list():
            entry = result.setdefault(str(item["account"]), {"webhooks": [], "deliveries": []})
            if len(entry["deliveries"]) < _RECENT_PER_ACCOUNT:
                entry["deliveries"].append(item)
        return result

    def signing_key_id(self) -> str:
        return self._key_id(self.state.webhook_keys.current.selector)

    def _key_id(self, selector: str) -> str:
        return f"{self.state.public_url}{KEYS_PREFIX}{selector}"
