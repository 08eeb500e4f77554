"""pact-producer's original endpoint as a `kn func` Python function (the
http template's shape, func_python.http): `POST
/pact/producer?message=mmid1,mmid2,lat,lon[,observed_at]` -> one binary-mode
`dev.pact.contact.untranslated` CloudEvent POSTed to K_SINK with httpx (one
AsyncClient for the instance), then 202.
"""
import logging
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs

import httpx
from cloudevents.core.bindings.http import to_binary_event
from cloudevents.core.v1.event import CloudEvent


def new():
    return Function()


async def answer(send, status, text):
    await send({"type": "http.response.start", "status": status,
                "headers": [[b"content-type", b"text/plain"]]})
    await send({"type": "http.response.body", "body": text.encode()})


class Function:
    def __init__(self):
        self.sink = None
        self.client = None

    def start(self, cfg):
        self.sink = cfg["K_SINK"]
        self.client = httpx.AsyncClient()

    async def handle(self, scope, receive, send):
        # Read the request to its end, as ASGI asks.
        while (await receive()).get("more_body"):
            pass
        if scope["method"] != "POST" or scope["path"] != "/pact/producer":
            await answer(send, 404, "POST /pact/producer?message=...")
            return
        message = parse_qs(scope["query_string"].decode()).get("message", [""])[0]
        fields = [f.strip() for f in message.split(",")]
        try:
            if not 4 <= len(fields) <= 5:
                raise ValueError("expected mmid1,mmid2,lat,lon[,observed_at]")
            mmid1, mmid2 = int(fields[0]), int(fields[1])
            lat, lon = float(fields[2]), float(fields[3])
            observed_at = (datetime.fromisoformat(fields[4]) if len(fields) == 5
                           else datetime.now(timezone.utc))
        except ValueError as e:
            await answer(send, 400, str(e))
            return
        event_id = str(uuid.uuid4())
        event = CloudEvent(attributes={
            "id": event_id,
            "source": "/peers/python/producer",
            "type": "dev.pact.contact.untranslated",
            "time": observed_at,
            "partitionkey": f"{min(mmid1, mmid2)}-{max(mmid1, mmid2)}",
            "datacontenttype": "application/json",
        }, data={
            "mmid1": mmid1, "mmid2": mmid2, "lat": lat, "lon": lon,
            "observed_at": observed_at.isoformat(),
        })
        logging.debug("event %s", event_id)
        message = to_binary_event(event)
        try:
            response = await self.client.post(self.sink, headers=message.headers,
                                              content=message.body)
        except httpx.HTTPError as e:
            await answer(send, 502, f"the sink: {e}")
            return
        if not response.is_success:
            await answer(send, 502, f"the sink answered {response.status_code}")
            return
        await answer(send, 202, f"Contact accepted as event {event_id}\n")
