// Reference B, the limit: bare node:http writing a prepared buffer of the same bytes as the service's /profile.
import { createServer } from 'node:http'
const body = Buffer.from(process.env.BODY ?? '{}')
createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length })
  res.end(body)
}).listen(Number(process.env.PORT), '127.0.0.1')
