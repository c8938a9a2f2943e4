"""Open311 GeoReport v2 bodies (JSON and XML) as the reference system answers them.

Field names follow the published specification (wiki.open311.org/GeoReport_v2) and
FixMyStreet's `servicerequestupdates` extension (root `service_request_updates`, items
`request_update`); `detailed_status` is the one extension field on a request.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from xml.etree import ElementTree as ET

from delivery.reference.lifecycle import CLOSED_DETAILED, OrderRecord, Update, iso

JSON = "application/json; charset=utf-8"
XML = "text/xml; charset=utf-8"

# format -> (root, item) of each list answer in XML
XML_NAMES = {"services": ("services", "service"), "requests": ("service_requests", "request"),
             "updates": ("service_request_updates", "request_update"), "errors": ("errors", "error"),
             "definition": ("service_definition", None)}


def service(code: str, name: str, group: str) -> dict:
    return {"service_code": code, "service_name": name, "description": name, "metadata": True,
            "type": "realtime", "keywords": "", "group": group}


# The attributes every service takes (its definition): Civic Radar's references to its order.
ATTRIBUTES = [
    {"variable": True, "code": "radar_order_id", "datatype": "string", "required": False, "order": 1,
     "datatype_description": "Civic Radar's work order id (also sent as the Idempotency-Key header)",
     "description": "Civic Radar order id", "values": []},
    {"variable": True, "code": "radar_send", "datatype": "number", "required": False, "order": 2,
     "datatype_description": "which send of the order this is (1, then 2 after a return, ...)",
     "description": "send number", "values": []},
    {"variable": True, "code": "radar_unit", "datatype": "string", "required": False, "order": 3,
     "datatype_description": "the unit Civic Radar routed the order to", "description": "responsible unit",
     "values": []},
]


def definition(code: str) -> dict:
    return {"service_code": code, "attributes": ATTRIBUTES}


def request(rec: OrderRecord, agency: str) -> dict:
    """One service request as GET requests answers it."""
    return {
        "service_request_id": rec.remote_id,
        "status": "closed" if rec.detailed_status in CLOSED_DETAILED else "open",
        "status_notes": rec.status_notes,
        "service_name": rec.service_name,
        "service_code": rec.service_code,
        "description": rec.description,
        "agency_responsible": rec.unit or agency,
        "service_notice": None,
        "requested_datetime": iso(rec.received_at),
        "updated_datetime": iso(rec.updated_at),
        "expected_datetime": None,
        "address": rec.address,
        "address_id": None,
        "zipcode": None,
        "lat": rec.lat,
        "long": rec.long,
        "media_url": rec.media_url,
        "detailed_status": rec.detailed_status,
    }


def update(rec: OrderRecord, upd: Update) -> dict:
    """One entry of servicerequestupdates."""
    return {"update_id": upd.update_id, "service_request_id": rec.remote_id, "status": upd.detailed_status,
            "updated_datetime": iso(upd.at), "description": upd.reason or upd.description,
            "media_url": None, "external_status_code": upd.unit}


def error(code: int, description: str) -> list[dict]:
    return [{"code": code, "description": description}]


def render(kind: str, rows: list[dict] | dict, fmt: str) -> tuple[bytes, str]:
    """(body, content type) of an answer: `kind` names the XML root (see XML_NAMES)."""
    if fmt == "json":
        if kind == "updates":
            rows = {"service_request_updates": rows}
        return json.dumps(rows, ensure_ascii=False).encode(), JSON
    root_name, item_name = XML_NAMES[kind]
    root = ET.Element(root_name)
    for row in ([rows] if isinstance(rows, dict) else rows):
        _fill(root if item_name is None else ET.SubElement(root, item_name), row)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode").encode(), XML


def _fill(el: ET.Element, row: dict) -> None:
    for key, value in row.items():
        if isinstance(value, list):  # a service definition's attributes
            holder = ET.SubElement(el, key)
            for item in value:
                child = ET.SubElement(holder, key.rstrip("s"))
                if isinstance(item, dict):
                    _fill(child, item)
                else:
                    child.text = _text(item)
        else:
            ET.SubElement(el, key).text = _text(value)


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def first(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def codes(text: str | None) -> Iterable[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]
