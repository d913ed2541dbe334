import { once } from 'node:events'
import { createServer } from 'node:net'

/**
 * A port the kernel just handed out and released: a fixed range could collide with the ephemeral ports other
 * programs (the test suite, running in parallel) are using.
 */
export async function freePort () {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  server.close()
  await once(server, 'close')
  return port
}
