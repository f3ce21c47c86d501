"""grpc_client.py GATEWAY CATALOG CODE HTTPBASE - a real gRPC client (grpcio) against the
gateway's pass-through and straight against yw-catalog: the answers must be the same
bytes, errors must keep their status, and gRPC-Web must frame the same message.

yw-catalog serves mutual TLS when YW_TLS_CA, YW_TLS_CERT and YW_TLS_KEY are set (the
gateway's client certificate, exported by lib.sh's e2e_start): the direct calls show
that certificate; the gateway's own port is cleartext h2c."""
import base64
import os
import struct
import sys
import urllib.request

import grpc
from yiwang.catalog.v1 import catalog_pb2 as pb

gateway, direct, code, http_base = sys.argv[1:5]
failures = []


def expect(name, cond):
    print(("ok   " if cond else "FAIL ") + name)
    if not cond:
        failures.append(name)


def channel(target, mtls):
    tls = [os.environ.get(k, "") for k in ("YW_TLS_CA", "YW_TLS_KEY", "YW_TLS_CERT")]
    if not mtls or not all(tls):
        return grpc.insecure_channel(target)
    ca, key, cert = (open(p, "rb").read() for p in tls)
    return grpc.secure_channel(target, grpc.ssl_channel_credentials(ca, key, cert))


def stubs(target, mtls=False):
    ch = channel(target, mtls)
    get = ch.unary_unary("/yiwang.catalog.v1.CatalogService/GetItem",
                         request_serializer=pb.GetItemRequest.SerializeToString,
                         response_deserializer=pb.Item.FromString)
    lst = ch.unary_unary("/yiwang.catalog.v1.CatalogService/ListItems",
                         request_serializer=pb.ListItemsRequest.SerializeToString,
                         response_deserializer=pb.ListItemsResponse.FromString)
    ups = ch.unary_unary("/yiwang.catalog.v1.CatalogService/UpsertItem",
                         request_serializer=pb.UpsertItemRequest.SerializeToString,
                         response_deserializer=pb.Item.FromString)
    return get, lst, ups


gw_get, gw_list, gw_upsert = stubs(gateway)
d_get, d_list, _ = stubs(direct, mtls=True)

via_gw, call = gw_get.with_call(pb.GetItemRequest(code=code), timeout=5,
                                metadata=[("x-request-id", "grpc-e2e-1")])
straight = d_get(pb.GetItemRequest(code=code), timeout=5)
expect("GetItem through the gateway equals the direct call", via_gw == straight)
trailers = dict(call.trailing_metadata())
expect("the service's own trailers come back through the pass-through (x-cache)",
       trailers.get("x-cache") in ("hit", "miss"))
expect("GetItem returns the item", via_gw.name == "居民身份证换领")

req = pb.ListItemsRequest(q="身份证", page_size=5)
expect("ListItems through the gateway equals the direct call",
       gw_list(req, timeout=5) == d_list(req, timeout=5))

try:
    gw_get(pb.GetItemRequest(code="NO-SUCH"), timeout=5)
    expect("NOT_FOUND passes through", False)
except grpc.RpcError as e:
    expect("NOT_FOUND passes through with its message",
           e.code() == grpc.StatusCode.NOT_FOUND and "NO-SUCH" in e.details())
    expect("an error's trailers come back too (Trailers-Only)",
           dict(e.trailing_metadata()).get("x-cache") == "miss")

try:
    gw_upsert(pb.UpsertItemRequest(), timeout=5)
    expect("a write without a token is refused through the gateway", False)
except grpc.RpcError as e:
    expect("a write without a token is refused through the gateway",
           e.code() == grpc.StatusCode.UNAUTHENTICATED)

# gRPC-Web (binary and text) over HTTP/1.1
msg = pb.GetItemRequest(code=code).SerializeToString()
frame = b"\x00" + struct.pack(">I", len(msg)) + msg


def grpc_web(body, ctype, extra=None):
    headers = {"content-type": ctype, "x-grpc-web": "1"}
    headers.update(extra or {})
    r = urllib.request.Request(http_base + "/yiwang.catalog.v1.CatalogService/GetItem", data=body,
                               headers=headers)
    with urllib.request.urlopen(r, timeout=5) as resp:
        return resp.headers.get("content-type"), resp.read()


def parse_frames(data):
    frames = []
    while data:
        flag, n = data[0], struct.unpack(">I", data[1:5])[0]
        frames.append((flag, data[5:5 + n]))
        data = data[5 + n:]
    return frames


ctype, body = grpc_web(frame, "application/grpc-web+proto")
frames = parse_frames(body)
expect("gRPC-Web answers with the message and a trailer frame",
       ctype == "application/grpc-web+proto" and len(frames) == 2 and frames[1][0] == 0x80)
expect("gRPC-Web message equals the direct answer", pb.Item.FromString(frames[0][1]) == straight)
expect("gRPC-Web trailers say OK", b"grpc-status:0" in frames[1][1])
expect("gRPC-Web trailers carry the service's own (x-cache)", b"x-cache:" in frames[1][1])

ctype, body = grpc_web(base64.b64encode(frame), "application/grpc-web-text")
frames = parse_frames(base64.b64decode(body))
expect("gRPC-Web-text round trip", ctype.startswith("application/grpc-web-text")
       and pb.Item.FromString(frames[0][1]) == straight)

ctype, body = grpc_web(frame, "application/grpc-web+proto", {"grpc-timeout": "soon"})
frames = parse_frames(body)
expect("a malformed grpc-timeout is INVALID_ARGUMENT",
       len(frames) == 1 and frames[0][0] == 0x80 and b"grpc-status:3" in frames[0][1])

sys.exit(1 if failures else 0)
