// Fallback backend for the harness when nginx is absent: a fixed small HTTP/1.1 response on
// 127.0.0.1, keep-alive unless the request says `Connection: close`. node:http only, no addon.
//
//   node bench/harness/responder.mjs <port> [bodyBytes]
import http from 'node:http';

const port = Number(process.argv[2]);
const body = Buffer.alloc(Number(process.argv[3] ?? 128), 'x');
body[body.length - 1] = 0x0a;

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 600_000;
server.headersTimeout = 600_500;
server.maxRequestsPerSocket = 0;
server.listen(port, '127.0.0.1');
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
