export type { Evaluator, Subject, Target, RightsByNode } from './evaluator.js'
export { ProductionEvaluator, type ProductionEvaluatorOptions } from './production-evaluator.js'
export { ReferenceEvaluator } from './reference-evaluator.js'
export { DecisionCache, DEFAULT_CACHE_CAPACITY, MAX_CACHE_CAPACITY, type DecisionCacheStats } from './decision-cache.js'
export {
  DecisionEngine,
  type SubjectRequest,
  type TargetRequest,
  type DecisionRequest,
  type CheckRequest,
  type Decision,
  type Capability,
  type AclEntry,
  type Explanation,
  type DecisionEngineOptions
} from './decision-engine.js'
