import { existsSync, closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';

// crypto costs ~5 ms to load; `status` and `list --json` never hash, so load it on first use.
const load = createRequire(import.meta.url);
let crypto: typeof import('node:crypto') | undefined;

/** The four sections of the original tool's plan.md, in order (the "Crate audit" heading is kept as it was). */
export const SECTIONS = ['Risk register', 'File order', 'Crate audit', 'Gotchas'] as const;

export interface PlanHeader {
  model: string;
  created: string;
  specSha256: string;
}

const HEADER_RE = /^<!-- dispatch-plan model="([^"]*)" created="([^"]*)" spec-sha256="([0-9a-f]{64})" -->/;

export function hashSpec(text: string): string {
  crypto ??= load('node:crypto') as typeof import('node:crypto');
  return crypto.createHash('sha256').update(text).digest('hex');
}

export function renderHeader(h: PlanHeader): string {
  return `<!-- dispatch-plan model="${h.model.replace(/"/g, '')}" created="${h.created}" spec-sha256="${h.specSha256}" -->`;
}

export function parseHeader(text: string): PlanHeader | undefined {
  const m = HEADER_RE.exec(text);
  return m ? { model: m[1]!, created: m[2]!, specSha256: m[3]! } : undefined;
}

/** Reads just the first line of plan.md (listing many specs must not read whole files). */
export function readPlanHeader(planFile: string): PlanHeader | undefined | null {
  // Most specs of a big table have no plan yet: asked without an exception (5× cheaper than a failed open).
  if (!existsSync(planFile)) return null;
  let fd: number;
  try {
    fd = openSync(planFile, 'r');
  } catch {
    return null; // no plan
  }
  try {
    const buf = Buffer.alloc(256);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return parseHeader(buf.subarray(0, n).toString('utf8'));
  } catch {
    return null; // a folder where plan.md goes (EISDIR): no plan, and writing one says why it cannot
  } finally {
    closeSync(fd);
  }
}

/** Headings the answer lacks (a heading of any level, matched case-insensitively). */
export function missingSections(answer: string): string[] {
  const headings = [...answer.matchAll(/^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$/gm)].map((m) => m[1]!.replace(/[*_`:]/g, '').trim().toLowerCase());
  return SECTIONS.filter((s) => !headings.some((h) => h.startsWith(s.toLowerCase()) || h.replace(/^\d+[.)]\s*/, '').startsWith(s.toLowerCase())));
}

/** Removes a reasoning block or a code fence some models wrap their answer in. */
export function cleanAnswer(answer: string): string {
  let a = answer.replace(/<think>[\s\S]*?<\/think>/g, '').trim();
  const fenced = /^```(?:markdown|md)?\n([\s\S]*?)\n```$/.exec(a);
  if (fenced) a = fenced[1]!.trim();
  return a;
}

export function renderPlan(header: PlanHeader, spec: { id: string; name: string }, answer: string): string {
  return `${renderHeader(header)}\n# Plan for ${spec.id}-${spec.name}\n\n${cleanAnswer(answer)}\n`;
}
