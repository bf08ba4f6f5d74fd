"""A strict, independent reflection client (Debian's python3-grpcio).

Builds a descriptor pool only from what the server's reflection returns:
every file must arrive with its dependency list, and every dependency must be
fetchable by name, or DescriptorPool.Add fails. Then calls methods using
messages built from that pool alone. Prints one JSON object.

usage: strict_reflection_client.py ADDRESS SERVICE STUBS_DIR
"""
import json
import os
import sys

sys.path.insert(0, sys.argv[3])

import grpc  # noqa: E402
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # noqa: E402
from google.protobuf import json_format  # noqa: E402
import reflection_pb2  # noqa: E402

address, service = sys.argv[1], sys.argv[2]
token = sys.argv[4] if len(sys.argv) > 4 else ""
call_metadata = [("authorization", "Bearer " + token)] if token else []
# Internal services (block daemons) want the cluster secret as well.
if os.environ.get("BLOCKSTORE_CLUSTER_SECRET"):
    call_metadata.append(("x-blockstore-cluster-auth", os.environ["BLOCKSTORE_CLUSTER_SECRET"]))
call_metadata = call_metadata or None
channel = grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 8 << 20), ("grpc.max_send_message_length", 8 << 20)])
info = channel.stream_stream(
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
    response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
)


def ask(**kw):
    (resp,) = list(info(iter([reflection_pb2.ServerReflectionRequest(**kw)]), timeout=10))
    if resp.HasField("error_response"):
        raise RuntimeError(resp.error_response.error_message)
    return resp


services = [s.name for s in ask(list_services="").list_services_response.service]
pool = descriptor_pool.DescriptorPool()
files = {}


def load(proto_bytes):
    fd = descriptor_pb2.FileDescriptorProto.FromString(proto_bytes)
    files.setdefault(fd.name, fd)


def add(name):
    if name in added:
        return
    if name not in files:
        for b in ask(file_by_filename=name).file_descriptor_response.file_descriptor_proto:
            load(b)
    fd = files[name]
    for dep in fd.dependency:
        add(dep)
    pool.Add(fd)
    added.add(name)


added = set()
resp = ask(file_containing_symbol=service)
first = None
for b in resp.file_descriptor_response.file_descriptor_proto:
    load(b)
    first = first or descriptor_pb2.FileDescriptorProto.FromString(b).name
# The file that defines the service is the one whose services include it.
defining = [n for n, fd in files.items() if any(f"{fd.package}.{s.name}" == service for s in fd.service)]
add(defining[0])

svc = pool.FindServiceByName(service)
# Streaming flags come from the FileDescriptorProto (older protobuf
# descriptors do not expose them).
method_protos = {}
for fd in files.values():
    for s_proto in fd.service:
        if f"{fd.package}.{s_proto.name}" == service:
            method_protos = {m.name: m for m in s_proto.method}
factory = message_factory.MessageFactory(pool)
get_class = getattr(message_factory, "GetMessageClass", None) or factory.GetPrototype


def call(method_name, request_json):
    """Unary, client-streaming (request_json is a list) or server-streaming
    (the method says so) calls, with messages built from reflection only."""
    m = svc.methods_by_name[method_name]
    req_cls, resp_cls = get_class(m.input_type), get_class(m.output_type)
    path = f"/{service}/{method_name}"
    ser, de = req_cls.SerializeToString, resp_cls.FromString
    to_json = lambda msg: json.loads(json_format.MessageToJson(msg))
    if isinstance(request_json, list):
        reqs = [json_format.Parse(json.dumps(r), req_cls()) for r in request_json]
        fn = channel.stream_unary(path, request_serializer=ser, response_deserializer=de)
        return to_json(fn(iter(reqs), timeout=30, metadata=call_metadata))
    req = json_format.Parse(json.dumps(request_json), req_cls())
    if method_protos[method_name].server_streaming:
        fn = channel.unary_stream(path, request_serializer=ser, response_deserializer=de)
        return [to_json(x) for x in fn(req, timeout=30, metadata=call_metadata)]
    fn = channel.unary_unary(path, request_serializer=ser, response_deserializer=de)
    return to_json(fn(req, timeout=10, metadata=call_metadata))


out = {"services": services, "files": sorted(files), "methods": [m.name for m in svc.methods]}
calls = json.loads(sys.stdin.read() or "[]")
out["results"] = [call(c["method"], c["request"]) for c in calls]
print(json.dumps(out))
