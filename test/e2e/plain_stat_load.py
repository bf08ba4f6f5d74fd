"""A client that never retries (Debian's python3-grpcio with default
settings; messages generated from proto/ by protoc at run time): StatFile on
one path at a fixed rate, open loop, for a bounded time.

Each call is started on schedule whether or not earlier ones finished (what
many independent clients do), with a 10 s deadline. Prints one JSON object:
calls started, ok, failed, failures by status code with a sample message
each, and for each failure the second (since the start) it began in.

usage: plain_stat_load.py ADDRESS TOKEN STUBS_DIR PATH RATE SECONDS
"""
import json
import sys
import threading
import time

sys.path.insert(0, sys.argv[3])

import grpc  # noqa: E402
from blockstore.v1 import files_pb2  # noqa: E402

address, token, _, path = sys.argv[1:5]
rate, seconds = float(sys.argv[5]), float(sys.argv[6])
metadata = [("authorization", "Bearer " + token)]
channel = grpc.insecure_channel(address)
stat_file = channel.unary_unary("/blockstore.v1.Files/StatFile", request_serializer=files_pb2.StatFileRequest.SerializeToString,
                                response_deserializer=files_pb2.FileInfo.FromString)

lock = threading.Lock()
state = {"started": 0, "ok": 0, "failed": 0, "codes": {}, "samples": {}, "failed_at": []}
done = threading.Semaphore(0)


def finished(fut, at):
    err = fut.exception()
    with lock:
        if err is None:
            state["ok"] += 1
        else:
            code = err.code().name if isinstance(err, grpc.RpcError) else type(err).__name__
            state["failed"] += 1
            state["codes"][code] = state["codes"].get(code, 0) + 1
            state["samples"].setdefault(code, (err.details() if isinstance(err, grpc.RpcError) else str(err))[:200])
            state["failed_at"].append(round(at, 2))
    done.release()


request = files_pb2.StatFileRequest(path=path)
start = time.monotonic()
total = int(rate * seconds)
for i in range(total):
    at = start + i / rate
    delay = at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    fut = stat_file.future(request, metadata=metadata, timeout=10)
    state["started"] += 1
    fut.add_done_callback(lambda f, t=at - start: finished(f, t))
for _ in range(total):
    done.acquire(timeout=30)
state["seconds"] = time.monotonic() - start
print(json.dumps(state))
