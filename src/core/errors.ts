/** The errors of the core: thrown inside it and turned into results before anything leaves it. */

/** A field broke a rule; `message` names the path and the rule. */
export class SchemaError extends Error {
  override name = 'SchemaError'
}
