#!/usr/bin/env bash
# Generates the Python stubs the gRPC test client needs into OUT_DIR (never committed), with Debian's protoc and
# grpc_python_plugin (apt: protobuf-compiler protobuf-compiler-grpc), matching python3-grpcio/python3-protobuf.
#   specroute/v1/generate_pb2{,_grpc}.py        from proto/specroute/v1/generate.proto
#   health_pb2{,_grpc}.py                       from proto/grpc/health/v1/health.proto
#   grpc_reflection_v1{,alpha}_pb2{,_grpc}.py   from test/python/protos/
# The grpc.* protos are compiled from their own folders so that no Python package named `grpc` is emitted (it
# would shadow grpcio); the wire names (package grpc.health.v1…) are unchanged.
set -euo pipefail
out=${1:?usage: gen-stubs.sh OUT_DIR}
root="$(cd "$(dirname "$0")/../.." && pwd)"
plugin=$(command -v grpc_python_plugin) || { echo "gen-stubs: grpc_python_plugin not found (apt-get install protobuf-compiler-grpc)" >&2; exit 1; }
command -v protoc >/dev/null || { echo "gen-stubs: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
mkdir -p "$out"
gen() { protoc "$@" --python_out="$out" --grpc_python_out="$out" --plugin=protoc-gen-grpc_python="$plugin"; }
gen -I "$root/proto" "$root/proto/specroute/v1/generate.proto"
gen -I "$root/proto/grpc/health/v1" "$root/proto/grpc/health/v1/health.proto"
gen -I "$root/test/python/protos" "$root/test/python/protos/grpc_reflection_v1.proto" "$root/test/python/protos/grpc_reflection_v1alpha.proto"
