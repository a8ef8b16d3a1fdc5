// The http-cache-tests origin server, bound to 127.0.0.1 only.
//
// The package's own `server/server.mjs` listens on every interface and takes its settings from
// npm config variables; this wrapper reuses the package's request handlers unchanged and only
// chooses the address. It serves no static files (the CLI never asks for them).
//
// Usage: node bench/cache/origin.mjs PACKAGE_DIR PORT
import http from 'http'
import path from 'path'
import { pathToFileURL } from 'url'

const [pkgDir, port] = process.argv.slice(2)
if (!pkgDir || !port) {
  console.error('usage: node origin.mjs PACKAGE_DIR PORT')
  process.exit(2)
}
const load = async name => (await import(pathToFileURL(path.join(pkgDir, 'server', name)).href)).default
const handlers = {
  config: await load('handle-config.mjs'),
  test: await load('handle-test.mjs'),
  state: await load('handle-state.mjs')
}

const server = http.createServer((request, response) => {
  const segs = new URL(request.url, `http://127.0.0.1:${port}/`).pathname.split('/').slice(1)
  const handler = handlers[segs.shift()]
  if (handler) {
    handler(segs, request, response)
  } else {
    response.writeHead(404, { 'Content-Type': 'text/plain' })
    response.end('not found\n')
  }
})
server.listen(Number(port), '127.0.0.1', () => {
  console.log(`cache-tests origin on http://127.0.0.1:${port}/`)
})
