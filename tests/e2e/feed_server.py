"""feed_server.py PORT - a gRPC server (python3-grpcio) of yiwang.test.v1.FeedService, the
server-streaming method the e2e tests of the gateway's streamed answers call through
yw-gateway-test (tests/e2e/gw_test_routes.c).

Watch sends `count` FeedEvents numbered from the `last-event-id` metadata plus one (or
1), `interval_ms` apart, then ends (OK), or with `hold` stays open until the client
goes, or with `fail_after` ends UNAVAILABLE after that many. Topic "missing" answers
NOT_FOUND before any message. Every stream's end is printed as one line on stdout, so
the test can see a cancel arrive: "watch <topic> ended cancelled=<0|1> sent=<n>
last_event_id=<id>"."""
import sys
import threading
import time
from concurrent import futures

import grpc
from yiwang.test.v1 import feed_pb2 as pb

port = int(sys.argv[1])
workers = int(sys.argv[2]) if len(sys.argv) > 2 else 64
lock = threading.Lock()


def say(line):
    with lock:
        print(line, flush=True)


def watch(req, ctx):
    md = dict(ctx.invocation_metadata())
    last = md.get("last-event-id", "")
    if req.topic == "missing":
        ctx.abort(grpc.StatusCode.NOT_FOUND, "no such topic")
    first = int(last) + 1 if last.isdigit() else 1
    sent = 0
    done = threading.Event()
    state = {"finished": False}

    def on_end():
        say("watch %s ended cancelled=%d sent=%d last_event_id=%s caller=%s"
            % (req.topic, 0 if state["finished"] else 1, sent, last or "-",
               "yes" if md.get("x-yw-caller") else "no"))
        done.set()

    ctx.add_callback(on_end)
    pad = "x" * req.size
    for i in range(req.count):
        if req.interval_ms:
            if done.wait(req.interval_ms / 1000.0):
                return
        if not ctx.is_active():
            return
        if req.fail_after and sent == req.fail_after:
            state["finished"] = True
            ctx.abort(grpc.StatusCode.UNAVAILABLE, "the feed broke off")
        yield pb.FeedEvent(seq=first + i, topic=req.topic, text=pad or "event %d" % (first + i))
        sent += 1
    if req.hold:
        done.wait(3600)
        return
    state["finished"] = True
    ctx.set_trailing_metadata((("x-feed-sent", str(sent)),))


handler = grpc.method_handlers_generic_handler("yiwang.test.v1.FeedService", {
    "Watch": grpc.unary_stream_rpc_method_handler(
        watch, request_deserializer=pb.FeedWatchRequest.FromString,
        response_serializer=pb.FeedEvent.SerializeToString),
})
# grpc.health.v1.Health/Check answers SERVING (field 1 = 1), so the gateway's health
# checks see the test service up
health = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
    "Check": grpc.unary_unary_rpc_method_handler(
        lambda req, ctx: b"\x08\x01", request_deserializer=None, response_serializer=None),
})
server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers),
                     maximum_concurrent_rpcs=workers)
server.add_generic_rpc_handlers((handler, health))
server.add_insecure_port("127.0.0.1:%d" % port)
server.start()
say("serving on %d" % port)
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    pass
finally:
    server.stop(0)
