"""sse_clients.py GATEWAY_HOST:PORT - the clients of e2e_sse.sh that curl cannot be:
a gRPC client (python3-grpcio) of a server stream through the gateway's pass-through,
gRPC-Web framing read back from raw HTTP, an EventSource-like client that reconnects
with Last-Event-ID as browsers do, a client that never reads (flow control), and one
that pings but never opens its window.
Prints "ok   <what>" or "FAIL <what>" per check; exits 1 when any failed."""
import base64
import http.client
import re
import socket
import struct
import sys
import time

import grpc
from yiwang.test.v1 import feed_pb2 as pb

target = sys.argv[1]
host, port = target.rsplit(":", 1)
port = int(port)
failures = []


def expect(name, cond):
    print(("ok   " if cond else "FAIL ") + name, flush=True)
    if not cond:
        failures.append(name)


# ---- gRPC server streaming through the pass-through
ch = grpc.insecure_channel(target)
watch = ch.unary_stream("/yiwang.test.v1.FeedService/Watch",
                        request_serializer=pb.FeedWatchRequest.SerializeToString,
                        response_deserializer=pb.FeedEvent.FromString)
call = watch(pb.FeedWatchRequest(topic="grpc", count=5, interval_ms=50), timeout=10)
seqs = [m.seq for m in call]
expect("gRPC: five messages in order through the pass-through", seqs == [1, 2, 3, 4, 5])
expect("gRPC: the status comes at the end (OK)", call.code() == grpc.StatusCode.OK)
expect("gRPC: the service's trailers come back",
       dict(call.trailing_metadata()).get("x-feed-sent") == "5")

call = watch(pb.FeedWatchRequest(topic="grpc-resume", count=2), timeout=10,
             metadata=[("last-event-id", "41")])
expect("gRPC: metadata reaches the service (resumes after 41)", [m.seq for m in call] == [42, 43])

try:
    list(watch(pb.FeedWatchRequest(topic="missing", count=1), timeout=10))
    expect("gRPC: an error before any message keeps its status", False)
except grpc.RpcError as e:
    expect("gRPC: an error before any message keeps its status (NOT_FOUND)",
           e.code() == grpc.StatusCode.NOT_FOUND)

got = []
try:
    for m in watch(pb.FeedWatchRequest(topic="grpc-fail", count=5, fail_after=2), timeout=10):
        got.append(m.seq)
    expect("gRPC: an error after messages ends the stream with it", False)
except grpc.RpcError as e:
    expect("gRPC: an error after two messages ends the stream with UNAVAILABLE",
           got == [1, 2] and e.code() == grpc.StatusCode.UNAVAILABLE)

call = watch(pb.FeedWatchRequest(topic="grpc-cancel", count=1, hold=True), timeout=30)
first = next(call)
call.cancel()
expect("gRPC: a held stream gives its first message, then the client cancels", first.seq == 1)


# ---- gRPC-Web (binary and text) over HTTP/1.1
def grpc_web(text):
    msg = pb.FeedWatchRequest(topic="web", count=3).SerializeToString()
    body = b"\x00" + struct.pack(">I", len(msg)) + msg
    ct = "application/grpc-web-text+proto" if text else "application/grpc-web+proto"
    if text:
        body = base64.b64encode(body)
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.request("POST", "/yiwang.test.v1.FeedService/Watch", body=body,
              headers={"content-type": ct, "x-grpc-web": "1"})
    r = c.getresponse()
    data = r.read()
    c.close()
    if text:  # each frame is base64 of its own: decode up to each padding's end
        data = b"".join(base64.b64decode(p) for p in re.findall(r"[^=]*=*", data.decode()) if p)
    frames = []
    while len(data) >= 5:
        flag, n = data[0], struct.unpack(">I", data[1:5])[0]
        frames.append((flag, data[5:5 + n]))
        data = data[5 + n:]
    return r.status, r.getheader("content-type"), frames


for text in (False, True):
    kind = "gRPC-Web-text" if text else "gRPC-Web"
    status, ct, frames = grpc_web(text)
    msgs = [pb.FeedEvent.FromString(f[1]).seq for f in frames if f[0] == 0]
    trailers = [f[1] for f in frames if f[0] & 0x80]
    expect("%s: 200 with its content type" % kind, status == 200 and ct is not None and
           ct.startswith("application/grpc-web"))
    expect("%s: three message frames in order" % kind, msgs == [1, 2, 3])
    expect("%s: a trailer frame last, grpc-status 0" % kind,
           len(trailers) == 1 and frames[-1][0] & 0x80 and b"grpc-status:0" in trailers[0])


