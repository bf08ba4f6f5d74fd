"""A load client for blockstore's public Files API that is not our SDK
(Debian's python3-grpcio; messages generated from proto/ by protoc at run time).

Runs one workload with INFLIGHT calls in flight (one thread each, blocking
calls) until COUNT calls are done or MAX_SECONDS pass, and prints one JSON
object: calls done and failed, seconds, payload bytes, latency percentiles.

  put SIZE: uploads COUNT files of SIZE unique random bytes, PREFIX/0…
  get SIZE: COUNT downloads of the FILES files PREFIX/0… a put wrote

usage: files_load.py ADDRESS TOKEN STUBS_DIR put|get SIZE INFLIGHT COUNT MAX_SECONDS PREFIX [FILES]
"""
import json
import os
import sys
import threading
import time

sys.path.insert(0, sys.argv[3])

import grpc  # noqa: E402
from blockstore.v1 import files_pb2  # noqa: E402

address, token, _, mode = sys.argv[1:5]
size, inflight, count = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
max_seconds, prefix = float(sys.argv[8]), sys.argv[9]
files = int(sys.argv[10]) if len(sys.argv) > 10 else count
MESSAGE = 256 * 1024
metadata = [("authorization", "Bearer " + token)]
channel = grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 8 << 20), ("grpc.max_send_message_length", 8 << 20)])
put_file = channel.stream_unary("/blockstore.v1.Files/PutFile", request_serializer=files_pb2.PutFileRequest.SerializeToString, response_deserializer=files_pb2.PutFileResponse.FromString)
get_file = channel.unary_stream("/blockstore.v1.Files/GetFile", request_serializer=files_pb2.GetFileRequest.SerializeToString, response_deserializer=files_pb2.GetFileResponse.FromString)

lock = threading.Lock()
state = {"next": 0, "ok": 0, "failed": 0, "bytes": 0, "errors": {}, "samples": {}}
latencies = []
deadline = time.monotonic() + max_seconds


def take():
    with lock:
        if state["next"] >= count or time.monotonic() > deadline:
            return None
        state["next"] += 1
        return state["next"] - 1


def put(i):
    data = os.urandom(size)
    def messages():
        yield files_pb2.PutFileRequest(header=files_pb2.PutFileHeader(path=f"{prefix}/{i}", idempotency_key=f"{prefix}-{i}"))
        for off in range(0, len(data), MESSAGE):
            yield files_pb2.PutFileRequest(data=data[off:off + MESSAGE])
    put_file(messages(), metadata=metadata, timeout=60)
    return len(data)


def get(i):
    n = 0
    for m in get_file(files_pb2.GetFileRequest(path=f"{prefix}/{i % files}"), metadata=metadata, timeout=60):
        n += len(m.data)
    if n != size:
        raise RuntimeError(f"read {n} bytes, expected {size}")
    return n


def worker():
    call = put if mode == "put" else get
    while True:
        i = take()
        if i is None:
            return
        t0 = time.monotonic()
        try:
            n = call(i)
            dt = time.monotonic() - t0
            with lock:
                state["ok"] += 1
                state["bytes"] += n
                latencies.append(dt)
        except Exception as e:  # noqa: BLE001 - counted and reported
            code = e.code().name if isinstance(e, grpc.RpcError) else type(e).__name__
            with lock:
                state["failed"] += 1
                state["errors"][code] = state["errors"].get(code, 0) + 1
                if code not in state["samples"]:
                    detail = e.details() if isinstance(e, grpc.RpcError) else str(e)
                    state["samples"][code] = f"call {i}: {detail}"


started = time.monotonic()
threads = [threading.Thread(target=worker) for _ in range(inflight)]
cpu_started = time.process_time()
for t in threads:
    t.start()
for t in threads:
    t.join()
seconds = time.monotonic() - started
cpu_seconds = time.process_time() - cpu_started
latencies.sort()
pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0  # noqa: E731
print(json.dumps({"mode": mode, "size": size, "inflight": inflight, "ok": state["ok"], "failed": state["failed"], "errors": state["errors"], "samples": state["samples"],
                  "seconds": seconds, "bytes": state["bytes"], "p50_ms": pct(0.5), "p99_ms": pct(0.99),
                  "cpu_seconds": cpu_seconds}))
