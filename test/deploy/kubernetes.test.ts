import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor'
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap'
import { Secret } from 'kubernetes-models/v1/Secret'
import { Service } from 'kubernetes-models/v1/Service'
import { Deployment } from 'kubernetes-models/apps/v1/Deployment'
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler'
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress'
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { EnvSchema, parseConsumerList } from '../../src/config.ts'
import { parseSubscriptions } from '../../src/webhooks/subscriptions.ts'
import { redisUnavailable, startRedis } from '../helpers/redis.ts'
import { find, kubectlUnavailable, kubernetesDir, OVERLAYS, render, renderWith, type KubeObject } from '../helpers/kustomize.ts'

/**
 * deploy/kubernetes/ as a platform team applies it: every overlay rendered by `kubectl kustomize`, every object
 * validated against the Kubernetes API schema of its kind (kubernetes-models; the ServiceMonitor against the
 * Prometheus Operator's CRD schema), and the rules that make the pods start, be scraped and be reached only by
 * whom they should. test/deploy/pod-security.test.ts starts the service under the rendered security context.
 */
const MODELS: Record<string, new (data: never) => { validate: () => void }> = {
  'apps/v1 Deployment': Deployment,
  'apps/v1 StatefulSet': StatefulSet,
  'v1 Service': Service,
  'v1 Secret': Secret,
  'v1 ConfigMap': ConfigMap,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2 HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1 Ingress': Ingress,
  'networking.k8s.io/v1 NetworkPolicy': NetworkPolicy,
  'monitoring.coreos.com/v1 ServiceMonitor': ServiceMonitor
}

interface Probe { httpGet?: { path: string }, exec?: { command: string[] }, tcpSocket?: { port: string } }
interface Container {
  name: string
  args?: string[]
  env?: Array<{ name: string, value?: string }>
  volumeMounts?: Array<{ name: string, mountPath: string, subPath?: string }>
  readinessProbe?: Probe
  livenessProbe?: Probe
  startupProbe?: Probe
  lifecycle?: { preStop?: { exec?: { command: string[] } } }
  securityContext?: { readOnlyRootFilesystem?: boolean, allowPrivilegeEscalation?: boolean }
}
interface Volume { name: string, secret?: { secretName: string, defaultMode?: number, items?: Array<{ key: string, path: string }> }, configMap?: { name: string } }
interface PodSpec {
  securityContext: { runAsUser?: number, runAsGroup?: number, fsGroup?: number, runAsNonRoot?: boolean }
  containers: Container[]
  volumes?: Volume[]
  terminationGracePeriodSeconds?: number
}
interface Workload extends KubeObject { spec: { replicas?: number, strategy?: { rollingUpdate: { maxUnavailable: number } }, template: { metadata: { labels: Record<string, string>, annotations?: Record<string, string> }, spec: PodSpec }, volumeClaimTemplates?: unknown[] } }
interface PolicyPeer { podSelector?: { matchLabels: Record<string, string> }, namespaceSelector?: { matchLabels: Record<string, string> }, ipBlock?: { cidr: string, except?: string[] } }
interface PolicyRule { to?: PolicyPeer[], from?: PolicyPeer[], ports?: Array<{ port: number | string, protocol: string }> }
interface Policy extends KubeObject { spec: { podSelector: { matchLabels: Record<string, string> }, policyTypes: string[], ingress?: PolicyRule[], egress?: PolicyRule[] } }

const skip = kubectlUnavailable()
const rendered: Record<string, KubeObject[]> = {}
if (skip === undefined) for (const overlay of OVERLAYS) rendered[overlay] = render(`overlays/${overlay}`)
const withWebhooks = skip === undefined ? renderWith('fleet', ['webhooks']) : []
const examples = parseAllDocuments(readFileSync(`${kubernetesDir}config.example.yaml`, 'utf8')).map((document) => document.toJS() as KubeObject)
const known = new Set(Object.keys(EnvSchema.properties))
const ALL_PRIVATE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16']

const service = (objects: KubeObject[]): Workload => find<Workload>(objects, 'Deployment', 'vobiz-bff')
const app = (objects: KubeObject[]): Container => service(objects).spec.template.spec.containers[0] as Container

