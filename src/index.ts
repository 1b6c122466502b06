/**
 * ngac-pdp: the library's public surface.
 *
 * @example
 * ```ts
 * import { openPolicy } from 'ngac-pdp'
 * const policy = openPolicy({ policy: doc })
 * policy.check({ user: 'alice', right: 'read', target: 'report' })
 * ```
 */
export { openPolicy, Policy, type OpenPolicyOptions, type PolicyOptions } from './policy.js'
export { NgacError, isNgacError, ERROR_CODES, type ErrorCode, type NgacErrorOptions } from './errors.js'
export { buildApp, type App, type AppDeps } from './app.js'
export { loadConfig, tokenDigest, type Config, type ConfigSources } from './config.js'
export {
  ADMIN_PC,
  ADMIN_POLICY_OA,
  AdminAuthorizer,
  RESERVED_PREFIX,
  isReservedName,
  requiredRights,
  type AdminRight,
  type AdminRightsOracle,
  type ChangeOptions,
  type ChangeResult,
  type RequiredRight
} from './pap/index.js'
export { type ChangeFilter, type ChangelogEntry } from './store/index.js'
export { serve, startServer } from './server.js'
export {
  PolicyGraph,
  RightsCatalog,
  ADMIN_RIGHTS,
  ALL_RIGHTS,
  NODE_TYPES,
  loadPolicy,
  exportPolicy,
  fromPolicyMachine,
  type NodeType,
  type NodeInfo,
  type Properties,
  type AssociationInfo,
  type ProhibitionInfo,
  type ProhibitionSubject,
  type ProhibitionContainer,
  type PolicyDocument,
  type PolicyFormat,
  type RightsMask
} from './graph/index.js'
export {
  DecisionEngine,
  ProductionEvaluator,
  ReferenceEvaluator,
  type Evaluator,
  type Subject,
  type Target,
  type SubjectRequest,
  type TargetRequest,
  type DecisionRequest,
  type CheckRequest,
  type Decision,
  type Capability,
  type AclEntry,
  type Explanation,
  type DecisionEngineOptions,
  type ProductionEvaluatorOptions,
  type DecisionCacheStats
} from './pdp/index.js'
export {
  lintPolicy,
  LINT_RULES,
  toDot,
  toGexf,
  toGraphologyJson
} from './analysis/index.js'
export {
  ExtAuthz,
  allowHeaders,
  denyBody,
  startGrpcServer,
  authorizationService,
  AUTHORIZATION_SERVICE,
  type ProxyRequest,
  type ProxyDecision,
  type Reason,
  type ExtAuthzOptions,
  type ExtAuthzConfig,
  type GrpcServer,
  type GrpcServerOptions
} from './ext-authz/index.js'
