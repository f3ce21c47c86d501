#!/usr/bin/python3
"""clients.py - slow, hostile and plentiful clients for the gateway's e2e tests, on raw
sockets (HTTP/1.1 bytes and HTTP/2 frames written by hand), so that each misbehaves in
exactly one way. Debian's python3 only.

Every command prints one JSON object on its last line of output, with at_ms, the wall
clock in milliseconds when it was printed:

  slow-h1 PORT INTERVAL MAX        a request head, one byte every INTERVAL s
  slow-h2-preface PORT INTERVAL MAX  the HTTP/2 preface, one byte every INTERVAL s
  slow-h2-headers PORT INTERVAL MAX  HEADERS without END_HEADERS, then one CONTINUATION
                                   byte every INTERVAL s
  h2-ping PORT INTERVAL MAX        an HTTP/2 connection that only sends PING
      -> {"closed": true, "after": seconds, "goaway": bool} or {"closed": false}
  hold PORT N SECONDS             opens N idle connections, prints {"opened": k}, waits
                                   up to SECONDS for the server to close them
      -> {"opened": k, "closed": m, "first": s, "last": s}
  keepalive PORT N SECONDS         as hold, after one HTTP/1.1 request on each
  cap PORT HOLD EXTRA              holds HOLD connections, then opens EXTRA more and asks
                                   for /healthz on one held and one extra connection
      -> {"held": k, "extra_closed": m, "held_answer": status, "extra_answer": status}
  pipeline PORT PATH SECONDS       pipelines GET PATH without reading any answer, for
                                   SECONDS, then holds the connection SECONDS more
      -> {"requests_sent": n}
  h2-push PORT STREAMS BODY        opens STREAMS POST streams and pushes BODY bytes on
                                   each as far as flow control allows, never ending them
      -> {"sent": bytes, "offered": STREAMS*BODY, "refused": n, "conn_window_updates": n}
  h2-big-body PORT BYTES           POSTs BYTES of body on one stream without a
                                   content-length, as far as flow control allows
      -> {"sent": bytes, "stream_window": granted in all, "answer": DATA text,
          "end_stream": bool, "rst": error code or null}
"""
import json
import select
import socket
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def done(result):
    result.setdefault("at_ms", int(time.time() * 1000))  # when it ended, for the shell's clock
    print(json.dumps(result), flush=True)


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def hpack_int(n, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if n < limit:
        return bytes([first | n])
    out = [first | limit]
    n -= limit
    while n >= 128:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def literal(name, value):
    """A literal header field without indexing, new name, no Huffman."""
    name, value = name.encode(), value.encode()
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def request_block(method, path, extra=()):
    block = literal(":method", method) + literal(":scheme", "http") + literal(":path", path)
    block += literal(":authority", "127.0.0.1")
    for name, value in extra:
        block += literal(name, value)
    return block


class Frames:
    """Reads HTTP/2 frames from a socket without blocking for long."""

    def __init__(self, sock):
        self.sock, self.buf, self.eof = sock, b"", False

    def poll(self, timeout=0.0):
        frames = []
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        while not self.eof:
            if not poller.poll(timeout * 1000):
                break
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                self.eof = True
                break
            self.buf += chunk
            timeout = 0.0
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[0:3], "big")
            if len(self.buf) < 9 + length:
                break
            ftype, flags = self.buf[3], self.buf[4]
            sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            frames.append((ftype, flags, sid, self.buf[9:9 + length]))
            self.buf = self.buf[9 + length:]
        return frames


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(None)  # blocking, so that MSG_DONTWAIT alone decides whether recv waits
    return s


def closed_by_peer(sock):
    """True when the server has closed (EOF or reset); never blocks. Bytes the server
    sent before are read and dropped."""
    try:
        while True:
            data = sock.recv(65536, socket.MSG_DONTWAIT)
            if not data:
                return True
    except BlockingIOError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def trickle(sock, chunks, interval, max_seconds, frames=None, ack=True):
    """Sends chunks one every interval; reports when the server closed the connection.
    With frames, reads HTTP/2 frames meanwhile and (when ack) acknowledges SETTINGS."""
    start = time.monotonic()
    goaway = False
    for chunk in chunks:
        if time.monotonic() - start > max_seconds:
            break
        try:
            sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            return {"closed": True, "after": round(time.monotonic() - start, 2), "goaway": goaway}
        deadline = time.monotonic() + interval
        while time.monotonic() < deadline:
            if frames is not None:
                for f in frames.poll(0.05):
                    if f[0] == GOAWAY:
                        goaway = True
                    elif f[0] == SETTINGS and not f[1] & ACK and ack:
                        sock.sendall(frame(SETTINGS, ACK, 0))
                if frames.eof:
                    return {"closed": True, "after": round(time.monotonic() - start, 2), "goaway": goaway}
            else:
                if closed_by_peer(sock):
                    return {"closed": True, "after": round(time.monotonic() - start, 2)}
                time.sleep(0.05)
    return {"closed": False, "after": round(time.monotonic() - start, 2)}