/** Where a container reads the file at `path`: the volume mounted at its directory. */
function volumeOf (pod: PodSpec, container: Container, path: string): Volume | undefined {
  const mount = container.volumeMounts?.find((m) => path.startsWith(`${m.mountPath}/`))
  return pod.volumes?.find((volume) => volume.name === mount?.name)
}

t.test('every overlay renders, and every object is valid against the API schema of its kind', { skip }, async (t) => {
  for (const [name, objects] of [...Object.entries(rendered), ['fleet + components/webhooks', withWebhooks] as const, ['config.example.yaml', examples] as const]) {
    t.ok(objects.length >= 4, `${name}: ${objects.map((o) => o.kind).join(', ')}`)
    for (const object of objects) {
      const Model = MODELS[`${object.apiVersion} ${object.kind}`]
      if (Model === undefined) {
        t.fail(`${name}: ${object.apiVersion} ${object.kind} has no validator here`)
        continue
      }
      t.doesNotThrow(() => { new Model(object as never).validate() }, `${name}: ${object.kind} ${object.metadata.name}`)
    }
  }
  t.throws(() => { new ServiceMonitor({ metadata: { name: 'x' }, spec: { selector: {}, endpoints: [{ authorization: { credentials: { key: 1 } } }] } } as never).validate() }, 'the CRD schema does reject a wrong field')
})

t.test('the two shapes: one replica in memory; a fleet with Redis, an autoscaler and a disruption budget', { skip }, async (t) => {
  const single = rendered.single as KubeObject[]
  const fleet = rendered.fleet as KubeObject[]
  const kinds = (objects: KubeObject[]): string[] => [...new Set(objects.map((o) => o.kind))].sort()
  t.same(kinds(single), ['Deployment', 'Ingress', 'NetworkPolicy', 'Service', 'ServiceMonitor'])
  t.same(kinds(fleet), ['Deployment', 'HorizontalPodAutoscaler', 'Ingress', 'NetworkPolicy', 'PodDisruptionBudget', 'Service', 'ServiceMonitor', 'StatefulSet'])

  t.equal(service(single).spec.replicas, 1)
  t.notOk(app(single).env?.some((e) => e.name.startsWith('REDIS_')), 'single: no Redis')

  t.equal(service(fleet).spec.replicas, undefined, 'fleet: the autoscaler owns the count (an apply does not reset it)')
  const hpa = find<KubeObject & { spec: { scaleTargetRef: { kind: string, name: string }, minReplicas: number, maxReplicas: number, metrics: Array<{ type: string, resource?: { name: string } }> } }>(fleet, 'HorizontalPodAutoscaler', 'vobiz-bff')
  t.same(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'vobiz-bff' })
  t.ok(hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas > hpa.spec.minReplicas)
  t.same(hpa.spec.metrics.map((m) => m.resource?.name), ['cpu'])
  const pdb = find<KubeObject & { spec: { maxUnavailable: number, selector: { matchLabels: Record<string, string> } } }>(fleet, 'PodDisruptionBudget', 'vobiz-bff')
  t.same(pdb.spec.selector.matchLabels, service(fleet).spec.template.metadata.labels)
  t.ok(pdb.spec.maxUnavailable < hpa.spec.minReplicas, 'a drain leaves a replica serving')

  const pod = service(fleet).spec.template.spec
  const url = app(fleet).env?.find((e) => e.name === 'REDIS_URL_FILE')?.value as string
  const volume = volumeOf(pod, app(fleet), url)
  t.equal(volume?.secret?.secretName, 'vobiz-bff-redis')
  t.same(volume?.secret?.items, [{ key: 'url', path: url.split('/').at(-1) }], 'the pods get the URL, not the bare password')
  const secret = find<KubeObject & { stringData: Record<string, string> }>(examples, 'Secret', 'vobiz-bff-redis')
  const redisService = find<KubeObject & { spec: { ports: Array<{ port: number }> } }>(fleet, 'Service', 'vobiz-bff-redis')
  t.equal(new URL(secret.stringData.url as string).host, `${redisService.metadata.name}:${redisService.spec.ports[0]?.port}`, 'the example URL reaches the Redis Service')
})

