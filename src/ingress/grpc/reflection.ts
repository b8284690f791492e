/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) with @grpc/reflection, fed from protobuf-es
 * descriptors instead of @grpc/proto-loader. @grpc/reflection only reads the `fileDescriptorProtos` of the
 * package definition it is given, so the compiled-in descriptors of `src/gen/` (the same ones that serve the
 * calls) are serialized into that shape: no .proto files are needed at run time, and what reflection describes
 * cannot drift from what the server speaks.
 */
import { toBinary, type DescFile, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { ReflectionService } from '@grpc/reflection';

type PackageDefinition = ConstructorParameters<typeof ReflectionService>[0];

/** A reflection service describing `services` (and every type they use), listing exactly those services. */
export function reflectionService(services: readonly DescService[]): ReflectionService {
  const files = new Map<string, DescFile>();
  const add = (file: DescFile): void => {
    if (files.has(file.proto.name)) return;
    files.set(file.proto.name, file);
    file.dependencies.forEach(add);
  };
  services.forEach((s) => add(s.file));
  const definition: Record<string, { fileDescriptorProtos: Buffer[] }> = {};
  for (const [name, file] of files) definition[name] = { fileDescriptorProtos: [Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto))] };
  // Only `fileDescriptorProtos` is read (checked against @grpc/reflection 1.0: implementations/reflection-v1.js).
  return new ReflectionService(definition as unknown as PackageDefinition, { services: services.map((s) => s.typeName) });
}
