#!/usr/bin/env node
// `npm start`: two tiny demo HTTP backends on 127.0.0.1:8081 and :8082, and epoxy running
// examples/epoxy.cfg in front of them on 127.0.0.1:8080. `curl http://127.0.0.1:8080/` then
// answers from app1 and app2 in turn. Ctrl-C stops everything.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const backends = [8081, 8082].map((port, i) =>
  createServer((request, response) => {
    response.setHeader('content-type', 'text/plain');
    response.end(`Hello from demo backend app${i + 1} (127.0.0.1:${port}) via epoxy\n`);
  }).listen(port, '127.0.0.1'),
);

const epoxy = spawn(process.execPath, [`${root}bin/epoxy`, '-f', `${root}examples/epoxy.cfg`, ...process.argv.slice(2)], {
  stdio: 'inherit',
});
const stop = () => epoxy.kill('SIGTERM');
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
epoxy.on('exit', (code, signal) => {
  for (const server of backends) server.close();
  process.exitCode = code ?? (signal ? 1 : 0);
});
