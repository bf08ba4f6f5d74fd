"""A load client for blockstore's public Files API that is not our SDK
(Debian's python3-grpcio; messages generated from proto/ by protoc at run time).

Runs one workload with INFLIGHT calls in flight (one thread each, blocking
calls) until COUNT calls are done or MAX_SECONDS pass, and prints one JSON
object: calls done and failed, seconds, payload bytes, latency percentiles.

  put SIZE: uploads COUNT files of SIZE unique random bytes, PREFIX/0…
  get SIZE: COUNT downloads of the FILES files PREFIX/0… a put wrote
  mix SIZE: the quality scenarios' mix, COUNT calls: half uploads of unique
            random bytes, SIZE bytes on average (log-normal, 4 KB to 4 MB),
            40 % downloads, 7.5 % StatFile, 2.5 % ListFiles (20 names) of
            files this run uploaded; every download's length is checked

usage: files_load.py ADDRESS TOKEN STUBS_DIR put|get|mix SIZE INFLIGHT COUNT MAX_SECONDS PREFIX [FILES]
"""
import json
import math
import os
import random
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
stat_file = channel.unary_unary("/blockstore.v1.Files/StatFile", request_serializer=files_pb2.StatFileRequest.SerializeToString, response_deserializer=files_pb2.FileInfo.FromString)
list_files = channel.unary_unary("/blockstore.v1.Files/ListFiles", request_serializer=files_pb2.ListFilesRequest.SerializeToString, response_deserializer=files_pb2.ListFilesResponse.FromString)

lock = threading.Lock()
state = {"next": 0, "ok": 0, "failed": 0, "bytes": 0, "uploaded": 0, "errors": {}, "samples": {}}
written = []  # (path, size) of the mix's finished uploads
latencies = []
deadline = time.monotonic() + max_seconds


def take():
    with lock:
        if state["next"] >= count or time.monotonic() > deadline:
            return None
        state["next"] += 1
        return state["next"] - 1


def upload(path, n):
    data = os.urandom(n)
    def messages():
        yield files_pb2.PutFileRequest(header=files_pb2.PutFileHeader(path=path, idempotency_key=path))
        for off in range(0, len(data), MESSAGE):
            yield files_pb2.PutFileRequest(data=data[off:off + MESSAGE])
    put_file(messages(), metadata=metadata, timeout=60)
    with lock:
        state["uploaded"] += n
    return n


def download(path, expected):
    n = 0
    for m in get_file(files_pb2.GetFileRequest(path=path), metadata=metadata, timeout=60):
        n += len(m.data)
    if n != expected:
        raise RuntimeError(f"read {n} bytes of {path}, expected {expected}")
    return n


def put(i):
    return upload(f"{prefix}/{i}", size)


def get(i):
    return download(f"{prefix}/{i % files}", size)


def mix_size():
    z = math.sqrt(-2 * math.log(1 - random.random())) * math.cos(2 * math.pi * random.random())
    return max(4000, min(4000000, round(size * 0.55 * math.exp(1.1 * z))))


def mix(i):
    r = random.random()
    with lock:
        known = written[random.randrange(len(written))] if written else None
    if r < 0.5 or known is None:
        path, n = f"{prefix}/{i}", mix_size()
        upload(path, n)
        with lock:
            written.append((path, n))
        return n
    if r < 0.9:
        return download(*known)
    if r < 0.975:
        info = stat_file(files_pb2.StatFileRequest(path=known[0]), metadata=metadata, timeout=60)
        if info.size != known[1]:
            raise RuntimeError(f"stat of {known[0]} says {info.size} bytes, expected {known[1]}")
        return 0
    list_files(files_pb2.ListFilesRequest(prefix=prefix + "/", page_size=20), metadata=metadata, timeout=60)
    return 0


def worker():
    call = {"put": put, "get": get, "mix": mix}[mode]
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
                  "seconds": seconds, "bytes": state["bytes"], "uploaded": state["uploaded"], "p50_ms": pct(0.5), "p99_ms": pct(0.99),
                  "cpu_seconds": cpu_seconds}))
