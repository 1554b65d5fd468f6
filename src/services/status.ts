import type { ResolvedConfig } from '../config/types.js';
import { bare, isRemote, kindOf, type StateDoc, type VerdictKind } from '../state/doc.js';
import { quietSeconds, stallSeconds } from '../attempt/stall.js';
import { buildOverview } from './overview.js';
import { countStates, groupWaves, type StateCounts } from './waves-view.js';

export interface StatusSummary {
  project: string;
  total: number;
  counts: StateCounts;
  waves: { wave: number; total: number; counts: StateCounts; complete: boolean }[];
  /** Specs needing attention, with the recorded reason. */
  failed: { id: string; name: string; wave: number; kind?: VerdictKind; reason?: string }[];
  running: { id: string; name: string; wave: number; pid?: number; pane?: string; startedAt?: string; attempt?: number; quietSeconds: number; stalled: boolean; /** The SSH host it runs on (an SSH run). */ host?: string }[];
  /** Rate-limited specs and when they will be relaunched. */
  rateLimited: { id: string; name: string; wave: number; agent?: string; until?: string; reason?: string }[];
  /** Every launch of every spec that has been launched, oldest first. */
  attempts: Record<string, { n: number; state?: string; kind?: VerdictKind; reason?: string; startedAt: string; endedAt?: string; durationSeconds?: number; tokens?: number; runId?: string }[]>;
  /** Tokens the agents reported. */
  usage: {
    total: number;
    bySpec: Record<string, number>;
    byWave: Record<string, number>;
    byRun: { runId: string; startedAt: string; tokens: number; lowerBound?: boolean }[];
    /** Figures that count a failed turn as nothing (it reported no usage): at least this much. */
    lowerBound: { total: boolean; specs: string[]; waves: string[] };
  };
  /** Isolated specs done in their worktree, waiting for `dispatch merge`. */
  awaitingMerge: { id: string; name: string; wave: number }[];
  /** Specs decided by hand whose agent still works on an SSH host (its work comes home when it ends). */
  outlived: { id: string; state: string; host: string; attempt?: number; startedAt: string }[];
  unknownIds: string[];
}

export function summarizeStatus(config: ResolvedConfig, doc: StateDoc): StatusSummary {
  const { rows, unknownIds } = buildOverview(config, doc, { plans: false });
  const running = doc.dispatch?.running ?? {};
  return {
    project: config.project,
    total: rows.length,
    counts: countStates(rows),
    waves: groupWaves(rows).map((w) => ({ wave: w.wave, total: w.specs.length, counts: w.counts, complete: w.complete })),
    failed: rows.filter((r) => r.state === 'failed').map((r) => ({ id: r.id, name: r.name, wave: r.wave, kind: kindOf(doc, r.id, 'failed'), ...(r.reason ? { reason: r.reason } : {}) })),
    running: rows
      .filter((r) => r.state === 'running')
      .map((r) => {
        const spec = config.specs.find((x) => x.id === r.id)!;
        const ssh = isRemote(running[r.id]);
        // An SSH run's log is on its host: its quiet time is judged by the run that collects it, not here.
        const quiet = ssh ? 0 : Math.round(quietSeconds(config, spec, running[r.id]?.startedAt));
        return {
          id: r.id, name: r.name, wave: r.wave, pid: running[r.id]?.pid, pane: running[r.id]?.pane, startedAt: running[r.id]?.startedAt, attempt: running[r.id]?.attempt,
          quietSeconds: quiet, stalled: !ssh && (running[r.id]?.pid ?? 0) > 0 && quiet > stallSeconds(config, spec), ...(ssh ? { host: running[r.id]!.host } : {}),
        };
      }),
    rateLimited: rows
      .filter((r) => r.state === 'rate-limited')
      .map((r) => {
        const w = doc.dispatch?.waiting?.[r.id];
        return { id: r.id, name: r.name, wave: r.wave, agent: w?.agent, until: w?.until, reason: w?.reason };
      }),
    attempts: attemptsOf(doc),
    outlived: Object.entries(doc.dispatch?.outlived ?? {}).map(([id, o]) => ({ id, state: rows.find((r) => r.id === id)?.state ?? 'unknown', host: o.host, ...(o.attempt !== undefined ? { attempt: o.attempt } : {}), startedAt: o.startedAt })),
    usage: usageOf(doc),
    awaitingMerge: rows.filter((r) => r.state === 'done' && doc.dispatch?.specs[r.id]?.awaitingMerge).map((r) => ({ id: r.id, name: r.name, wave: r.wave })),
    unknownIds,
  };
}

function attemptsOf(doc: StateDoc): StatusSummary['attempts'] {
  const out: StatusSummary['attempts'] = bare(undefined);
  for (const [id, rec] of Object.entries(doc.dispatch?.specs ?? {})) {
    if (!rec.history?.length) continue;
    out[id] = rec.history.map((h) => ({
      n: h.n,
      ...(h.state ? { state: h.state } : {}),
      ...(h.kind ? { kind: h.kind } : {}),
      ...(h.reason ? { reason: h.reason } : {}),
      startedAt: h.startedAt,
      ...(h.endedAt ? { endedAt: h.endedAt, durationSeconds: Math.round((Date.parse(h.endedAt) - Date.parse(h.startedAt)) / 100) / 10 } : {}),
      ...(h.tokens ? { tokens: h.tokens.total, ...(h.tokens.lowerBound === true ? { tokensLowerBound: true } : {}) } : {}),
      ...(h.runId ? { runId: h.runId } : {}),
      // The evidence behind the verdict.
      ...(h.exit ? { exit: h.exit } : {}),
      ...(h.verify ? { verify: h.verify } : {}),
      ...(h.git ? { git: h.git } : {}),
    }));
  }
  return out;
}

function usageOf(doc: StateDoc): StatusSummary['usage'] {
  const bySpec: Record<string, number> = bare(undefined);
  const byWave: Record<string, number> = {};
  const runs = new Map<string, { startedAt: string; tokens: number; lowerBound?: boolean }>();
  let total = 0;
  const lowSpecs = new Set<string>();
  const lowWaves = new Set<string>();
  for (const [id, rec] of Object.entries(doc.dispatch?.specs ?? {})) {
    for (const h of rec.history ?? []) {
      const t = h.tokens?.total ?? 0;
      if (h.runId) {
        const r = runs.get(h.runId) ?? { startedAt: h.startedAt, tokens: 0 };
        if (h.startedAt < r.startedAt) r.startedAt = h.startedAt;
        r.tokens += t;
        if (h.tokens?.lowerBound === true) r.lowerBound = true;
        runs.set(h.runId, r);
      }
      if (h.tokens?.lowerBound === true) {
        lowSpecs.add(id);
        if (h.wave !== undefined) lowWaves.add(String(h.wave));
      }
      if (!t) continue;
      total += t;
      bySpec[id] = (bySpec[id] ?? 0) + t;
      if (h.wave !== undefined) byWave[String(h.wave)] = (byWave[String(h.wave)] ?? 0) + t;
    }
  }
  const byRun = [...runs].map(([runId, r]) => ({ runId, ...r })).sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  return { total, bySpec, byWave, byRun, lowerBound: { total: lowSpecs.size > 0, specs: [...lowSpecs], waves: [...lowWaves] } };
}
