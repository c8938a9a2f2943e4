"""Targets built from config/delivery.yaml: every kind builds with its secrets from the
environment, a missing one is named, the pull target only queues."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from core.config import DeliveryTarget
from delivery.errors import DeliveryConfigError, retry_after_seconds
from delivery.targets.base import Sent, build_target
from delivery.targets.open311 import Open311Target
from delivery.targets.pull import PullTarget
from delivery.targets.webhook import WebhookTarget
from tests.delivery.test_signing import SECRET
from tests.delivery.sample_order import sample_order

ENV = {"RADAR_WO_API_KEY": "k", "RADAR_WO_WEBHOOK_SECRET": SECRET}


def test_every_target_of_the_repository_config_builds(config):
    kinds = {}
    for name, target_config in config.delivery.targets.items():
        with build_target(name, target_config, ENV, httpx.MockTransport(lambda r: httpx.Response(500))) as target:
            assert target.name == name
            kinds[name] = type(target)
    assert kinds == {"city12345": Open311Target, "district_webhook": WebhookTarget, "integration_pull": PullTarget}


def test_a_missing_api_key_names_its_variable():
    config = DeliveryTarget(kind="open311", url="http://wo.test/open311/v2/", api_key_env="RADAR_WO_API_KEY")
    with pytest.raises(DeliveryConfigError, match="RADAR_WO_API_KEY"):
        build_target("city12345", config, {})


def test_the_pull_target_only_queues():
    target = build_target("integration_pull", DeliveryTarget(kind="pull"), {})
    assert target.send(sample_order()) == Sent(None, None, "queued for pull")
    assert target.delivers_on_read
    assert target.updates(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), lambda _: None) == []
    assert target.resolve_token("t") is None


def test_retry_after_forms():
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None, now) is None
