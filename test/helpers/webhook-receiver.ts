import { randomBytes } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import { Webhook } from 'standardwebhooks'

export interface Received {
  headers: IncomingHttpHeaders
  body: string
  /** What the receiver answered. */
  status: number
}

/** How the receiver answers the next request: a status (with an optional body), or never (the sender times out). */
export type Answer = { status: number, body?: string, headers?: Record<string, string> } | 'hang'

export interface WebhookReceiver {
  url: string
  secret: string
  /** Every request, in arrival order. */
  readonly requests: Received[]
  /** The requests answered 2xx, verified with the Standard Webhooks verifier (which throws on a bad signature). */
  delivered: () => Array<{ id: string, payload: { type: string, timestamp: string, data: Record<string, any> } }>
  /** How the receiver answers from now on (default 204). */
  answer: (answer: Answer) => void
  /** Resolves once `count` requests have arrived. */
  arrived: (count: number) => Promise<void>
}

/** A new Standard Webhooks secret: whsec_ and 32 random bytes in base64. */
export const webhookSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`

/** A webhook endpoint on a loopback port, closed when `t` ends. */
export async function startWebhookReceiver (t: Test): Promise<WebhookReceiver> {
  const secret = webhookSecret()
  const requests: Received[] = []
  let answer: Answer = { status: 204 }
  let waiting: Array<{ count: number, resolve: () => void }> = []
  const hanging: ServerResponse[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const now = answer
      requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString(), status: now === 'hang' ? 0 : now.status })
      for (const w of waiting) if (requests.length >= w.count) w.resolve()
      waiting = waiting.filter((w) => requests.length < w.count)
      if (now === 'hang') {
        hanging.push(res)
        return
      }
      res.writeHead(now.status, now.headers).end(now.body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const res of hanging) res.destroy()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const verifier = new Webhook(secret)
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    secret,
    requests,
    delivered: () => requests.filter((r) => r.status >= 200 && r.status < 300).map((r) => ({
      id: r.headers['webhook-id'] as string,
      payload: verifier.verify(r.body, r.headers as Record<string, string>) as any
    })),
    answer: (next) => { answer = next },
    arrived: async (count) => {
      if (requests.length >= count) return
      await new Promise<void>((resolve) => waiting.push({ count, resolve }))
    }
  }
}