t.test('pods that start and stop well: secrets readable by the user they run as, probes, no subPath', { skip }, async (t) => {
  const workloads = [...Object.values(rendered), withWebhooks].flatMap((objects) => objects.filter((o): o is Workload => o.kind === 'Deployment' || o.kind === 'StatefulSet'))
  for (const workload of workloads) {
    const pod = workload.spec.template.spec
    const where = `${workload.kind} ${workload.metadata.name}`
    const { runAsUser, fsGroup, runAsNonRoot } = pod.securityContext
    t.ok(runAsNonRoot === true && runAsUser !== undefined && runAsUser > 0, `${where}: runs as a non-root user`)
    t.ok(fsGroup !== undefined, `${where}: fsGroup set, so mounted Secrets and volumes belong to a group the user is in`)
    for (const volume of pod.volumes ?? []) {
      if (volume.secret === undefined) continue
      const mode = volume.secret.defaultMode ?? 0o644
      t.ok((mode & 0o040) !== 0 && (mode & 0o004) === 0, `${where}: Secret ${volume.secret.secretName} is readable by the group (fsGroup), not by others (mode ${mode.toString(8)})`)
    }
    t.notOk(JSON.stringify(workload.spec.template.metadata.annotations ?? {}).includes('prometheus.io/'), `${where}: no scrape annotations (a scrape without the token gets 401)`)
    for (const container of pod.containers) {
      t.ok(container.readinessProbe !== undefined && container.livenessProbe !== undefined, `${where}/${container.name}: readiness and liveness probes`)
      t.equal(container.securityContext?.readOnlyRootFilesystem, true)
      t.equal(container.securityContext?.allowPrivilegeEscalation, false)
      t.ok((container.volumeMounts ?? []).every((mount) => mount.subPath === undefined), `${where}/${container.name}: no subPath (mounted files are updated in place, and reloaded)`)
    }
  }

  for (const objects of [...Object.values(rendered), withWebhooks]) {
    const deployment = service(objects)
    const container = app(objects)
    const names = container.env?.map((e) => e.name) ?? []
    t.same(names.filter((name) => !known.has(name)), [], 'every variable set is one of the service\'s')
    for (const { name, value } of container.env ?? []) {
      if (!name.endsWith('_FILE')) continue
      t.ok(volumeOf(deployment.spec.template.spec, container, value as string) !== undefined, `${name} is a file in a mounted volume`)
    }
    t.equal(container.readinessProbe?.httpGet?.path, '/health/ready')
    t.equal(container.livenessProbe?.httpGet?.path, '/health/live')
    t.equal(container.startupProbe?.httpGet?.path, '/health/live')
    t.equal(deployment.spec.strategy?.rollingUpdate.maxUnavailable, 0, 'a replica that never becomes ready halts the rollout')
    const pause = Number(container.lifecycle?.preStop?.exec?.command[1])
    t.ok(pause > 0 && pause < 10, 'the preStop pause is shorter than the 10 s drain')
    t.ok((deployment.spec.template.spec.terminationGracePeriodSeconds ?? 30) > pause + 10, 'the grace period covers the pause and the drain')
  }
  // The variables shown commented out in the base, for tracing.
  const text = readFileSync(`${kubernetesDir}base/deployment.yaml`, 'utf8')
  for (const [, name] of text.matchAll(/\{ name: ([A-Z][A-Z0-9_]+), value:/g)) t.ok(known.has(name as string), `${name as string} is a variable of the service`)

  const webhooks = app(withWebhooks).env?.find((e) => e.name === 'WEBHOOKS_FILE')?.value as string
  t.equal(volumeOf(service(withWebhooks).spec.template.spec, app(withWebhooks), webhooks)?.secret?.secretName, 'vobiz-bff-webhooks', 'components/webhooks mounts WEBHOOKS_FILE from a Secret')
})

t.test('network policies: in from consumers, the ingress controller and the scraper; out to DNS, Vobiz, Redis, the collector only', { skip }, async (t) => {
  for (const [name, objects] of Object.entries(rendered)) {
    const policies = objects.filter((o): o is Policy => o.kind === 'NetworkPolicy')
    const labels = service(objects).spec.template.metadata.labels
    const own = policies.filter((p) => Object.entries(p.spec.podSelector.matchLabels).every(([k, v]) => labels[k] === v))
    t.ok(own.some((p) => p.spec.policyTypes.includes('Ingress') && p.spec.policyTypes.includes('Egress')), `${name}: the pods are isolated both ways`)
    const ingress = own.flatMap((p) => p.spec.ingress ?? [])
    t.ok(ingress.length >= 2)
    for (const rule of ingress) {
      t.ok((rule.from ?? []).length > 0, `${name}: every ingress rule names its sources`)
      t.same(rule.ports, [{ port: 'http', protocol: 'TCP' }], `${name}: in only on the service's port`)
    }
    t.ok(ingress.some((rule) => rule.from?.some((peer) => peer.namespaceSelector?.matchLabels['kubernetes.io/metadata.name'] === 'monitoring')), `${name}: the scraper may reach /metrics`)

    const egress = own.flatMap((p) => p.spec.egress ?? [])
    for (const rule of egress) t.ok((rule.to ?? []).length > 0 && (rule.ports ?? []).length > 0, `${name}: every egress rule names its destinations and ports`)
    const allowed = egress.flatMap((rule) => (rule.ports ?? []).map((port) => `${port.port}/${port.protocol}`)).sort()
    const expected = ['443/TCP', '4318/TCP', '53/TCP', '53/UDP', ...(name === 'fleet' ? ['6379/TCP'] : [])].sort()
    t.same(allowed, expected, `${name}: out only to DNS, https (Vobiz), the OTLP collector${name === 'fleet' ? ', Redis' : ''}`)
    const https = egress.find((rule) => rule.ports?.some((port) => port.port === 443))
    for (const peer of https?.to ?? []) {
      t.ok(peer.ipBlock !== undefined, `${name}: https goes to addresses`)
      if (peer.ipBlock?.cidr === '0.0.0.0/0') for (const range of ALL_PRIVATE) t.ok(peer.ipBlock.except?.includes(range), `${name}: not into ${range} (the cluster, the metadata service)`)
    }
    if (name === 'fleet') {
      const redis = find<Policy>(objects, 'NetworkPolicy', 'vobiz-bff-redis')
      t.same(redis.spec.ingress?.flatMap((rule) => rule.from?.map((peer) => peer.podSelector?.matchLabels)), [labels], 'Redis is reached by the service\'s pods only')
      t.same(redis.spec.egress, [], 'and reaches nothing')
    }
  }
})

t.test('the ServiceMonitor scrapes the Service with the token from the Secret the pods read it from', { skip }, async (t) => {
  for (const [name, objects] of Object.entries(rendered)) {
    const monitor = find<KubeObject & { spec: { selector: { matchLabels: Record<string, string> }, endpoints: Array<{ port: string, path: string, authorization: { type: string, credentials: { name: string, key: string } } }> } }>(objects, 'ServiceMonitor', 'vobiz-bff')
    const svc = find<KubeObject & { spec: { ports: Array<{ name: string }> } }>(objects, 'Service', 'vobiz-bff')
    const selected = objects.filter((o) => o.kind === 'Service' && Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => o.metadata.labels?.[k] === v))
    t.same(selected.map((o) => o.metadata.name), ['vobiz-bff'], `${name}: selects the service's Service (not Redis's)`)
    const [endpoint] = monitor.spec.endpoints
    t.equal(endpoint?.port, svc.spec.ports[0]?.name)
    t.equal(endpoint?.path, '/metrics')
    const tokenFile = app(objects).env?.find((e) => e.name === 'METRICS_TOKEN_FILE')?.value as string
    const volume = volumeOf(service(objects).spec.template.spec, app(objects), tokenFile)
    t.same(endpoint?.authorization, { type: 'Bearer', credentials: { name: volume?.secret?.secretName, key: tokenFile.split('/').at(-1) } }, `${name}: the same Secret and key as METRICS_TOKEN_FILE`)
  }
})

