// Reference B, the limit: bare node:http writing a prepared buffer of the same bytes as the service's /profile.
// With HEADERS (a JSON array of [name, value] pairs), it writes those headers instead of the two it needs:
// reference B′, the same response head as the service's cache hit, so the cost of the headers alone shows.
import { createServer } from 'node:http'
const body = Buffer.from(process.env.BODY ?? '{}')
const headers = process.env.HEADERS === undefined
  ? { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length }
  : JSON.parse(process.env.HEADERS).flat()
createServer((req, res) => {
  res.writeHead(200, headers)
  res.end(body)
}).listen(Number(process.env.PORT), '127.0.0.1')
