/**
 * A strict reader of the Prometheus text exposition format (0.0.4), for tests: every family has
 * one HELP and one TYPE line before its samples, names and labels are well formed, label values
 * are escaped, no series appears twice, values are numbers (or NaN, +Inf, -Inf). Any deviation
 * throws, naming the line.
 */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'untyped' | 'summary' | 'histogram';
  readonly samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`line ${line}: label without '='`);
    const name = text.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`line ${line}: bad label name '${name}'`);
    if (text[eq + 1] !== '"') throw new Error(`line ${line}: label value not quoted`);
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[++j];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else throw new Error(`line ${line}: bad escape '\\${next}'`);
      } else {
        value += text[j];
      }
    }
    if (text[j] !== '"') throw new Error(`line ${line}: unterminated label value`);
    if (name in labels) throw new Error(`line ${line}: label '${name}' twice`);
    labels[name] = value;
    i = j + 1;
    if (i < text.length) {
      if (text[i] !== ',') throw new Error(`line ${line}: expected ',' between labels`);
      i++;
    }
  }
  return labels;
}

function parseValue(text: string, line: number): number {
  if (text === 'NaN') return NaN;
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (!/^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`line ${line}: bad value '${text}'`);
  return Number(text);
}

export function parsePrometheus(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a line feed');
  const families = new Map<string, Family>();
  const series = new Set<string>();
  let current: { name: string; help: string | null; type: Family['type'] | null; samples: Sample[] } | null = null;
  const close = (): void => {
    if (current === null) return;
    if (current.help === null || current.type === null) throw new Error(`family ${current.name} lacks HELP or TYPE`);
    if (families.has(current.name)) throw new Error(`family ${current.name} appears twice`);
    families.set(current.name, { name: current.name, help: current.help, type: current.type, samples: current.samples });
  };
  text
    .slice(0, -1)
    .split('\n')
    .forEach((raw, index) => {
      const line = index + 1;
      const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (meta) {
        const [, what, name, rest] = meta as unknown as [string, 'HELP' | 'TYPE', string, string];
        if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name '${name}'`);
        if (current === null || current.name !== name) {
          if (current !== null && current.samples.length === 0 && current.help !== null && current.type !== null) throw new Error(`family ${current.name} has no sample`);
          close();
          current = { name, help: null, type: null, samples: [] };
        }
        if (current.samples.length > 0) throw new Error(`line ${line}: ${what} after samples`);
        if (what === 'HELP') {
          if (current.help !== null) throw new Error(`line ${line}: second HELP`);
          current.help = rest;
        } else {
          if (current.type !== null) throw new Error(`line ${line}: second TYPE`);
          if (!['counter', 'gauge', 'untyped', 'summary', 'histogram'].includes(rest)) throw new Error(`line ${line}: bad type '${rest}'`);
          current.type = rest as Family['type'];
        }
        return;
      }
      if (raw.startsWith('#')) return;
      if (raw === '') throw new Error(`line ${line}: empty line`);
      const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(raw);
      if (!sample) throw new Error(`line ${line}: not a sample: ${raw}`);
      const [, name, labelText, valueText] = sample as unknown as [string, string, string | undefined, string];
      if (current === null || current.name !== name) throw new Error(`line ${line}: sample of ${name} outside its family`);
      const labels = labelText === undefined ? {} : parseLabels(labelText, line);
      const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
      if (series.has(key)) throw new Error(`line ${line}: series twice`);
      series.add(key);
      current.samples.push({ name, labels, value: parseValue(valueText, line) });
    });
  close();
  return families;
}

/** The value of one series, or throws. */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string>): number {
  const family = families.get(name);
  const sample = family?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === Object.keys(labels).length);
  if (sample === undefined) throw new Error(`no series ${name}${JSON.stringify(labels)}`);
  return sample.value;
}
