"""An independent gRPC client (Python grpcio) of Reprise's inbound front door.

It knows no .proto file: it discovers the services by server reflection,
builds messages from the descriptors the server hands out, and calls a
worker. Each step prints one JSON line the Rust test checks.

Usage: reflect_call.py HOST:PORT WORKER
"""

import json
import sys

import grpc
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

PACKAGE = "reprise_test.typed_exports"


def out(step, **fields):
    print(json.dumps({"step": step, **fields}, sort_keys=True), flush=True)


def main():
    target, worker = sys.argv[1], sys.argv[2]
    channel = grpc.insecure_channel(target)
    database = ProtoReflectionDescriptorDatabase(channel)
    services = sorted(database.get_services())
    out("services", services=services)
    pool = DescriptorPool(database)

    def stub(service, rpc):
        method = pool.FindServiceByName(f"{PACKAGE}.{service}").FindMethodByName(rpc)
        request = message_factory.GetMessageClass(method.input_type)
        response = message_factory.GetMessageClass(method.output_type)
        call = channel.unary_unary(
            f"/{PACKAGE}.{service}/{rpc}",
            request_serializer=request.SerializeToString,
            response_deserializer=response.FromString,
        )
        return request, call

    metadata = [("reprise-worker", worker), ("reprise-create", "true")]

    request, hello = stub("Worker", "Hello")
    answer = hello(request(name="python"), metadata=metadata, timeout=30)
    out("hello", result=answer.result)

    request, echo = stub("Shapes", "Echo")
    value = {
        "flag": True,
        "tiny": -7,
        "text": "héllo",
        "blob": "AAE=",
        "names": ["a", "b"],
        "points": [{"x": 1, "y": 2, "label": "p"}],
        "color": "COLOR_GREEN",
        "perms": {"read": True, "exec": True},
        "shape": {"circle": 1.5},
        "maybe": 0,
        "maybeList": {"value": [1, 2]},
        "nested": [{"value": [3]}],
        "pair": {"f0": "x", "f1": 9},
        "outcome": {"ok": "fine"},
        "letter": "z",
        "colors": ["COLOR_RED"],
    }
    sent = json_format.ParseDict({"value": value}, request())
    answer = echo(sent, metadata=metadata, timeout=30)
    out(
        "echo",
        same=json_format.MessageToDict(answer.result) == json_format.MessageToDict(sent.value),
        result=json_format.MessageToDict(answer.result),
    )

    request, lookup = stub("Shapes", "Lookup")
    try:
        lookup(request(code="not-found"), metadata=metadata, timeout=30)
        out("lookup", code="OK")
    except grpc.RpcError as error:
        out("lookup", code=error.code().name, message=error.details())

    request, add = stub("Shapes", "Add")
    try:
        add(request(a=1000, b=1), metadata=metadata, timeout=30)
        out("add", code="OK")
    except grpc.RpcError as error:
        out("add", code=error.code().name, message=error.details())

    request, bump = stub("Worker", "Bump")
    keyed = metadata + [("idempotency-key", "py-key-1")]
    first = bump(request(by=4), metadata=keyed, timeout=30).result
    second = bump(request(by=4), metadata=keyed, timeout=30).result
    out("bump", first=first, second=second)


if __name__ == "__main__":
    main()
