// Reference A: a minimal Fastify app returning the same profile object from a route (serialized per request,
// no auth, logger off).
import Fastify from 'fastify'
const profile = JSON.parse(process.env.BODY ?? '{}')
const app = Fastify({ logger: false })
app.get('/profile', async () => profile)
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
