"""blockstore from Python: upload, download, a typed error, and the change feed.

Any gRPC client can speak blockstore's public API; this one uses grpcio and
message classes generated from the repository's protos:

  protoc -I proto --python_out=STUBS proto/blockstore/v1/files.proto \\
      proto/google/rpc/status.proto proto/google/rpc/error_details.proto
  python3 examples/python/blockstore_example.py 127.0.0.1:7000 "$(cat .cluster/user.token)" STUBS [PREFIX]

(grpc_tools.protoc --grpc_python_out generates a FilesStub class too; the
methods below are the same calls, spelled out.)

It prints one line per step and exits 0 when every step did what it should.
"""
import hashlib
import os
import sys
import threading

sys.path.insert(0, sys.argv[3])

import grpc  # noqa: E402
from blockstore.v1 import files_pb2  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402

address, token = sys.argv[1], sys.argv[2]
prefix = sys.argv[4] if len(sys.argv) > 4 else "python-example/"
auth = [("authorization", "Bearer " + token)]
channel = grpc.insecure_channel(address)


def method(kind, name, request, response):
    return getattr(channel, kind)(f"/blockstore.v1.Files/{name}", request_serializer=request.SerializeToString, response_deserializer=response.FromString)


put_file = method("stream_unary", "PutFile", files_pb2.PutFileRequest, files_pb2.PutFileResponse)
get_file = method("unary_stream", "GetFile", files_pb2.GetFileRequest, files_pb2.GetFileResponse)
stat_file = method("unary_unary", "StatFile", files_pb2.StatFileRequest, files_pb2.FileInfo)
watch = method("unary_stream", "Watch", files_pb2.WatchRequest, files_pb2.WatchEvent)


def error_info(err: grpc.RpcError):
    """The google.rpc.ErrorInfo every blockstore error carries (reason: the stable code)."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info
    return None


# 1. Upload: a header, then the bytes in messages of up to 256 KiB.
data = os.urandom(700_000)
path = prefix + "hello.bin"


def upload():
    yield files_pb2.PutFileRequest(header=files_pb2.PutFileHeader(path=path, idempotency_key=hashlib.sha256(data).hexdigest()))
    for off in range(0, len(data), 256 * 1024):
        yield files_pb2.PutFileRequest(data=data[off:off + 256 * 1024])


put = put_file(upload(), metadata=auth, timeout=60)
print(f"put {put.file.path} version {put.file.version}, {put.file.size} bytes, sha256 {put.file.content_hash[:16]}…")

# 2. Download: the file's info first, then its bytes.
got = b""
for message in get_file(files_pb2.GetFileRequest(path=path), metadata=auth, timeout=60):
    if message.HasField("data"):
        got += message.data
assert got == data, "the downloaded bytes differ"
print(f"get {path}: the same {len(got)} bytes")

# 3. A typed error: the status code, and the stable reason in ErrorInfo.
try:
    stat_file(files_pb2.StatFileRequest(path=prefix + "no-such-file"), metadata=auth, timeout=30)
    raise SystemExit("stat of a missing file succeeded")
except grpc.RpcError as err:
    info = error_info(err)
    assert err.code() == grpc.StatusCode.NOT_FOUND and info is not None and info.reason == "NOT_FOUND", (err.code(), info)
    print(f"stat {prefix}no-such-file: {err.code().name}, reason {info.reason} (domain {info.domain})")

# 4. The change feed: history first, then live; a second upload arrives while we watch.
seen = threading.Event()
feed = watch(files_pb2.WatchRequest(prefix=prefix, cursor=0), metadata=auth)
timer = threading.Timer(30, feed.cancel)
timer.start()
put_file(iter([files_pb2.PutFileRequest(header=files_pb2.PutFileHeader(path=prefix + "second.txt", idempotency_key=os.urandom(8).hex())),
                    files_pb2.PutFileRequest(data=b"written while watching")]), metadata=auth, timeout=60)
try:
    for event in feed:
        print(f"watch: {event.kind} {event.path} v{event.version} (cursor {event.cursor})")
        if event.path == prefix + "second.txt":
            seen.set()
            break
finally:
    timer.cancel()
    feed.cancel()
assert seen.is_set(), "the second upload never arrived on the feed"
print("ok")
