"""What a delivery target is, and how one is built from config/delivery.yaml.

A target files an order with a receiver (`send`), turns an Open311 token into the receiver's id
(`resolve_token`), and reads the receiver's status updates for a time range (`updates`, for
receivers that publish them; the others call us back or post to us). HTTP targets sit behind
one seam, `httpx.BaseTransport`: production uses httpx's own, tests pass
`httpx.MockTransport(handler)`. Every failure leaves a target as a `delivery.errors` error.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

import httpx

from core.config import DeliveryTarget
from core.orders import StatusUpdate, WorkOrder
from delivery.errors import DeliveryConfigError, from_response, from_transport_error

RemoteToOrder = Callable[[str], str | None]  # the receiver's request id -> our order id

USER_AGENT = "civic-radar-delivery/1"


@dataclass(frozen=True)
class Sent:
    """The receiver took the order: its id, or an Open311 token to turn into one later (or
    neither: a blackbox Open311 service, or a pull target that only queued it)."""

    remote_id: str | None
    token: str | None = None
    notice: str | None = None  # the receiver's word on what happens next (Open311 service_notice)


def send_key(order: WorkOrder) -> str:
    """The idempotency key of one send of an order: the same on every retry of that send, new
    when a returned order is sent again (so the receiver files the re-routed order rather than
    answering with the one it returned)."""
    return f"{order.id}:{order.sends}"


class Target:
    """A receiver of work orders. Subclasses set `kind` and override what their receiver does."""

    kind: ClassVar[str] = ""
    # True when `send` only queues: the order counts as delivered once the integration reads it.
    delivers_on_read: ClassVar[bool] = False

    def __init__(self, name: str):
        self.name = name

    def send(self, order: WorkOrder) -> Sent:
        """File the order (idempotent per `send_key`); raise a DeliveryError when it failed."""
        raise NotImplementedError

    def resolve_token(self, token: str) -> str | None:
        """The receiver's id for a token answer, or None while it has none yet."""
        return None

    def updates(self, since: datetime, until: datetime,
                remote_to_order: RemoteToOrder | None = None) -> list[StatusUpdate]:
        """Status updates the receiver published in [since, until), for orders it knows."""
        return []

    def close(self) -> None:
        """Release connections."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class HttpTarget(Target):
    """A target that talks HTTP through one httpx client (and so one transport)."""

    def __init__(self, name: str, config: DeliveryTarget, transport: httpx.BaseTransport | None = None):
        super().__init__(name)
        self.config = config
        self.client = httpx.Client(base_url=config.url or "", transport=transport,
                                   timeout=httpx.Timeout(config.timeout_seconds),
                                   headers={"user-agent": USER_AGENT})

    def request(self, method: str, url: str, **kw) -> httpx.Response:
        """One HTTP exchange; a 2xx answer, or the named error for whatever happened instead."""
        try:
            response = self.client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            raise from_transport_error(exc, self.name) from exc
        error = from_response(response, self.name, self.error_messages(response))
        if error is not None:
            raise error
        return response

    def error_messages(self, response: httpx.Response) -> tuple[str, ...]:
        """The receiver's own error messages in a failed answer (none known by default)."""
        return ()

    def close(self) -> None:
        self.client.close()


def build_target(name: str, target_config: DeliveryTarget, env: Mapping[str, str],
                 transport: httpx.BaseTransport | None = None) -> Target:
    """The target `name` of config/delivery.yaml, with its secrets read from `env`.
    Raises DeliveryConfigError naming the environment variable when one is missing."""
    # Imported here: the kinds import this module for Target and Sent.
    if target_config.kind == "open311":
        from delivery.targets.open311 import Open311Target
        api_key = _required(env, target_config.api_key_env, name, "api_key_env")
        return Open311Target(name, target_config, api_key, transport)
    if target_config.kind == "webhook":
        from delivery.signing import load_secret
        from delivery.targets.webhook import WebhookTarget
        variable = _variable(target_config.secret_env, name, "secret_env")
        return WebhookTarget(name, target_config, load_secret(env.get(variable), variable), transport)
    if target_config.kind == "pull":
        from delivery.targets.pull import PullTarget
        return PullTarget(name)
    raise DeliveryConfigError(f"target {name}: unknown kind {target_config.kind!r}")


def _variable(variable: str | None, target: str, key: str) -> str:
    if not variable:
        raise DeliveryConfigError(f"target {target}: {key} names no environment variable")
    return variable


def _required(env: Mapping[str, str], variable: str | None, target: str, key: str) -> str:
    variable = _variable(variable, target, key)
    value = env.get(variable)
    if not value:
        raise DeliveryConfigError(f"target {target}: environment variable {variable} ({key}) is not set")
    return value
