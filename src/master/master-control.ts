/**
 * The runtime API under a master: the master serves the `stats socket`s for the whole process,
 * so that an operator sees one epoxy as HAProxy's single process is seen, whatever `nbthread`
 * says. Each command runs where its scope says (src/control/commands.ts): the server states the
 * master keeps for its checks and new workers answer there; sessions, errors and listeners are
 * the workers', asked of each and put together; a change to a server is made in the master's
 * copy (so that checks, a respawned worker and a reload start from it) and then in every worker.
 */
import { allowed, findCommand, helpText, PERMISSION_DENIED, unknownCommand, type CommandResult } from '../control/commands.js';
import type { ControlHandler } from '../control/control-server.js';
import type { ControlLevel } from '../config/model.js';
import type { Master } from './master.js';

export class MasterControl implements ControlHandler {
  constructor(private readonly master: Master) {}

  async run(command: string, level: ControlLevel): Promise<CommandResult> {
    const words = command.trim().split(/\s+/);
    if (words[0] === 'help') return { text: helpText(level) };
    const found = findCommand(words);
    if (found === null) return unknownCommand(words, level);
    if (!allowed(found.spec, level)) return PERMISSION_DENIED;
    const ctx = this.master.controlContext();
    if (ctx === null) return { text: 'No generation serves yet.\n', failed: true };
    switch (found.spec.scope) {
      case 'master':
        return found.spec.run(found.args, ctx, level);
      case 'everywhere': {
        const own = await found.spec.run(found.args, ctx, level);
        if (own.failed) return own;
        const answers = await this.master.askWorkers(command);
        return answers.find((a) => a.failed) ?? own;
      }
      case 'workers':
        return combine(await this.master.askWorkers(command));
    }
  }
}

/**
 * The workers' answers as one: what succeeded anywhere, put end to end (a session lives in one
 * worker: `shutdown session` succeeds if one of them had it); a failure only when every worker
 * failed. Structured data is merged field by field: lists joined, counts summed.
 */
export function combine(answers: readonly CommandResult[]): CommandResult {
  const succeeded = answers.filter((a) => !a.failed);
  if (succeeded.length === 0) return answers[0] ?? { text: 'No worker serves yet.\n', failed: true };
  const text = succeeded.map((a) => a.text).join('');
  const data: unknown[] = succeeded.map((a) => a.data).filter((d) => d !== undefined);
  return data.length === 0 ? { text } : { text, data: data.reduce((a, b) => mergeData(a, b)) };
}

function mergeData(a: unknown, b: unknown): unknown {
  if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
    for (const [key, value] of Object.entries(b as Record<string, unknown>)) out[key] = key in out ? mergeData(out[key], value) : value;
    return out;
  }
  return a;
}
