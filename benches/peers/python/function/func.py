"""The translation step as a `kn func` Python function (the cloudevents
template's shape): func-python decodes the request's CloudEvent into
scope["event"] and `send.binary` answers a CloudEvent in binary mode.

In: a `dev.pact.contact.untranslated` event whose data is a CSV line
`mmid1,mmid2,lat,lon[,observed_at]` (text/csv). Out: a
`dev.pact.contact.translated` event with JSON data. A peer has no geocoder:
every contact is placed in the same city.
"""
import csv
import logging

from cloudevents.core.v1.event import CloudEvent


def new():
    return Function()


class Function:
    async def handle(self, scope, receive, send):
        request = scope["event"]
        logging.debug("event %s", request.get_id())
        data = request.get_data()
        text = data.decode() if isinstance(data, bytes) else str(data)
        try:
            fields = [f.strip() for f in next(csv.reader([text.strip()]))]
            if not 4 <= len(fields) <= 5:
                raise ValueError("expected mmid1,mmid2,lat,lon[,observed_at]")
            mmid1, mmid2 = int(fields[0]), int(fields[1])
            lat, lon = float(fields[2]), float(fields[3])
        except (StopIteration, ValueError) as e:
            await send.http({"type": "http.response.start", "status": 400,
                             "headers": [[b"content-type", b"text/plain"]]})
            await send.http({"type": "http.response.body", "body": str(e).encode()})
            return
        attributes = {
            "type": "dev.pact.contact.translated",
            "source": "/peers/python",
            "datacontenttype": "application/json",
        }
        # Keep the time, the pair's partition key and the trace, as PACT does.
        if request.get_time() is not None:
            attributes["time"] = request.get_time()
        for name in ("partitionkey", "traceparent"):
            value = request.get_extension(name)
            if value is not None:
                attributes[name] = value
        reply = CloudEvent(attributes=attributes, data={
            "mmid1": mmid1, "mmid2": mmid2, "lat": lat, "lon": lon,
            "observed_at": fields[4] if len(fields) == 5 else "",
            "street": "", "city": "Minneapolis", "state": "MN",
            "zipcode": "55415", "country": "US", "geocoder": "fixed",
        })
        await send.binary(reply)