t.test('the Ingress reaches the Service, and lets a reconnecting event stream reach a live replica', { skip }, async (t) => {
  for (const [name, objects] of Object.entries(rendered)) {
    const ingress = find<KubeObject & { spec: { rules: Array<{ http: { paths: Array<{ backend: { service: { name: string, port: { name: string } } } }> } }> } }>(objects, 'Ingress', 'vobiz-bff')
    const svc = find<KubeObject & { spec: { ports: Array<{ name: string }> } }>(objects, 'Service', 'vobiz-bff')
    const backends = ingress.spec.rules.flatMap((rule) => rule.http.paths.map((path) => path.backend.service))
    t.same(backends, [{ name: svc.metadata.name, port: { name: svc.spec.ports[0]?.name } }])
    const annotation = (key: string): string | undefined => ingress.metadata.annotations?.[`nginx.ingress.kubernetes.io/${key}`]
    t.equal(annotation('proxy-buffering'), 'off', `${name}: events are passed on as they are written`)
    t.same(annotation('proxy-next-upstream')?.split(' '), ['error', 'timeout', 'http_502', 'http_503'], 'a stopped or draining replica is skipped')
    t.ok(Number(annotation('proxy-next-upstream-tries')) >= 2, 'another replica may be tried')
    const heartbeat = (EnvSchema.properties.EVENTS_HEARTBEAT_SECONDS as unknown as { default: number }).default
    for (const key of ['proxy-read-timeout', 'proxy-send-timeout']) t.ok(Number(annotation(key)) > heartbeat, `${key} is above the ${heartbeat} s heartbeat`)
    t.equal(annotation('service-upstream'), undefined, 'the pods\' addresses, not one Service address: there is another to retry')
  }
})

