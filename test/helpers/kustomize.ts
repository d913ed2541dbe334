import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'

/**
 * deploy/kubernetes/ rendered the way a platform team applies it: `kubectl kustomize` (kubectl is in the machine
 * image; kustomize is built into it). Without kubectl the tests that render are skipped with a message, unless
 * REQUIRE_KUBECTL=1 (CI), which makes that a failure.
 */
export const kubernetesDir = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url))
export const OVERLAYS = ['single', 'fleet'] as const

/** Why kustomize cannot render here, or undefined when it can. */
export function kubectlUnavailable (): string | undefined {
  const probe = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' })
  if (probe.error === undefined && probe.status === 0) return undefined
  const reason = 'kubectl is not installed (it renders deploy/kubernetes with `kubectl kustomize`); the rendering tests are skipped'
  if (process.env.REQUIRE_KUBECTL === '1') throw new Error(`REQUIRE_KUBECTL=1 but ${reason}`)
  return reason
}

/** A Kubernetes object as rendered: only what every kind has is typed. */
export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: { name: string, labels?: Record<string, string>, annotations?: Record<string, string> }
  [key: string]: unknown
}

/** `kubectl kustomize <dir>` (dir relative to deploy/kubernetes/), parsed; throws with kustomize's message. */
export function render (dir: string): KubeObject[] {
  const result = spawnSync('kubectl', ['kustomize', join(kubernetesDir, dir)], { encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir}: ${result.stderr}`)
  return parseAllDocuments(result.stdout).map((document) => document.toJS() as KubeObject)
}

/**
 * An overlay with extra components, as a platform team enables them (`components:` in their kustomization):
 * kustomize takes no absolute paths, so the kustomization is written in a directory of its own beside the
 * overlays, rendered, and removed.
 */
export function renderWith (overlay: string, components: string[]): KubeObject[] {
  const dir = mkdtempSync(join(kubernetesDir, '.render-'))
  try {
    const up = (path: string): string => relative(dir, join(kubernetesDir, path))
    writeFileSync(join(dir, 'kustomization.yaml'), [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      `resources: [${up(`overlays/${overlay}`)}]`,
      `components: [${components.map((name) => up(`components/${name}`)).join(', ')}]`,
      ''
    ].join('\n'))
    return render(relative(kubernetesDir, dir))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The one object of `kind` named `name`; throws when there is none. */
export function find<T = KubeObject> (objects: KubeObject[], kind: string, name: string): T {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name)
  if (found === undefined) throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind} ${o.metadata.name}`).join(', ')}`)
  return found as T
}
