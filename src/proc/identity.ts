// Who a process is, and whether it still lives. A pid alone is not an
// identity: pids are reused, and a paused process (SIGSTOP, a suspended
// laptop) is alive although it does nothing. Linux's /proc gives a process's
// start time, which with the pid names it for good.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export interface ProcessId {
  pid: number;
  host: string;
  /** Start time in clock ticks since boot (/proc/<pid>/stat field 22); absent where /proc is not. */
  start?: number;
}

export type Liveness = 'alive' | 'stopped' | 'dead' | 'unknown';

interface ProcStat {
  state: string;
  start: number;
  pgrp: number;
}

/** /proc/<pid>/stat, parsed; undefined where it cannot be read (gone, or not Linux). */
export function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: f[0]!, pgrp: Number(f[2]), start: Number(f[19]) };
}

let self: ProcessId | undefined;
/** This process. */
export function selfId(): ProcessId {
  if (!self) {
    const st = procStat(process.pid);
    self = { pid: process.pid, host: hostname(), ...(st ? { start: st.start } : {}) };
  }
  return self;
}

/** Whether signal 0 reaches `pid` (a negative pid: any member of that process group). EPERM: it exists. */
export function canSignal(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether the process is still the one recorded. On another host nothing can
 * be known ('unknown'). A zombie has exited; a stopped process lives.
 */
export function liveness(id: Partial<ProcessId> & { pid: number }): Liveness {
  if (id.host && id.host !== hostname()) return 'unknown';
  if (!Number.isInteger(id.pid) || id.pid <= 0) return 'dead';
  const st = procStat(id.pid);
  if (!st) return canSignal(id.pid) ? 'alive' : 'dead';
  if (id.start !== undefined && st.start !== id.start) return 'dead';
  if (st.state === 'Z' || st.state === 'X') return 'dead';
  return st.state === 'T' || st.state === 't' ? 'stopped' : 'alive';
}

/** Alive (stopped counts) and, on this host, still the same process. */
export const isAlive = (id: Partial<ProcessId> & { pid: number }) => {
  const l = liveness(id);
  return l === 'alive' || l === 'stopped';
};

/** "pid 123 on host (stopped)" for messages. */
export function describeOwner(id: Partial<ProcessId> & { pid: number }, state = liveness(id)): string {
  return `pid ${id.pid}${id.host && id.host !== hostname() ? ` on ${id.host}` : ''}${state === 'stopped' ? ' (stopped: resume it with kill -CONT, or end it)' : ''}`;
}

/** A process's argument list (Linux /proc); undefined where that cannot be read. */
export function cmdlineOf(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

/**
 * Alive, and still the process we think it is: after a reboot an old pid may belong to
 * anything. `looksLike` checks its argument list where the system shows it.
 */
export function pidIs(pid: number, looksLike: (argv: string[]) => boolean): boolean {
  if (!pidAlive(pid)) return false;
  const argv = cmdlineOf(pid);
  return argv === undefined || looksLike(argv);
}

export function pidAlive(pid: number): boolean {
  return isAlive({ pid });
}
