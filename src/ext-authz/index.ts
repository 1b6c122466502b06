export {
  ExtAuthz,
  allowHeaders,
  denyBody,
  spiffeFromXfcc,
  claimFromPayload,
  pathSegments,
  type ProxyRequest,
  type ProxyDecision,
  type Reason,
  type ExtAuthzOptions,
  type ExtAuthzConfig
} from './mapping.js'
export { startGrpcServer, authorizationService, AUTHORIZATION_SERVICE, type GrpcServer, type GrpcServerOptions } from './grpc-server.js'
