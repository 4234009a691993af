// Types of bench/harness/scenarios.mjs, for the TypeScript tests that use it (only what they use).

export interface Scenario {
  name: string;
  title: string;
  goals?: [string, string, '<=' | '>=', number][];
}

export const SCENARIOS: Record<'keepalive' | 'close' | 'bulk1m' | 'bulk100m' | 'latency' | 'idle', Scenario>;
