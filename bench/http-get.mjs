import { request } from 'node:http'

/** GET http://127.0.0.1:<port><path>: resolves with the status and the whole body as text. */
export function get (port, path, headers) {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => { body += chunk })
      res.on('end', () => { resolve({ status: res.statusCode, body }) })
    }).on('error', reject).end()
  })
}
