/** The examples in examples/ are run for real, so they cannot rot. */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/child.js';

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