# ---- an EventSource-like client: reads events, loses the connection, reconnects
# with Last-Event-ID after the retry the stream asked for, and goes on from there
def read_events(resp, n):
    events, ev, retry = [], {}, None
    while len(events) < n:
        line = resp.fp.readline()
        if not line:
            break
        line = line.decode().rstrip("\r\n")
        if line == "":
            if "data" in ev:
                events.append(ev)
            ev = {}
        elif line.startswith(":"):
            continue
        else:
            k, _, v = line.partition(":")
            v = v[1:] if v.startswith(" ") else v
            if k == "retry":
                retry = int(v)
            else:
                ev[k] = v
    return events, retry


last_id, seen, retry = None, [], None
for attempt in range(3):
    c = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"accept": "text/event-stream"}
    if last_id is not None:
        headers["last-event-id"] = last_id
    c.request("GET", "/v1/test/feed/browser?count=100&intervalMs=20", headers=headers)
    r = c.getresponse()
    evs, rt = read_events(r, 3)
    retry = rt if rt is not None else retry
    seen += [int(e["id"]) for e in evs]
    last_id = evs[-1]["id"] if evs else last_id
    c.close()  # the connection drops after three events
    time.sleep((retry or 0) / 1000.0)
expect("EventSource: three reconnections with Last-Event-ID see every event once, in order",
       seen == list(range(1, 10)))
expect("EventSource: the stream gives a retry hint", retry is not None)

# ---- flow control: a client that never reads holds the service back
s = socket.create_connection((host, port))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.sendall(b"GET /v1/test/feed/slow?count=400&size=60000 HTTP/1.1\r\nhost: x\r\n\r\n")
time.sleep(3)
s.close()
print("slow client closed", flush=True)

# ---- the same over h2: one stream whose window the client never opens again (raw
# frames: the preface, an empty SETTINGS, one HEADERS with HPACK literals), and a socket
# it never reads
def hpack_literal(name, value):
    return bytes([0, len(name)]) + name + bytes([len(value)]) + value


def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


block = b"".join(hpack_literal(n, v) for n, v in (
    (b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"x"),
    (b":path", b"/v1/test/feed/slowh2?count=400&size=60000")))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect((host, port))
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"") + frame(1, 0x5, 1, block))
time.sleep(3)
s.close()
print("slow h2 client closed", flush=True)

# ---- h2: a client that reads all it gets and keeps the connection busy with PINGs,
# but lets no byte of its stream through (its initial window is 0): the wait is the
# client's, so the gateway ends the connection after its idle timeout and the service's
# stream is cancelled (e2e_sse.sh checks that). Without that the stream, and the
# service's call behind it, would stay open for as long as the client pings.
block = b"".join(hpack_literal(n, v) for n, v in (
    (b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"x"),
    (b":path", b"/v1/test/feed/windowshut?count=1&hold=true")))
s = socket.create_connection((host, port))
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, struct.pack(">HI", 4, 0)) +
          frame(1, 0x5, 1, block))
s.settimeout(0.2)
buf, ended, data_bytes, headers = b"", False, 0, False
give_up = time.time() + 30
while time.time() < give_up and not ended:
    try:
        got = s.recv(65536)
        if not got:
            ended = True
            break
        buf += got
    except socket.timeout:
        pass
    except OSError:
        ended = True
        break
    while len(buf) >= 9:
        length = int.from_bytes(buf[0:3], "big")
        if len(buf) < 9 + length:
            break
        ftype, flags = buf[3], buf[4]
        if ftype == 0:
            data_bytes += length
        elif ftype == 1:
            headers = True
        elif ftype == 4 and not flags & 1:
            s.sendall(frame(4, 1, 0, b""))  # acknowledge the gateway's SETTINGS
        elif ftype == 7:
            ended = True
        buf = buf[9 + length:]
    if not ended:
        try:
            s.sendall(frame(6, 0, 0, b"\0" * 8))  # PING: the client is alive
        except OSError:
            ended = True
s.close()
expect("h2: the answer's head came through a shut window", headers)
expect("h2: no DATA passed the window the client kept shut (%d bytes)" % data_bytes, data_bytes == 0)
expect("h2: a stream the client holds back with its window ends with the idle timeout, PINGs or not",
       ended)

sys.exit(1 if failures else 0)
