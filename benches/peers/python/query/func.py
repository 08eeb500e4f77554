"""pact-query's `GET /contacts/{mmid}` as a `kn func` Python function (the
http template's shape, func_python.http): the same SELECT as pact-query's
first page (each side of the pair through its own index, merged; 100 rows
at most) through psycopg 3's async pool of 5, and the same JSON page (no
cursor: a person of the benchmark's data has fewer than 100 contacts).
DATABASE_URL names the database.
"""
import asyncio
import json

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

COLUMNS = ("id, mmid1, mmid2, street, city, state, zipcode, country, lat, lon, "
           "observed_at, recorded_at, geocoder")
SELECT = f"""SELECT {COLUMNS} FROM (
  SELECT * FROM (SELECT {COLUMNS} FROM contactlist WHERE mmid1 = %(mmid)s
    ORDER BY observed_at, id LIMIT 100) AS first_side
  UNION ALL
  SELECT * FROM (SELECT {COLUMNS} FROM contactlist WHERE mmid2 = %(mmid)s
    ORDER BY observed_at, id LIMIT 100) AS second_side
  ) AS met ORDER BY observed_at, id LIMIT 100"""


def new():
    return Function()


async def answer(send, status, body):
    await send({"type": "http.response.start", "status": status,
                "headers": [[b"content-type", b"application/json"]]})
    await send({"type": "http.response.body", "body": json.dumps(body, default=str).encode()})


class Function:
    def __init__(self):
        self.url = None
        self.pool = None
        self.opening = None

    def start(self, cfg):
        self.url = cfg["DATABASE_URL"]

    async def connections(self):
        # The pool opens on the event loop, so on the first request.
        if self.opening is None:
            self.pool = AsyncConnectionPool(self.url, min_size=1, max_size=5, open=False,
                                            kwargs={"row_factory": dict_row})
            self.opening = asyncio.ensure_future(self.pool.open())
        await self.opening
        return self.pool

    async def handle(self, scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        prefix = "/contacts/"
        path = scope["path"]
        if scope["method"] != "GET" or not path.startswith(prefix):
            await answer(send, 404, {"detail": "GET /contacts/{mmid}"})
            return
        try:
            mmid = int(path[len(prefix):])
            if mmid < 1:
                raise ValueError
        except ValueError:
            await answer(send, 400, {"detail": "mmid is a positive integer"})
            return
        try:
            pool = await self.connections()
            async with pool.connection() as conn:
                rows = await (await conn.execute(SELECT, {"mmid": mmid})).fetchall()
        except psycopg.Error as e:
            await answer(send, 503, {"detail": str(e)})
            return
        items = [{"met": r["mmid2"] if r["mmid1"] == mmid else r["mmid1"], **r} for r in rows]
        for item in items:
            item["observed_at"] = item["observed_at"].isoformat()
            item["recorded_at"] = item["recorded_at"].isoformat()
        await answer(send, 200, {"mmid": mmid, "since": None, "until": None, "items": items,
                                 "next_cursor": None})
