/**
 * What README.md and docs/ tell a new user to run must do what they say, so they cannot rot:
 * every `./bin/epoxy` command of the README runs as written (from the repository root, as a
 * fresh clone has it), the files they name exist, `npm start` is what the README says it is and
 * serves the URL it gives, and every name the docs import from 'epoxy' is exported.
 * (test/examples.test.ts runs `npm start`'s script itself and fetches that URL.)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/child.js';

const README = readFileSync(`${ROOT}README.md`, 'utf8');

/** Lines of the README's ```sh blocks, comments cut off. */
function shellLines(markdown: string): string[] {
  const lines: string[] = [];
  for (const block of markdown.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of block[1]!.split('\n')) {
      const command = line.replace(/\s+#.*$/, '').trim();
      if (command !== '' && !command.startsWith('#')) lines.push(command);
    }
  }
  return lines;
}

describe('README.md', () => {
  const commands = shellLines(README);

  it('names only files that exist in its epoxy commands', () => {
    const epoxy = commands.filter((c) => c.startsWith('./bin/epoxy'));
    expect(epoxy.length).toBeGreaterThanOrEqual(2);
    for (const command of epoxy) {
      const file = /-f (\S+)/.exec(command)?.[1];
      expect(file, command).toBeDefined();
      expect(existsSync(`${ROOT}${file}`), `${command}: ${file} exists`).toBe(true);
    }
  });

  it('its check command accepts the file it names, exit 0', () => {
    const check = commands.find((c) => c.startsWith('./bin/epoxy -c'))!;
    const words = check.split(/\s+/);
    const r = spawnSync(process.execPath, [`${ROOT}bin/epoxy`, ...words.slice(1)], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('Configuration file is valid');
  });

  it('says what npm start runs and what to curl, as package.json and examples/demo.mjs do it', () => {
    const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe('node examples/demo.mjs');
    const startLine = README.split('\n').find((l) => l.startsWith('npm start'))!;
    expect(startLine).toContain('examples/demo.mjs');
    expect(startLine).toContain('examples/epoxy.cfg');
    const url = /curl (http:\/\/[^\s`]+)/.exec(README)?.[1];
    expect(url).toBe('http://127.0.0.1:8080/');
    // The demo runs epoxy on examples/epoxy.cfg, which listens where the README says.
    expect(readFileSync(`${ROOT}examples/demo.mjs`, 'utf8')).toContain('examples/epoxy.cfg');
    expect(readFileSync(`${ROOT}examples/epoxy.cfg`, 'utf8')).toMatch(/^\s+bind 127\.0\.0\.1:8080$/m);
  });
});

describe('docs/*.md', () => {
  it("imports from 'epoxy' only names the package exports", async () => {
    const exported = new Set(Object.keys(await import(`${ROOT}dist/index.js`)));
    const files = ['README.md', ...readdirSync(`${ROOT}docs`).map((f) => `docs/${f}`)].filter((f) => f.endsWith('.md'));
    let imports = 0;
    for (const file of files) {
      const text = readFileSync(`${ROOT}${file}`, 'utf8');
      // Imports from inside the repository would not work for a user of the package.
      expect(text, file).not.toMatch(/from '\.\.?\//);
      for (const match of text.matchAll(/import \{([^}]*)\} from 'epoxy'/g)) {
        for (const name of match[1]!.split(',').map((n) => n.trim()).filter((n) => n !== '' && !n.startsWith('type '))) {
          imports++;
          expect(exported.has(name), `${file}: '${name}' is exported by the package`).toBe(true);
        }
      }
    }
    expect(imports).toBeGreaterThan(3);
  });
});
