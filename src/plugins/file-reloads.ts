import { readFileSync, watch, type FSWatcher } from 'node:fs'
import { dirname } from 'node:path'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { codeOf, messageOf } from '../caught.ts'

/** Changes seen by the directory watchers are taken together after this long (editors write in steps). */
const SETTLE_MS = 50
/** Every file is also compared with what was last read this often: file systems whose events never arrive. */
const POLL_MS = 1000

/** What `apply` throws to refuse new contents: the previous values stay, and the message is logged. */
export class ReloadRefused extends Error {
  override readonly name = 'ReloadRefused'
}

export interface FileReloads {
  /**
   * Calls `apply` with the contents of `paths` (in that order) whenever one of them changes, and on SIGHUP
   * (`hangUp`). `apply` validates everything before it changes anything, and throws ReloadRefused to refuse.
   */
  watch: (what: string, paths: string[], apply: (contents: string[], why: { hangUp: boolean }) => void) => void
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Hot reload of what comes from files (consumers, Vobiz credentials). */
    fileReloads: FileReloads
  }
}

interface Group {
  what: string
  paths: string[]
  apply: (contents: string[], why: { hangUp: boolean }) => void
  /** The contents (or the read error) last seen: the same again is not a change. */
  last: string
}

function read (paths: string[]): { contents: string[] } | { error: string } {
  const contents: string[] = []
  for (const path of paths) {
    try {
      contents.push(readFileSync(path, 'utf8'))
    } catch (err) {
      return { error: `cannot read ${JSON.stringify(path)} (${String(codeOf(err))})` }
    }
  }
  return { contents }
}

/** One SIGHUP listener for every app in the process (tests run many), calling each app's reload. */
const hangUps = new Set<() => void>()
const onSignal = (): void => { for (const hangUp of hangUps) hangUp() }
function onHangUp (hangUp: () => void): () => void {
  if (hangUps.size === 0) process.on('SIGHUP', onSignal)
  hangUps.add(hangUp)
  return () => {
    hangUps.delete(hangUp)
    if (hangUps.size === 0) process.off('SIGHUP', onSignal)
  }
}

const fingerprint = (read: { contents: string[] } | { error: string }): string => 'error' in read ? `!${read.error}` : read.contents.join('\0')

/**
 * Triggers for hot reload: SIGHUP, a watcher on each file's directory (so Kubernetes' atomic `..data` symlink
 * swap and editors' rename-on-save are seen, which a watcher on the file itself misses), and a comparison of
 * every file with what was last read each second. Each reload is counted (vobiz_bff_config_reloads_total
 * {result}); a refused one is logged once per distinct content, never with the content.
 */
async function fileReloads (app: FastifyInstance): Promise<void> {
  const log = app.log.child({ component: 'reload' })
  const groups: Group[] = []
  const watchers = new Map<string, FSWatcher>()
  let settle: NodeJS.Timeout | undefined
  /** Started by the first file watched: an app that reads nothing from files polls nothing. */
  let poll: NodeJS.Timeout | undefined

  const reload = (group: Group, forced: boolean): void => {
    const now = read(group.paths)
    const print = fingerprint(now)
    if (!forced && print === group.last) return
    group.last = print
    try {
      if ('error' in now) throw new ReloadRefused(now.error)
      group.apply(now.contents, { hangUp: forced })
      app.metrics.configReloads.inc({ result: 'ok' })
    } catch (err) {
      app.metrics.configReloads.inc({ result: 'error' })
      // What apply throws is a ReloadRefused, or an Error from a bug: either way its message, never contents.
      log.error({ reload: group.what }, `${group.what} not reloaded, the previous ones stay: ${messageOf(err)}`)
    }
  }
  const reloadAll = (forced: boolean): void => { for (const group of groups) reload(group, forced) }
  const changed = (): void => {
    clearTimeout(settle)
    settle = setTimeout(() => { reloadAll(false) }, SETTLE_MS).unref()
  }
  const hangUp = (): void => {
    log.info({ files: groups.map((group) => group.what) }, groups.length === 0 ? 'SIGHUP: nothing is read from files, nothing to reload' : 'SIGHUP: reloading')
    reloadAll(true)
  }

  app.decorate('fileReloads', {
    watch (what, paths, apply) {
      groups.push({ what, paths, apply, last: fingerprint(read(paths)) })
      poll ??= setInterval(() => { reloadAll(false) }, POLL_MS).unref()
      for (const dir of new Set(paths.map((path) => dirname(path)))) {
        if (watchers.has(dir)) continue
        // A directory that goes away, or cannot be watched (no inotify left), leaves the poll to see changes;
        // neither can be brought about from a test on this machine.
        /* c8 ignore start */
        try {
          const watcher = watch(dir, { persistent: false }, changed)
          watcher.on('error', () => { watcher.close() })
          watchers.set(dir, watcher)
        } catch {}
        /* c8 ignore stop */
      }
    }
  })
  const stopListening = onHangUp(hangUp)
  app.addHook('onClose', (_app, done) => {
    stopListening()
    clearInterval(poll)
    clearTimeout(settle)
    for (const watcher of watchers.values()) watcher.close()
    done()
  })
}

export default fp(fileReloads, { name: 'file-reloads', fastify: '5.x', dependencies: ['metrics'] })
