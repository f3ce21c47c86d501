"""sse_fanout.py MODE TARGET SUBSCRIBERS EVENTS INTERVAL_MS - one row of bench/sse.sh.

MODE sse:  SUBSCRIBERS HTTP/1.1 connections to the gateway's event stream
           GET /v1/test/feed/bench?count=EVENTS&intervalMs=INTERVAL_MS&stamp=true,
           read with asyncio sockets (no curl, no thread per connection).
MODE grpc: the baseline, the same messages straight from the service: SUBSCRIBERS
           server streams of yiwang.test.v1.FeedService/Watch over grpc.aio, spread
           over channels of 100 streams each.

Every message's text is the time the service sent it (µs, wall clock), so each
delivery has a latency; the row gives deliveries, their rate over the time from the
first subscription to the last delivery, and latency percentiles. Prints one JSON line."""
import asyncio
import json
import sys
import time

mode, target, subs, events, interval = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
host, port = target.rsplit(":", 1)
lat = []
errors = 0


def now_us():
    return time.time_ns() // 1000


async def sse_one(i):
    global errors
    try:
        r, w = await asyncio.open_connection(host, int(port), limit=1 << 20)
        w.write(("GET /v1/test/feed/bench%d?count=%d&intervalMs=%d&stamp=true HTTP/1.1\r\n"
                 "host: bench\r\naccept: text/event-stream\r\n\r\n" % (i, events, interval)).encode())
        await w.drain()
        status = await r.readline()
        if b" 200 " not in status:
            errors += 1
            w.close()
            return
        got = 0
        while got < events:
            line = await r.readline()
            if not line:
                break
            if line.startswith(b"data: "):
                d = json.loads(line[6:])
                lat.append(now_us() - int(d["text"]))
                got += 1
        if got < events:
            errors += 1
        w.close()
    except Exception:
        errors += 1


async def grpc_run(start):
    global errors
    import grpc
    from yiwang.test.v1 import feed_pb2 as pb
    chans = [grpc.aio.insecure_channel(target) for _ in range((subs + 99) // 100)]

    async def one(i):
        global errors
        ch = chans[i % len(chans)]
        watch = ch.unary_stream("/yiwang.test.v1.FeedService/Watch",
                                request_serializer=pb.FeedWatchRequest.SerializeToString,
                                response_deserializer=pb.FeedEvent.FromString)
        got = 0
        try:
            async for m in watch(pb.FeedWatchRequest(topic="bench%d" % i, count=events,
                                                     interval_ms=interval, stamp=True)):
                lat.append(now_us() - int(m.text))
                got += 1
        except Exception:
            pass
        if got < events:
            errors += 1

    await asyncio.gather(*(one(i) for i in range(subs)))
    for c in chans:
        await c.close()


async def main():
    start = time.monotonic()
    if mode == "sse":
        await asyncio.gather(*(sse_one(i) for i in range(subs)))
    else:
        await grpc_run(start)
    secs = time.monotonic() - start
    lat.sort()
    pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] / 1000.0 if lat else 0.0
    print(json.dumps({"mode": mode, "subscribers": subs, "events": events,
                      "interval_ms": interval, "delivered": len(lat), "errors": errors,
                      "seconds": round(secs, 3), "per_second": round(len(lat) / secs),
                      "p50_ms": round(pct(0.50), 2), "p99_ms": round(pct(0.99), 2),
                      "max_ms": round(lat[-1] / 1000.0, 2) if lat else 0}))


asyncio.run(main())
