/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) answered from the
 * committed descriptor set. @grpc/reflection 1.0.4 drops each file's
 * dependency list, so strict clients (grpcurl, Python's descriptor pool)
 * cannot resolve imported types; this one returns protoc's bytes as they are,
 * each with its transitive imports (grpcurl issue #459).
 */
import * as grpc from '@grpc/grpc-js';
import type { ServerReflectionRequest__Output } from '../../proto/gen/ts/grpc/reflection/v1/ServerReflectionRequest';
import type { ServerReflectionResponse } from '../../proto/gen/ts/grpc/reflection/v1/ServerReflectionResponse';
import type { DescriptorIndex } from './descriptor-index';

export function reflectionHandler(index: DescriptorIndex, servedServices: () => string[]) {
  return (call: grpc.ServerDuplexStream<ServerReflectionRequest__Output, ServerReflectionResponse>) => {
    call.on('data', (req: ServerReflectionRequest__Output) => {
      call.write(answer(index, servedServices(), req));
    });
    call.on('end', () => call.end());
    call.on('error', () => {});
  };
}

function answer(index: DescriptorIndex, services: string[], req: ServerReflectionRequest__Output): ServerReflectionResponse {
  const base: ServerReflectionResponse = { validHost: req.host, originalRequest: req };
  const notFound = (what: string): ServerReflectionResponse => ({
    ...base,
    errorResponse: { errorCode: grpc.status.NOT_FOUND, errorMessage: `${what} not found` },
  });
  const files = (name: string): ServerReflectionResponse => ({
    ...base,
    fileDescriptorResponse: { fileDescriptorProto: index.withDependencies(name) },
  });
  switch (req.messageRequest) {
    case 'listServices':
      return { ...base, listServicesResponse: { service: services.map((name) => ({ name })) } };
    case 'fileByFilename':
      return index.hasFile(req.fileByFilename ?? '') ? files(req.fileByFilename!) : notFound(`file ${req.fileByFilename}`);
    case 'fileContainingSymbol': {
      const file = index.fileContainingSymbol(req.fileContainingSymbol ?? '');
      return file ? files(file) : notFound(`symbol ${req.fileContainingSymbol}`);
    }
    case 'fileContainingExtension':
      return notFound('extension');
    case 'allExtensionNumbersOfType':
      return index.fileContainingSymbol(req.allExtensionNumbersOfType ?? '')
        ? { ...base, allExtensionNumbersResponse: { baseTypeName: req.allExtensionNumbersOfType, extensionNumber: [] } }
        : notFound(`type ${req.allExtensionNumbersOfType}`);
    default:
      return { ...base, errorResponse: { errorCode: grpc.status.INVALID_ARGUMENT, errorMessage: 'empty reflection request' } };
  }
}
