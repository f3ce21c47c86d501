"""rt_stream_client.py TARGET SERVER_LOG - python3-grpcio against yw-test-stream-server:
the runtime's server streams seen by another client implementation. Proves: 1000
messages arrive in order and the status is OK; a client that cancels is seen by the
server (its cancel callback logs stream.cancelled); a stream without a deadline stays
open while messages come. Messages are built with the test protos compiled by protoc
--python_out into PYTHONPATH."""
import sys
import time

import grpc
from yiwang.test.v1 import stream_pb2 as pb

target, server_log = sys.argv[1:3]
failures = []


def expect(name, cond):
    print(("ok   " if cond else "FAIL ") + name)
    if not cond:
        failures.append(name)


ch = grpc.insecure_channel(target)
grpc.channel_ready_future(ch).result(timeout=10)
watch = ch.unary_stream("/yiwang.test.v1.StreamService/Watch",
                        request_serializer=pb.WatchRequest.SerializeToString,
                        response_deserializer=pb.WatchEvent.FromString)

# 1000 messages, in order, then OK (no deadline: long-lived streams send none)
call = watch(pb.WatchRequest(count=1000), metadata=[("x-request-id", "e2e-stream-1")])
seqs = [ev.seq for ev in call]
expect("1000 messages arrive", len(seqs) == 1000)
expect("in order", seqs == list(range(1, 1001)))
expect("the stream ends OK", call.code() == grpc.StatusCode.OK)

# a held stream: the first message comes, then the client cancels
call = watch(pb.WatchRequest(mode="hold"), metadata=[("x-request-id", "e2e-stream-hold")])
first = next(call)
expect("a held stream sends its first message", first.seq == 1)
call.cancel()
seen = False
for _ in range(100):  # bounded: up to 10 s for the server to log it
    with open(server_log, encoding="utf-8") as f:
        if any("stream.cancelled" in l and "e2e-stream-hold" in l for l in f):
            seen = True
            break
    time.sleep(0.1)
expect("the server saw the client cancel (its cancel callback ran)", seen)

if failures:
    print("%d failed" % len(failures))
    sys.exit(1)
