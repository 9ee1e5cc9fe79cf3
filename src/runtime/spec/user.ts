// `docker run -u` resolution against the image's own /etc/passwd and /etc/group, as runc's
// libcontainer/user GetExecUser does for Docker: "", "name", "uid", "name:group", "uid:gid",
// "uid:groupname". A numeric user or group needs no entry; a name does. Supplementary groups
// come from /etc/group membership, and only when no group was given explicitly.

import { EngineError, invalid } from '../../core/errors.ts';
import { readFileInRoot } from './in-root.ts';

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** supplementary gids from /etc/group membership (the primary gid is not repeated here) */
  additionalGids: number[];
}

const MAX_ID = 2147483647;

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** Go's strconv.Atoi: optional sign, decimal digits; undefined when it is not a number. */
function atoi(s: string): number | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Lines as Go's bufio.Scanner gives them: split on \n, a trailing \r dropped. */
function lines(text: string): string[] {
  return text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const raw of lines(text)) {
    const line = raw.trim();
    if (line === '') continue;
    const [name = '', , uid = '', gid = ''] = line.split(':');
    out.push({ name, uid: atoi(uid) ?? 0, gid: atoi(gid) ?? 0 });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of lines(text)) {
    if (line === '') continue;
    const [name = '', , gid = '', list = ''] = line.split(':');
    out.push({ name, gid: atoi(gid) ?? 0, members: list === '' ? [] : list.split(',') });
  }
  return out;
}

const rangeError = () => invalid(`uids and gids must be in range 0-${MAX_ID}`, 'user-out-of-range');

/** Resolves a user spec against passwd/group contents (undefined = the file is absent). */
export function resolveUserSpec(spec: string, passwd: string | undefined, group: string | undefined): ResolvedUser {
  const [userArg = '', groupArg = ''] = spec.split(':');
  const uidArg = atoi(userArg);
  const gidArg = atoi(groupArg);
  const result: ResolvedUser = { uid: 0, gid: 0, additionalGids: [] };

  const users = parsePasswd(passwd ?? '').filter((u) => {
    if (userArg === '') return u.uid === 0;
    if (uidArg !== undefined) return u.uid === uidArg;
    return u.name === userArg;
  });

  let matchedName = '';
  const first = users[0];
  if (first !== undefined) {
    matchedName = first.name;
    result.uid = first.uid;
    result.gid = first.gid;
  } else if (userArg !== '') {
    if (uidArg === undefined) {
      throw new EngineError('invalid-parameter', `unable to find user ${userArg}: no matching entries in passwd file`, {
        code: 'user-not-found',
      });
    }
    if (uidArg < 0 || uidArg > MAX_ID) throw rangeError();
    result.uid = uidArg;
  }

  if (groupArg !== '' || matchedName !== '') {
    const groups = parseGroup(group ?? '').filter((g) => {
      if (groupArg === '') return g.members.includes(matchedName);
      if (gidArg !== undefined) return g.gid === gidArg;
      return g.name === groupArg;
    });
    if (groupArg !== '') {
      const g = groups[0];
      if (g !== undefined) {
        result.gid = g.gid;
      } else {
        if (gidArg === undefined) {
          throw new EngineError('invalid-parameter', `unable to find group ${groupArg}: no matching entries in group file`, {
            code: 'group-not-found',
          });
        }
        if (gidArg < 0 || gidArg > MAX_ID) throw rangeError();
        result.gid = gidArg;
      }
    } else {
      result.additionalGids = groups.map((g) => g.gid);
    }
  }
  return result;
}

/** Resolves `docker run -u` inside the container's root filesystem (undefined or "" = root). */
export async function resolveUser(rootfs: string, user: string | undefined): Promise<ResolvedUser> {
  const [passwd, group] = await Promise.all([
    readFileInRoot(rootfs, '/etc/passwd'),
    readFileInRoot(rootfs, '/etc/group'),
  ]);
  return resolveUserSpec(user ?? '', passwd, group);
}
