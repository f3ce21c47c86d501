#!/usr/bin/env bash
# e2e_rpc_stream.sh - the runtime's server streams from a real process
# (yw-test-stream-server, tests/e2e/rt_stream_server.c) to python3-grpcio: 1000 messages
# in order, a client's cancel seen by the server, and SIGTERM ending an open stream with
# UNAVAILABLE within the grace time.
source "$(dirname "$0")/lib.sh"

port="$(free_port)"
"$YW_BUILD_DIR/tests/yw-test-stream-server" "127.0.0.1:$port" >"$E2E_TMP/server.log" 2>&1 &
SERVER_PID=$!
E2E_PIDS+=("$SERVER_PID")
for _ in $(seq 100); do grep -q server.ready "$E2E_TMP/server.log" && break; sleep 0.1; done

mkdir -p "$E2E_TMP/py"
protoc --proto_path="$YW_SOURCE_DIR/tests/proto" --python_out="$E2E_TMP/py" \
  yiwang/test/v1/echo.proto yiwang/test/v1/stream.proto
export PYTHONPATH="$E2E_TMP/py"

if /usr/bin/python3 "$YW_SOURCE_DIR/tests/e2e/rt_stream_client.py" "127.0.0.1:$port" \
  "$E2E_TMP/server.log"; then
  pass "python3-grpcio streams from the runtime"
else
  fail "python3-grpcio streams from the runtime"
fi

# SIGTERM with a stream open: the client gets UNAVAILABLE, the server exits
/usr/bin/python3 - "127.0.0.1:$port" >"$E2E_TMP/held.out" 2>&1 <<'PY' &
import sys
import grpc
from yiwang.test.v1 import stream_pb2 as pb
ch = grpc.insecure_channel(sys.argv[1])
watch = ch.unary_stream("/yiwang.test.v1.StreamService/Watch",
                        request_serializer=pb.WatchRequest.SerializeToString,
                        response_deserializer=pb.WatchEvent.FromString)
call = watch(pb.WatchRequest(mode="hold"))
print("first", next(call).seq, flush=True)
try:
    for ev in call:
        pass
    print("status", call.code().name, flush=True)
except grpc.RpcError as e:
    print("status", e.code().name, flush=True)
PY
CLIENT_PID=$!
for _ in $(seq 100); do grep -q "^first 1" "$E2E_TMP/held.out" && break; sleep 0.1; done
kill -TERM "$SERVER_PID"
server_rc=0
wait "$SERVER_PID" || server_rc=$?
wait "$CLIENT_PID" || true
check "the server stops on SIGTERM with a stream open" [ "$server_rc" = 0 ]
check "the open stream ends UNAVAILABLE" grep -q "^status UNAVAILABLE" "$E2E_TMP/held.out"

finish