t.test('the example consumers and webhooks are lists the service accepts', async (t) => {
  const consumers = find<KubeObject & { data: Record<string, string> }>(examples, 'ConfigMap', 'vobiz-bff-consumers')
  const problems: string[] = []
  t.equal(parseConsumerList(consumers.data['consumers.json'] as string, 'CONSUMERS_FILE', problems).length, 1)
  const webhooks = find<KubeObject & { stringData: Record<string, string> }>(examples, 'Secret', 'vobiz-bff-webhooks')
  t.equal(parseSubscriptions(webhooks.stringData['webhooks.json'] as string, problems).length, 1)
  t.same(problems, [])
})

t.test('the fleet\'s Redis, run with the manifest\'s own args: persistent, no eviction, its probe passes, a queue survives a restart', { skip: skip ?? redisUnavailable() }, async (t) => {
  const redis = find<Workload>(rendered.fleet as KubeObject[], 'StatefulSet', 'vobiz-bff-redis')
  const container = redis.spec.template.spec.containers[0] as Container
  t.ok((redis.spec.volumeClaimTemplates ?? []).length === 1, 'its data on a volume claim')
  const dataMount = container.volumeMounts?.find((mount) => mount.mountPath === container.args?.[container.args.indexOf('--dir') + 1])
  t.ok(dataMount !== undefined, 'the --dir is the mounted volume')
  const password = randomBytes(12).toString('hex')
  const data = mkdtempSync(join(tmpdir(), 'redis-data-'))
  t.teardown(() => { rmSync(data, { recursive: true, force: true }) })
  // The container's args as Kubernetes expands them ($(REDIS_PASSWORD) from the Secret), in a data directory here.
  const args = (container.args ?? []).map((arg) => arg === '$(REDIS_PASSWORD)' ? password : arg === dataMount?.mountPath ? data : arg)
  const server = await startRedis(t, args)
  const config = async (name: string): Promise<string> => ((await server.client.config('GET', name)) as string[])[1] as string
  t.equal(await config('appendonly'), 'yes')
  t.equal(await config('appendfsync'), 'everysec')
  t.equal(await config('maxmemory-policy'), 'noeviction', 'a full Redis refuses writes rather than evicting a webhook queue')

  const port = new URL(server.url).port
  const probe = (env: Record<string, string>): number | null => {
    const command = (container.readinessProbe?.exec?.command ?? []).map((arg) => arg.replace('redis-cli -h 127.0.0.1', `redis-cli -h 127.0.0.1 -p ${port}`))
    return spawnSync(command[0] as string, command.slice(1), { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'ignore' }).status
  }
  const auth = container.env?.find((e) => e.name === 'REDISCLI_AUTH')
  t.ok(auth !== undefined, 'the probe\'s password comes from the environment, not its command line')
  t.equal(probe({ REDISCLI_AUTH: password }), 0, 'the readiness probe passes against it')
  t.not(probe({ REDISCLI_AUTH: 'wrong' }), 0, 'and fails with a wrong password')

  // What a webhook queue is in Redis: a stream. A pod deleted or rescheduled is a SIGTERM (SHUTDOWN here).
  await server.client.xadd('vobiz-bff:webhooks:ledger:queue', '*', 'change', '{"id":"chg_1"}')
  await server.client.call('SHUTDOWN').catch(() => {})
  await server.start()
  t.equal(await server.client.xlen('vobiz-bff:webhooks:ledger:queue'), 1, 'the queued change is still there after a restart')
})
