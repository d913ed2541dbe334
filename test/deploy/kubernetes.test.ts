import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap'
import { Secret } from 'kubernetes-models/v1/Secret'
import { Service } from 'kubernetes-models/v1/Service'
import { Deployment } from 'kubernetes-models/apps/v1/Deployment'
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { EnvSchema, parseConsumerList } from '../../src/config.ts'

/** The manifests in deploy/kubernetes/, validated against the Kubernetes API schemas (kubernetes-models). */
const dir = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url))
const files = readdirSync(dir).filter((name) => name.endsWith('.yaml')).sort()

interface Manifest { apiVersion: string, kind: string, metadata: { name: string }, [key: string]: unknown }
const manifests: Array<{ file: string, doc: Manifest }> = files.flatMap((file) =>
  parseAllDocuments(readFileSync(`${dir}${file}`, 'utf8')).map((document) => ({ file, doc: document.toJS() as Manifest })))

const MODELS: Record<string, new (data: never) => { validate: () => void }> = {
  'apps/v1 Deployment': Deployment,
  'v1 Service': Service,
  'v1 Secret': Secret,
  'v1 ConfigMap': ConfigMap,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1 Ingress': Ingress
}

interface Container { name: string, env?: Array<{ name: string }>, volumeMounts?: Array<{ subPath?: string }>, readinessProbe?: { httpGet?: { path: string } }, livenessProbe?: { httpGet?: { path: string } }, startupProbe?: { httpGet?: { path: string } }, lifecycle?: { preStop?: { exec?: { command: string[] } } } }
const service = manifests.find(({ doc }) => doc.kind === 'Deployment' && doc.metadata.name === 'vobiz-bff')?.doc as unknown as { spec: { replicas: number, strategy: { rollingUpdate: { maxUnavailable: number } }, template: { spec: { terminationGracePeriodSeconds: number, containers: Container[] } } } }
const container = service.spec.template.spec.containers[0] as Container

t.test('every manifest is valid against the Kubernetes API schema of its kind', async (t) => {
  t.ok(manifests.length >= 8, `${manifests.length} manifests in ${files.join(', ')}`)
  for (const { file, doc } of manifests) {
    const Model = MODELS[`${doc.apiVersion} ${doc.kind}`]
    if (Model === undefined) {
      t.fail(`${file}: ${doc.apiVersion} ${doc.kind} has no validator here`)
      continue
    }
    t.doesNotThrow(() => { new Model(doc as never).validate() }, `${file}: ${doc.kind} ${doc.metadata.name}`)
  }
})

t.test('the service\'s Deployment: what it sets is configuration the service has, and it fits the service', async (t) => {
  const known = new Set(Object.keys(EnvSchema.properties))
  const text = readFileSync(`${dir}deployment.yaml`, 'utf8')
  // The variables set, and those shown commented out for the optional Redis.
  const names = [...text.matchAll(/\{ name: ([A-Z][A-Z0-9_]+), value:/g)].map((m) => m[1] as string)
  t.ok(names.length >= 8)
  for (const name of names) t.ok(known.has(name), `${name} is a variable of the service`)
  t.same(container.env?.map((e) => e.name).filter((name) => !known.has(name)), [])

  t.equal(service.spec.replicas, 2)
  t.equal(service.spec.strategy.rollingUpdate.maxUnavailable, 0, 'a replica that never becomes ready halts the rollout')
  t.equal(container.readinessProbe?.httpGet?.path, '/health/ready')
  t.equal(container.livenessProbe?.httpGet?.path, '/health/live')
  t.equal(container.startupProbe?.httpGet?.path, '/health/live')
  const pause = Number(container.lifecycle?.preStop?.exec?.command[1])
  t.ok(pause > 0 && pause < 10, 'the preStop pause is shorter than the 10 s drain')
  t.ok(service.spec.template.spec.terminationGracePeriodSeconds > pause + 10, 'the grace period covers the pause and the drain')
  t.ok((container.volumeMounts ?? []).every((mount) => mount.subPath === undefined), 'no subPath: mounted files are updated in place, and reloaded')
})

t.test('the example consumers are a list the service accepts', async (t) => {
  const configMap = manifests.find(({ doc }) => doc.kind === 'ConfigMap')?.doc as unknown as { data: Record<string, string> }
  const problems: string[] = []
  t.equal(parseConsumerList(configMap.data['consumers.json'] as string, 'CONSUMERS_FILE', problems).length, 1)
  t.same(problems, [])
})

t.test('the example Ingress reaches the Service, and lets a reconnecting event stream reach a live replica', async (t) => {
  const ingress = manifests.find(({ doc }) => doc.kind === 'Ingress')?.doc as unknown as { metadata: { annotations: Record<string, string> }, spec: { rules: Array<{ http: { paths: Array<{ backend: { service: { name: string, port: { name: string } } } }> } }> } }
  const svc = manifests.find(({ doc }) => doc.kind === 'Service' && doc.metadata.name === 'vobiz-bff')?.doc as unknown as { metadata: { name: string }, spec: { ports: Array<{ name: string }> } }
  const backends = ingress.spec.rules.flatMap((rule) => rule.http.paths.map((path) => path.backend.service))
  t.same(backends, [{ name: svc.metadata.name, port: { name: svc.spec.ports[0]?.name } }])
  const annotation = (name: string): string | undefined => ingress.metadata.annotations[`nginx.ingress.kubernetes.io/${name}`]
  t.equal(annotation('proxy-buffering'), 'off', 'events are passed on as they are written')
  t.same(annotation('proxy-next-upstream')?.split(' '), ['error', 'timeout', 'http_502', 'http_503'], 'a stopped or draining replica is skipped')
  t.ok(Number(annotation('proxy-next-upstream-tries')) >= service.spec.replicas, 'every replica may be tried')
  const heartbeat = (EnvSchema.properties.EVENTS_HEARTBEAT_SECONDS as unknown as { default: number }).default
  for (const name of ['proxy-read-timeout', 'proxy-send-timeout']) t.ok(Number(annotation(name)) > heartbeat, `${name} is above the ${heartbeat} s heartbeat`)
  t.equal(annotation('service-upstream'), undefined, 'the pods\' addresses, not one Service address: there is another to retry')
})
