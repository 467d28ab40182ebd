import { readdirSync, readFileSync } from 'node:fs';

/**
 * The fields of /proc/<pid>/stat after the command name (state first, then ppid, …), or undefined once
 * the process is gone. The name may hold spaces and parentheses, so fields are read after the last ")".
 */
export function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The state letter (Z: a zombie nobody has waited for), or undefined once reaped. */
export const stateOf = (pid: number): string | undefined => statFields(pid)?.[0];

/** The children of `pid` (of all its threads), zombies included; [] once it is gone. */
export function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}
