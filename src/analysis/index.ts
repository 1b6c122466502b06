export {
  lintPolicy,
  LINT_RULES,
  type LintReport,
  type LintFinding,
  type LintRule,
  type LintSeverity,
  type PolicyStatistics
} from './lint.js'
export {
  toDot,
  toGexf,
  toGraphologyJson,
  type PolicyGraphologyJson
} from './export.js'
export {
  toGraphology,
  assignmentGraph,
  type PolicyMultiGraph,
  type AssignmentGraph,
  type PolicyNodeAttributes,
  type PolicyEdgeAttributes,
  type AssignmentEdgeAttributes,
  type AssociationEdgeAttributes,
  type ProhibitionEdgeAttributes,
  type PolicyProhibitionAttributes,
  type PolicyGraphAttributes
} from './graphology.js'
