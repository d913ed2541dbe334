import { readFileSync } from 'node:fs'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import type { Reply } from './harness.ts'

/**
 * Checks responses against the committed OpenAPI document (itself checked against the code by
 * test/openapi.test.ts): the documented status for that route and method, the body schema for the response's
 * content type, and every documented header present. Paths the spec does not describe must be problems.
 */
interface HeaderObject { schema: object, required?: boolean }
interface ResponseObject { headers?: Record<string, HeaderObject>, content?: Record<string, { schema: object }> }
type Spec = {
  paths: Record<string, Record<string, { responses: Record<string, ResponseObject> }>>
  webhooks: Record<string, { post: { requestBody: { content: Record<string, { schema: object }> } } }>
}

export const spec = JSON.parse(readFileSync(new URL('../../openapi/openapi.json', import.meta.url), 'utf8')) as Spec

const ajv = new Ajv2020({ strict: false, allErrors: true })
addFormats.default(ajv)
const validators = new Map<object, ReturnType<typeof ajv.compile>>()
function validator (schema: object) {
  let validate = validators.get(schema)
  if (validate === undefined) {
    validate = ajv.compile(schema)
    validators.set(schema, validate)
  }
  return validate
}

/** Any documented problem schema: what an undocumented path's 404 must match. */
const anyProblem = spec.paths['/profile']?.get?.responses['401']?.content?.['application/problem+json']?.schema as { properties: Record<string, object> }
const genericProblem = { ...anyProblem, properties: { ...anyProblem.properties, status: { type: 'integer' }, code: { type: 'string' } } }

/** Routes deliberately left out of the spec (its own documents and Swagger UI). */
const UNDOCUMENTED = /^\/(openapi\.(json|yaml)|docs(\/.*)?)$/

/** Returns the ways `reply` breaks the contract (empty when it conforms). */
export function contractViolations (method: string, url: string, reply: Reply): string[] {
  const path = new URL(url, 'http://x').pathname
  const operation = spec.paths[path]?.[method.toLowerCase()]
  const problems: string[] = []
  const mediaType = (reply.headers['content-type'] ?? '').split(';')[0] as string
  if (operation === undefined) {
    if (UNDOCUMENTED.test(path) && reply.status < 400) return []
    if (mediaType !== 'application/problem+json') return [`${method} ${path} is not in the spec, yet answered ${reply.status} ${mediaType}`]
    const validate = validator(genericProblem)
    return validate(reply.json()) ? [] : [`${path}: ${ajv.errorsText(validate.errors)}`]
  }
  const response = operation.responses[String(reply.status)]
  if (response === undefined) return [`${method} ${path} answered ${reply.status}, which the spec does not list`]
  for (const [name, header] of Object.entries(response.headers ?? {})) {
    const value = reply.headers[name.toLowerCase()]
    if (value === undefined) {
      if (header.required === true) problems.push(`${reply.status} lacks the ${name} header`)
      continue
    }
    const typed = (header.schema as { type?: string }).type === 'integer' ? Number(value) : value
    const validate = validator(header.schema)
    if (!validate(typed)) problems.push(`${name}: ${JSON.stringify(value)} ${ajv.errorsText(validate.errors)}`)
  }
  if (response.content === undefined) {
    if (reply.text !== '') problems.push(`${reply.status} should have no body`)
    return problems
  }
  const content = response.content[mediaType]
  if (content === undefined) return [...problems, `${reply.status} content type ${mediaType} is not documented`]
  const validate = validator(content.schema)
  if (!validate(reply.json())) problems.push(`${reply.status} body: ${ajv.errorsText(validate.errors)}`)
  return problems
}

/** Returns the ways a webhook payload breaks the document's `webhooks` section (empty when it conforms). */
export function webhookViolations (payload: { type?: unknown }): string[] {
  const schema = spec.webhooks[String(payload.type)]?.post.requestBody.content['application/json']?.schema
  if (schema === undefined) return [`no webhook ${String(payload.type)} in the spec`]
  const validate = validator(schema)
  return validate(payload) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`)
}
