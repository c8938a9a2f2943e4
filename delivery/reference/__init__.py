"""The reference work-order system: a local stand-in for the city's 12345 order platform that
Civic Radar's delivery runs against in tests, benchmarks and `radar demo`.

It speaks Open311 GeoReport v2 under `/open311/v2/` (with FixMyStreet's servicerequestupdates
and a `detailed_status` field), takes Standard Webhooks signed pushes at `/webhook/orders`,
calls statuses back to `{callback_base}/integrations/orders/{order_id}/status` (signed), moves
every order by itself through accepted → in_progress → resolved → closed (or returned), and
misbehaves on purpose (`FaultPlan`, `down`, `restart`). Run it with
`python -m delivery.reference --port 8311`.

    with ReferenceWorkOrderSystem(api_key="k", webhook_secret=secret, speed=0.05) as system:
        httpx.post(system.open311_url + "requests.json", data={...})
        system.orders()   # order id -> its request on the receiving side
"""
from delivery.reference.faults import FaultPlan
from delivery.reference.lifecycle import DETAILED, DETAILED_STATUSES, FROM_DETAILED, OrderRecord, Update
from delivery.reference.server import DEFAULT_SERVICES, ReferenceWorkOrderSystem

__all__ = ["DEFAULT_SERVICES", "DETAILED", "DETAILED_STATUSES", "FROM_DETAILED", "FaultPlan", "OrderRecord",
           "ReferenceWorkOrderSystem", "Update", "new_secret"]


def new_secret() -> str:
    """A fresh Standard Webhooks secret (whsec_ + base64 of 32 random bytes)."""
    import base64
    import os
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()
