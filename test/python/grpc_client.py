#!/usr/bin/python3
"""A polyglot client of specroute's gRPC API, from stubs generated with protoc (see gen-stubs.sh).

Run with Debian's /usr/bin/python3 (python3-grpcio, python3-protobuf), not a pyenv python:

    test/python/gen-stubs.sh /tmp/stubs
    /usr/bin/python3 test/python/grpc_client.py --stubs /tmp/stubs --target 127.0.0.1:50051 --model stories260K

Prints one JSON object per line of what it read:
  {"type": "chunk", ...}        each Generate token chunk: text, token ids, provenance source, log-probability
  {"type": "final", ...}        the final message: finish reason, usage, speculation stats
  {"type": "error", ...}        a refused request: status code name, details, specroute-* trailers
  {"type": "health", ...}       grpc.health.v1 Check for "" and for the service
  {"type": "reflection", ...}   the services listed by server reflection (v1 and v1alpha)
  {"type": "describe", ...}     the service's methods, from the file descriptor served by reflection
"""
import argparse
import json
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stubs", required=True, help="folder of the generated Python stubs")
    parser.add_argument("--target", required=True, help="host:port of the gRPC server")
    parser.add_argument("--model", required=True)
    parser.add_argument("--prompt", default="Once upon a time")
    parser.add_argument("--max-tokens", type=int, default=40)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()

    sys.path.insert(0, args.stubs)
    import grpc
    from google.protobuf import descriptor_pb2, descriptor_pool
    from google.protobuf.json_format import MessageToDict

    import grpc_reflection_v1_pb2 as reflection_v1
    import grpc_reflection_v1_pb2_grpc as reflection_v1_grpc
    import grpc_reflection_v1alpha_pb2 as reflection_v1alpha
    import grpc_reflection_v1alpha_pb2_grpc as reflection_v1alpha_grpc
    import health_pb2
    import health_pb2_grpc
    from specroute.v1 import generate_pb2, generate_pb2_grpc

    def emit(obj):
        print(json.dumps(obj, sort_keys=True), flush=True)

    service_name = generate_pb2.DESCRIPTOR.services_by_name["GenerationService"].full_name
    metadata = [("authorization", f"Bearer {args.api_key}")] if args.api_key else []
    source_name = generate_pb2.TokenSource.Name

    with grpc.insecure_channel(args.target) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        stub = generate_pb2_grpc.GenerationServiceStub(channel)

        # 1. Stream a generation and report provenance per chunk and the final stats.
        request = generate_pb2.GenerateRequest(model=args.model, prompt=args.prompt, max_tokens=args.max_tokens, ignore_eos=True, temperature=0.0)
        for response in stub.Generate(request, metadata=metadata, timeout=60):
            kind = response.WhichOneof("event")
            if kind == "chunk":
                c = response.chunk
                emit({"type": "chunk", "text": c.text, "token_ids": list(c.token_ids), "source": source_name(c.source), "logprob": c.logprob})
            elif kind == "final":
                f = response.final
                emit({
                    "type": "final",
                    "id": f.id,
                    "model": f.model,
                    "finish_reason": generate_pb2.FinishReason.Name(f.finish_reason),
                    "usage": MessageToDict(f.usage, preserving_proto_field_name=True, including_default_value_fields=True),
                    "stats": MessageToDict(f.stats, preserving_proto_field_name=True, including_default_value_fields=True),
                    "route": MessageToDict(f.route, preserving_proto_field_name=True),
                })

        # 1b. The same prompt on the slm tier (the draft alone), asked for by the `route` enum.
        routed = generate_pb2.GenerateRequest(model=args.model, prompt=args.prompt, max_tokens=8, temperature=0.0, route=generate_pb2.ROUTE_SLM)
        sources, route = [], None
        for response in stub.Generate(routed, metadata=metadata, timeout=60):
            if response.WhichOneof("event") == "chunk":
                sources.append(source_name(response.chunk.source))
            elif response.WhichOneof("event") == "final":
                route = MessageToDict(response.final.route, preserving_proto_field_name=True)
        emit({"type": "routed", "sources": sources, "route": route})

        # 2. A refused request: the status names the field.
        try:
            bad = generate_pb2.GenerateRequest(model=args.model, prompt=args.prompt, temperature=5.0)
            list(stub.Generate(bad, metadata=metadata, timeout=30))
            emit({"type": "error", "code": "OK"})
        except grpc.RpcError as error:
            trailers = {k: v for k, v in (error.trailing_metadata() or ()) if k.startswith("specroute-")}
            emit({"type": "error", "code": error.code().name, "details": error.details(), "trailers": trailers})

        # 3. Health.
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", service_name):
            reply = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
            emit({"type": "health", "service": name, "status": health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)})

        # 4. Reflection, both protocol versions: list services, then describe ours from its file descriptor.
        for version, pb, pb_grpc in (("v1", reflection_v1, reflection_v1_grpc), ("v1alpha", reflection_v1alpha, reflection_v1alpha_grpc)):
            reflection = pb_grpc.ServerReflectionStub(channel)
            requests = [pb.ServerReflectionRequest(list_services="*"), pb.ServerReflectionRequest(file_containing_symbol=service_name)]
            responses = list(reflection.ServerReflectionInfo(iter(requests), timeout=10))
            services = sorted(s.name for s in responses[0].list_services_response.service)
            emit({"type": "reflection", "version": version, "services": services})
            pool = descriptor_pool.DescriptorPool()
            files = [descriptor_pb2.FileDescriptorProto.FromString(raw) for raw in responses[1].file_descriptor_response.file_descriptor_proto]
            pending = list(files)
            while pending:  # add in dependency order
                progressed = False
                for fd in list(pending):
                    try:
                        pool.Add(fd)
                        pending.remove(fd)
                        progressed = True
                    except TypeError:
                        pass
                if not progressed:
                    raise RuntimeError(f"unresolvable descriptors: {[fd.name for fd in pending]}")
            service = pool.FindServiceByName(service_name)
            emit({
                "type": "describe",
                "version": version,
                "service": service.full_name,
                "methods": [
                    {"name": m.name, "input": m.input_type.full_name, "output": m.output_type.full_name, "server_streaming": fd_method_streams(files, service_name, m.name)}
                    for m in service.methods
                ],
            })
    return 0


def fd_method_streams(files, service_name, method_name):
    """Whether the method is server-streaming, read from the raw descriptors (the pool API of protobuf 3.21 lacks it)."""
    package, _, name = service_name.rpartition(".")
    for fd in files:
        if fd.package != package:
            continue
        for service in fd.service:
            if service.name == name:
                for method in service.method:
                    if method.name == method_name:
                        return method.server_streaming
    return None


if __name__ == "__main__":
    sys.exit(main())
