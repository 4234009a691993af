/**
 * The syslog envelopes of HAProxy 2.6's `log ... format <fmt>`, byte for byte as it sends them
 * (observed with UDP listeners, docs/logging.md quotes the datagrams):
 *
 *   local           <134>Dec  4 09:16:37 haproxy[2016]: text      (the default without log-send-hostname)
 *   rfc3164         <134>Dec  4 09:16:37 localhost haproxy[2016]: text   (the log-send-hostname name, else "localhost")
 *   rfc5424         <134>1 2026-12-04T09:16:37.208872+00:00 - haproxy 2016 - - text
 *   priority        <134>text
 *   short           <6>text
 *   timed           <6>2026-12-04T09:16:37.209120+00:00 text
 *   iso             2026-12-04T09:16:37.209124+00:00 text
 *   raw             text
 *
 * Every line ends with '\n'; `len` bounds what comes before it. Dates are local time.
 */
import type { LogFacility, LogFormat, LogLevel } from '../config/model.js';

export const FACILITY_CODES: Readonly<Record<LogFacility, number>> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, auth2: 10,
  ftp: 11, ntp: 12, audit: 13, alert: 14, cron2: 15, local0: 16, local1: 17, local2: 18, local3: 19,
  local4: 20, local5: 21, local6: 22, local7: 23,
}; // prettier-ignore

/** Syslog severities: 0 (emerg) is the most urgent. */
export const LEVEL_CODES: Readonly<Record<LogLevel, number>> = {
  emerg: 0, alert: 1, crit: 2, err: 3, warning: 4, notice: 5, info: 6, debug: 7,
}; // prettier-ignore

/** Who writes: the tag (program name), the pid, and the host name when one is sent. */
export interface SyslogIdentity {
  readonly tag: string;
  readonly pid: number;
  /** `log-send-hostname`: rfc3164 and rfc5424 name the host; null: they do not (`-` in rfc5424). */
  readonly hostname: string | null;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** The wall clock in microseconds: HAProxy's rfc5424 and ISO dates carry them. */
export function wallMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

/** `+01:00`: the local offset from UTC at that moment, as ISO 8601 writes it. */
function isoOffset(date: Date): string {
  const minutes = -date.getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${two(Math.floor(abs / 60))}:${two(abs % 60)}`;
}

/**
 * Builds envelopes. The parts that change once a second (the rfc3164 date, the ISO date up to its
 * seconds) are kept between lines, so a busy second formats its date once.
 */
export class SyslogHeaders {
  private second = -1;
  private rfc3164Date = '';
  private isoSecond = '';
  private isoZone = '';

  constructor(readonly identity: SyslogIdentity) {}

  private refresh(micros: number): void {
    const second = Math.floor(micros / 1_000_000);
    if (second === this.second) return;
    this.second = second;
    const d = new Date(second * 1000);
    const day = d.getDate();
    this.rfc3164Date = `${MONTHS[d.getMonth()]} ${day < 10 ? ` ${day}` : day} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
    this.isoSecond = `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(day)}T${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
    this.isoZone = isoOffset(d);
  }

  private iso(micros: number): string {
    return `${this.isoSecond}.${String(micros % 1_000_000).padStart(6, '0')}${this.isoZone}`;
  }

  /** What comes before the text of one line, `tag` replacing the identity's (a proxy's `log-tag`). */
  header(format: LogFormat, facility: LogFacility, level: LogLevel, micros: number, tag = this.identity.tag): string {
    const severity = LEVEL_CODES[level];
    const priority = FACILITY_CODES[facility] * 8 + severity;
    switch (format) {
      case 'raw':
        return '';
      case 'short':
        return `<${severity}>`;
      case 'priority':
        return `<${priority}>`;
      case 'timed':
        this.refresh(micros);
        return `<${severity}>${this.iso(micros)} `;
      case 'iso':
        this.refresh(micros);
        return `${this.iso(micros)} `;
      case 'rfc5424':
        this.refresh(micros);
        return `<${priority}>1 ${this.iso(micros)} ${this.identity.hostname ?? '-'} ${tag} ${this.identity.pid} - - `;
      case 'rfc3164':
        // Without log-send-hostname HAProxy 2.6 names the host "localhost" here (observed).
        this.refresh(micros);
        return `<${priority}>${this.rfc3164Date} ${this.identity.hostname ?? 'localhost'} ${tag}[${this.identity.pid}]: `;
      case 'local':
        this.refresh(micros);
        return `<${priority}>${this.rfc3164Date} ${tag}[${this.identity.pid}]: `;
    }
  }
}

/**
 * The level a target sends a message at, or null when it drops it: beyond the target's level (the
 * most verbose it takes) it is dropped, and above its minimum level it is lowered to it.
 */
export function effectiveLevel(level: LogLevel, max: LogLevel, min: LogLevel): LogLevel | null {
  if (LEVEL_CODES[level] > LEVEL_CODES[max]) return null;
  return LEVEL_CODES[level] < LEVEL_CODES[min] ? min : level;
}
