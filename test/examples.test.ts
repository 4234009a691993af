/** The examples in examples/ are run for real, so they cannot rot. */
import { spawn } from 'node:child_process';
import { get } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/child.js';
import { waitFor } from './helpers/sockets.js';

describe('examples/echo-server.mjs', () => {
  it('echoes over a real connection and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [`${ROOT}examples/echo-server.mjs`, '127.0.0.1:0'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    const listening = new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /listening on 127\.0\.0\.1:(\d+)/.exec(stdout);
        if (match?.[1]) resolve(match[1]);
      });
      child.on('exit', (code) => reject(new Error(`exited early with ${code}: ${stdout}`)));
    });
    const port = Number(await listening);
    const echoed = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.end('ping over epoll'));
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(echoed).toBe('ping over epoll');
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdout).toContain('echo server stopped');
  });
});

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // A new connection per request, as curl makes: a TCP proxy balances connections, not requests.
    get(url, { agent: false }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

describe('npm start (examples/demo.mjs)', () => {
  it('serves http://127.0.0.1:8080/ through epoxy, alternating between the demo backends', async () => {
    const child = spawn(process.execPath, [`${ROOT}examples/demo.mjs`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => output.includes('listening on 127.0.0.1:8080'), `epoxy to listen: ${output}`);
      const answers = [];
      for (let i = 0; i < 4; i++) answers.push((await httpGet('http://127.0.0.1:8080/')).match(/app\d/)?.[0]);
      expect(answers).toEqual(['app1', 'app2', 'app1', 'app2']);
      await waitFor(() => (output.match(/ demo demo_servers\/app/g) ?? []).length === 4, 'four session log lines');
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