def slow_h1(port, interval, max_seconds):
    sock = connect(port)
    head = b"GET /v1/items HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 10000
    done(trickle(sock, [head[i:i + 1] for i in range(len(head))], interval, max_seconds))


def slow_h2_preface(port, interval, max_seconds):
    sock = connect(port)
    data = PREFACE + frame(SETTINGS, 0, 0)
    done(trickle(sock, [data[i:i + 1] for i in range(len(data))] + [b""] * 10000, interval,
                 max_seconds))


def slow_h2_headers(port, interval, max_seconds):
    sock = connect(port)
    frames = Frames(sock)
    sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
    for f in frames.poll(2.0):
        if f[0] == SETTINGS and not f[1] & ACK:
            sock.sendall(frame(SETTINGS, ACK, 0))
    # nothing but CONTINUATION may follow a HEADERS without END_HEADERS: no more ACKs
    block = request_block("GET", "/v1/items") + b"\x00" + hpack_int(6, 7) + b"x-slow" + hpack_int(5000, 7)
    chunks = [frame(HEADERS, END_STREAM, 1, block)] + [frame(CONTINUATION, 0, 1, b"a")] * 5000
    done(trickle(sock, chunks, interval, max_seconds, frames, ack=False))


def h2_ping(port, interval, max_seconds):
    sock = connect(port)
    frames = Frames(sock)
    first = PREFACE + frame(SETTINGS, 0, 0)
    chunks = [first] + [frame(PING, 0, 0, struct.pack(">Q", i)) for i in range(10000)]
    done(trickle(sock, chunks, interval, max_seconds, frames))


def hold(port, n, seconds, ask=False):
    socks = []
    for _ in range(n):
        try:
            socks.append(connect(port))
        except OSError:
            break
    answers = [healthz(s) for s in socks] if ask else []
    for s in socks:
        s.settimeout(None)
    start, wall = time.monotonic(), time.time()
    if ask:
        print(json.dumps({"opened": len(socks), "answered": answers.count(200)}), flush=True)
    else:
        print(json.dumps({"opened": len(socks)}), flush=True)
    closed_at = {}
    poller = select.poll()
    by_fd = {s.fileno(): s for s in socks}
    for s in socks:
        poller.register(s, select.POLLIN)
    while len(closed_at) < len(socks) and time.monotonic() - start < seconds:
        for fd, _ in poller.poll(200):
            s = by_fd[fd]
            if closed_by_peer(s):
                closed_at[s] = time.monotonic() - start
                poller.unregister(fd)
    times = sorted(closed_at.values())
    done({"opened": len(socks), "closed": len(times),
          "first": round(times[0], 2) if times else None,
          "last": round(times[-1], 2) if times else None,
          "last_at_ms": int((wall + times[-1]) * 1000) if times else None})


