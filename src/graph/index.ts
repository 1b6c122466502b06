export {
  PolicyGraph,
  NODE_TYPES,
  PC, UA, U, OA, O,
  validateName,
  MAX_NAME_LENGTH,
  type NodeType,
  type NodeInfo,
  type Properties,
  type AssociationInfo,
  type ProhibitionInfo,
  type ProhibitionSubject,
  type ProhibitionContainer,
  type Association,
  type Prohibition
} from './policy-graph.js'
export {
  RightsCatalog,
  ADMIN_RIGHTS,
  ALL_RIGHTS,
  validateRightName,
  maskHas,
  maskOr,
  maskAnd,
  maskAndNot,
  maskIsEmpty,
  maskContains,
  maskEquals,
  type RightsMask
} from './rights.js'
export {
  loadPolicy,
  exportPolicy,
  fromPolicyMachine,
  prohibitionEntry,
  MAX_POLICY_FILE_PROBLEMS,
  type PolicyDocument,
  type PolicyNode,
  type PolicyAssignment,
  type PolicyAssociation,
  type PolicyProhibition,
  type PolicyFileProblem,
  type PolicyFormat,
  type LoadPolicyOptions
} from './policy-file.js'
export {
  applyOperation,
  applyOperations,
  OPERATION_NAMES,
  type Operation,
  type OperationName
} from './operations.js'
