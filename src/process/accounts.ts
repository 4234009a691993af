/**
 * User and group names to ids, as HAProxy's `user` and `group` keywords need them. Node has no
 * getpwnam(); the local databases are read directly, which covers the accounts a proxy drops to
 * (`nobody`, `haproxy`, system users). Names served only by NSS modules (LDAP, sssd) are not
 * found: use `uid`/`gid` with the numbers for those (docs/operations.md).
 */
import { readFileSync } from 'node:fs';

export interface Account {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

function rows(path: string): string[][] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.split(':'));
}

/** The /etc/passwd entry named `name`, or null. */
export function findUser(name: string, passwd = '/etc/passwd'): Account | null {
  for (const fields of rows(passwd)) {
    if (fields[0] === name && fields.length >= 4) {
      const uid = Number(fields[2]);
      const gid = Number(fields[3]);
      if (Number.isInteger(uid) && Number.isInteger(gid)) return { name, uid, gid };
    }
  }
  return null;
}

/** The gid of the /etc/group entry named `name`, or null. */
export function findGroup(name: string, group = '/etc/group'): number | null {
  for (const fields of rows(group)) {
    if (fields[0] === name && fields.length >= 3) {
      const gid = Number(fields[2]);
      if (Number.isInteger(gid)) return gid;
    }
  }
  return null;
}