def healthz(sock):
    """Asks for /healthz on a connection; the status, or 0 when the server hung up."""
    try:
        sock.settimeout(5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = sock.recv(4096)
        return int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else 0
    except (OSError, IndexError, ValueError):
        return 0


def cap(port, held_n, extra_n):
    held = [connect(port) for _ in range(held_n)]
    time.sleep(1.0)  # the gateway has accepted them all
    extra = []
    for _ in range(extra_n):
        try:
            extra.append(connect(port))
        except OSError:
            extra.append(None)
    time.sleep(1.0)
    extra_closed = sum(1 for s in extra if s is None or closed_by_peer(s))
    held_closed = sum(1 for s in held if closed_by_peer(s))
    held_answer = healthz(held[0])
    extra_answer = healthz(extra[-1]) if extra and extra[-1] is not None else 0
    done({"held": held_n - held_closed, "extra_closed": extra_closed, "held_answer": held_answer,
          "extra_answer": extra_answer})


def pipeline(port, path, seconds):
    sock = connect(port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode()
    batch = req * 64
    sent, pending = 0, b""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if not pending:
            pending = batch
        try:
            n = sock.send(pending)
            sent += n
            pending = pending[n:]
        except BlockingIOError:
            time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            break
    print(json.dumps({"requests_sent": sent // len(req)}), flush=True)
    time.sleep(seconds)  # held without reading while the test looks at the gateway
    done({"requests_sent": sent // len(req)})


def h2_push(port, streams, body):
    sock = connect(port)
    frames = Frames(sock)
    sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
    conn_window = 65535
    windows, left = {}, {}
    for i in range(streams):
        sid = 2 * i + 1
        block = request_block("POST", "/v1/auth/sessions", [("content-type", "application/json")])
        sock.sendall(frame(HEADERS, END_HEADERS, sid, block))
        windows[sid], left[sid] = 65535, body
    sent, refused, updates = 0, set(), 0
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 3.0 and not frames.eof:
        for ftype, flags, sid, payload in frames.poll(0.05):
            if ftype == SETTINGS and not flags & ACK:
                sock.sendall(frame(SETTINGS, ACK, 0))
            elif ftype == WINDOW_UPDATE:
                inc = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
                if sid == 0:
                    conn_window += inc
                    updates += 1
                elif sid in windows:
                    windows[sid] += inc
            elif ftype == RST_STREAM:
                refused.add(sid)
                left.pop(sid, None)
        moved = False
        for sid in list(left):
            n = min(16384, conn_window, windows[sid], left[sid])
            if n <= 0:
                continue
            sock.sendall(frame(DATA, 0, sid, b"x" * n))
            conn_window -= n
            windows[sid] -= n
            left[sid] -= n
            sent += n
            moved = True
        if moved:
            idle_since = time.monotonic()
    done({"sent": sent, "offered": streams * body, "refused": len(refused),
          "conn_window_updates": updates})


def h2_big_body(port, total):
    sock = connect(port)
    frames = Frames(sock)
    block = request_block("POST", "/v1/auth/sessions", [("content-type", "application/json")])
    sock.sendall(PREFACE + frame(SETTINGS, 0, 0) + frame(HEADERS, END_HEADERS, 1, block))
    conn_window, stream_window, granted = 65535, 65535, 65535
    sent, answer, end_stream, rst = 0, b"", False, None
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 3.0 and not frames.eof and rst is None:
        for ftype, flags, sid, payload in frames.poll(0.05):
            if ftype == SETTINGS and not flags & ACK:
                sock.sendall(frame(SETTINGS, ACK, 0))
            elif ftype == WINDOW_UPDATE:
                inc = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
                if sid == 0:
                    conn_window += inc
                else:
                    stream_window += inc
                    granted += inc
            elif ftype == DATA and sid == 1:
                answer += payload
                end_stream = end_stream or bool(flags & END_STREAM)
            elif ftype == HEADERS and sid == 1 and flags & END_STREAM:
                end_stream = True
            elif ftype == RST_STREAM and sid == 1:
                rst = int.from_bytes(payload[:4], "big")
            elif ftype == GOAWAY:
                idle_since = 0
        n = min(16384, conn_window, stream_window, total - sent)
        if n > 0 and rst is None and not end_stream:
            try:
                sock.sendall(frame(DATA, END_STREAM if sent + n == total else 0, 1, b"x" * n))
            except OSError:
                break
            conn_window -= n
            stream_window -= n
            sent += n
            idle_since = time.monotonic()
    done({"sent": sent, "stream_window": granted, "answer": answer.decode(errors="replace"),
          "end_stream": end_stream, "rst": rst})


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "slow-h1":
        slow_h1(int(args[0]), float(args[1]), float(args[2]))
    elif cmd == "slow-h2-preface":
        slow_h2_preface(int(args[0]), float(args[1]), float(args[2]))
    elif cmd == "slow-h2-headers":
        slow_h2_headers(int(args[0]), float(args[1]), float(args[2]))
    elif cmd == "h2-ping":
        h2_ping(int(args[0]), float(args[1]), float(args[2]))
    elif cmd == "hold":
        hold(int(args[0]), int(args[1]), float(args[2]))
    elif cmd == "keepalive":
        hold(int(args[0]), int(args[1]), float(args[2]), ask=True)
    elif cmd == "cap":
        cap(int(args[0]), int(args[1]), int(args[2]))
    elif cmd == "pipeline":
        pipeline(int(args[0]), args[1], float(args[2]))
    elif cmd == "h2-big-body":
        h2_big_body(int(args[0]), int(args[1]))
    elif cmd == "h2-push":
        h2_push(int(args[0]), int(args[1]), int(args[2]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
