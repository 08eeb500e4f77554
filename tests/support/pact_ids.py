"""PACT's derived event ids (DESIGN.md section 3), computed with Python's
uuid module from the names docs/functions.md gives, not with PACT's code:
the Python suites check the functions against this second implementation."""

from __future__ import annotations

import uuid

PACT_NAMESPACE = uuid.UUID("9d8bf4f9-de60-4a47-8e04-041dbb32ce4d")


def event_key(source: str, event_id: str) -> str:
    """The id of the event made from input `source` + `id`."""
    return str(uuid.uuid5(PACT_NAMESPACE, f"{source}\n{event_id}"))


def contact_id(key: str, contact: dict) -> str:
    """The producer's id for `contact` sent under `key`, as sent: the time
    only when the client gave one."""
    fields = [key] + [str(contact[k]) if k.startswith("mmid") else repr(float(contact[k]))
                      for k in ("mmid1", "mmid2", "lat", "lon")]
    fields.append(contact.get("observed_at", ""))
    return str(uuid.uuid5(PACT_NAMESPACE, "\n".join(fields)))


def case_id(mmid: int, onset: str) -> str:
    """The id of the case of person `mmid` with onset date `onset`
    (YYYY-MM-DD): one person and one date are one case."""
    return str(uuid.uuid5(PACT_NAMESPACE, f"case\n{mmid}\n{onset}"))
