"""pact-contactlog's job as a `kn func` Python function (the cloudevents
template's shape, func_python.cloudevent): a `dev.pact.contact.translated`
CloudEvent in, one row in `contactlist` by INSERT ... ON CONFLICT DO NOTHING
on the event's (source, id) through psycopg 3's async pool of 5 (pact's
default), 200 once it is committed. DATABASE_URL names the database.
"""
import asyncio
import json

import psycopg
from psycopg_pool import AsyncConnectionPool

INSERT = """INSERT INTO contactlist
  (mmid1, mmid2, street, city, state, zipcode, country, lat, lon, observed_at, geocoder,
   event_source, event_id)
  VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
  ON CONFLICT (event_source, event_id) DO NOTHING"""


def new():
    return Function()


class Function:
    def __init__(self):
        self.url = None
        self.pool = None
        self.opening = None

    def start(self, cfg):
        self.url = cfg["DATABASE_URL"]

    async def connections(self):
        # The pool opens on the event loop, so on the first event.
        if self.opening is None:
            self.pool = AsyncConnectionPool(self.url, min_size=1, max_size=5, open=False)
            self.opening = asyncio.ensure_future(self.pool.open())
        await self.opening
        return self.pool

    async def handle(self, scope, receive, send):
        event = scope["event"]
        data = event.get_data()
        if isinstance(data, (bytes, str)):
            data = json.loads(data)
        status = 200
        try:
            pool = await self.connections()
            async with pool.connection() as conn:
                cursor = await conn.execute(INSERT, (
                    data["mmid1"], data["mmid2"], data.get("street", ""), data.get("city", ""),
                    data.get("state", ""), data.get("zipcode", ""), data.get("country", ""),
                    data["lat"], data["lon"], data["observed_at"], data.get("geocoder", ""),
                    event.get_source(), event.get_id()))
                stored = cursor.rowcount
            body = {"stored": stored, "duplicates": 1 - stored}
        except (KeyError, TypeError, psycopg.errors.DataError, psycopg.errors.IntegrityError) as e:
            status, body = 400, {"detail": str(e)}
        except psycopg.Error as e:
            status, body = 503, {"detail": str(e)}
        await send.http({"type": "http.response.start", "status": status,
                         "headers": [[b"content-type", b"application/json"]]})
        await send.http({"type": "http.response.body", "body": json.dumps(body).encode()})
