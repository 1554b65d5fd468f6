import type { ResolvedConfig, ResolvedSpec } from '../config/types.js';
import { DispatchError } from '../errors.js';
import { chatOnce, effectiveHost, pingOllama, PlannerError, unreachableHint, type ChatMessage, type OllamaTarget } from '../planner/ollama.js';
import { cleanAnswer, hashSpec, missingSections, readPlanHeader, renderPlan } from '../planner/plan-file.js';
import { buildPrompt, correctiveMessage, topLevelFiles } from '../planner/prompt.js';
import { findSpecs, locateSpec, readSpecFolders, type SpecFolders } from '../specs/lookup.js';
import { readSpecText, showSize, SPEC_TEXT_MAX } from '../specs/read-text.js';
import { writeFileAtomicAsync } from '../util/write-atomic.js';
import { sleep } from '../util/sleep.js';

export type PlanResultStatus = 'planned' | 'up-to-date' | 'failed' | 'interrupted';

export interface PlanResult {
  id: string;
  name: string;
  status: PlanResultStatus;
  reason?: string;
  file?: string;
  /** Requests made for this spec (retries and the corrective one included). */
  requests: number;
  ms: number;
}

export type PrePlanEvent =
  | { type: 'start'; total: number; toPlan: number }
  | { type: 'begin'; id: string }
  | { type: 'retry'; id: string; attempt: number; reason: string; delayMs: number }
  /** Ollama did not answer its ping; tried again after `delayMs` (said, so a wait is never silent). */
  | { type: 'unreachable'; host: string; error: string; attempt: number; retries: number; delayMs: number }
  | { type: 'done'; result: PlanResult };

export interface PrePlanOptions {
  ids?: string[];
  wave?: number;
  force?: boolean;
  concurrency?: number;
  model?: string;
  signal: AbortSignal;
  onEvent?: (e: PrePlanEvent) => void;
  /** How many times to try reaching Ollama again (default planner.retries); a run's planning step asks once. */
  reachRetries?: number;
}

/** Ollama could not be reached at all: nothing was planned. */
export class OllamaUnreachableError extends DispatchError {}

/** Which specs the options select, in table order. */
export function selectSpecs(config: ResolvedConfig, opts: Pick<PrePlanOptions, 'ids' | 'wave'>): ResolvedSpec[] {
  let specs = opts.ids?.length ? findSpecs(config, opts.ids) : config.specs;
  if (opts.wave !== undefined) specs = specs.filter((s) => s.wave === opts.wave);
  return specs;
}

interface Job {
  spec: ResolvedSpec;
  specFile: string;
  planFile: string;
  text: string;
  hash: string;
  /** The project's top-level files, listed once per run. */
  files: string[];
  /** The spec folders, listed once per run (dependencies' specs are read through it). */
  folders: SpecFolders;
}

/**
 * Plans every selected spec without an up-to-date plan.md, N at once. Each
 * result arrives through onEvent as it finishes; a failure is that spec's
 * alone. Throws only when Ollama cannot be reached at all.
 */
export async function prePlan(config: ResolvedConfig, opts: PrePlanOptions): Promise<PlanResult[]> {
  const specs = selectSpecs(config, opts);
  const results: PlanResult[] = [];
  const emit = (e: PrePlanEvent) => opts.onEvent?.(e);
  const finish = (r: PlanResult) => {
    results.push(r);
    emit({ type: 'done', result: r });
  };
  let topFiles: string[] | undefined;
  const jobs: Job[] = [];
  const early: PlanResult[] = [];
  const folders = readSpecFolders(config.specsDir);
  for (const spec of specs) {
    const base = { id: spec.id, name: spec.name, requests: 0, ms: 0 };
    let files;
    try {
      files = locateSpec(config.specsDir, spec, folders);
    } catch (err) {
      early.push({ ...base, status: 'failed', reason: (err as Error).message });
      continue;
    }
    const read = readSpecText(files.specFile);
    if (!('text' in read)) {
      early.push({ ...base, status: 'failed', reason: 'tooLarge' in read ? `spec.md is too large (${showSize(read.tooLarge)}; the limit is ${showSize(SPEC_TEXT_MAX)}): ${files.specFile}` : `no spec.md at ${files.specFile}` });
      continue;
    }
    const text = read.text;
    if (!text.trim()) {
      early.push({ ...base, status: 'failed', reason: `spec.md is empty: ${files.specFile}` });
      continue;
    }
    const hash = hashSpec(text);
    const header = readPlanHeader(files.planFile);
    const upToDate = header === undefined || (header !== null && header.specSha256 === hash);
    if (upToDate && !opts.force) {
      early.push({ ...base, status: 'up-to-date', file: files.planFile });
      continue;
    }
    jobs.push({ spec, specFile: files.specFile, planFile: files.planFile, text, hash, files: (topFiles ??= topLevelFiles(config.rootDir)), folders });
  }
  emit({ type: 'start', total: specs.length, toPlan: jobs.length });
  early.forEach(finish);
  if (!jobs.length) return results;

  const p = config.planner;
  const target: OllamaTarget = {
    host: effectiveHost(p.host),
    model: opts.model ?? p.model,
    options: p.options,
    timeoutSeconds: p.timeoutSeconds,
  };
  // The client loads while the server answers the ping: both sit on the way to the first request.
  const client = import('ollama');
  await ensureReachable(target.host, opts.reachRetries ?? p.retries, p.backoffSeconds, opts.signal, (e) => opts.onEvent?.({ type: 'unreachable', ...e }));
  await client;

  const queue = [...jobs];
  // A plan is written while its worker already asks for the next one: the write (and its fsync)
  // stays off the path of the requests, which is where a pre-plan's time goes.
  const writing: Promise<void>[] = [];
  let writeFailed = false;
  const worker = async () => {
    // A plan that cannot be written (a full disk, a read-only folder) stops the asking too.
    for (let job = queue.shift(); job && !writeFailed; job = queue.shift()) {
      if (opts.signal.aborted) {
        finish({ id: job.spec.id, name: job.spec.name, status: 'interrupted', requests: 0, ms: 0 });
        continue;
      }
      emit({ type: 'begin', id: job.spec.id });
      const r = await planOne(config, job, target, opts, emit);
      if ('write' in r) {
        const w = r.write().then(finish);
        w.catch(() => (writeFailed = true)); // awaited below: a failed write fails the pre-plan there
        writing.push(w);
      } else finish(r);
    }
  };
  const n = Math.max(1, Math.min(opts.concurrency ?? p.concurrency, jobs.length));
  await Promise.all(Array.from({ length: n }, worker));
  await Promise.all(writing);
  return results;
}

async function ensureReachable(
  host: string, retries: number, backoffSeconds: number, signal: AbortSignal,
  onRetry: (e: { host: string; error: string; attempt: number; retries: number; delayMs: number }) => void,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const r = await pingOllama(host);
    if (r.ok) return;
    if (signal.aborted) return;
    if (attempt >= retries) throw new OllamaUnreachableError(`cannot reach Ollama at ${host}`, { hint: unreachableHint });
    const delayMs = backoffSeconds * 1000 * 2 ** attempt;
    onRetry({ host, error: r.error, attempt: attempt + 1, retries, delayMs });
    await sleep(delayMs, signal);
  }
}

/** A spec's plan: its result, or the answer ready to be written (`write` resolves to the result once on disk). */
async function planOne(config: ResolvedConfig, job: Job, target: OllamaTarget, opts: PrePlanOptions, emit: (e: PrePlanEvent) => void): Promise<PlanResult | { write: () => Promise<PlanResult> }> {
  const started = Date.now();
  const res = (status: PlanResultStatus, extra: Partial<PlanResult> = {}): PlanResult => ({
    id: job.spec.id, name: job.spec.name, status, requests, ms: Date.now() - started, ...extra,
  });
  let requests = 0;
  const ask = async (messages: ChatMessage[]): Promise<string> => {
    const p = config.planner;
    for (let attempt = 0; ; attempt++) {
      requests++;
      try {
        return await chatOnce(target, messages, opts.signal);
      } catch (err) {
        const e = err as PlannerError;
        if (!(e instanceof PlannerError) || !e.retryable || attempt >= p.retries || opts.signal.aborted) throw err;
        const delayMs = p.backoffSeconds * 1000 * 2 ** attempt;
        emit({ type: 'retry', id: job.spec.id, attempt: attempt + 1, reason: e.message, delayMs });
        await sleep(delayMs, opts.signal);
      }
    }
  };
  try {
    const messages = buildPrompt(config, job.spec, job.text, job.files, job.folders);
    let answer = await ask(messages);
    let missing = missingSections(cleanAnswer(answer));
    if (missing.length) {
      answer = await ask([...messages, { role: 'assistant', content: answer }, correctiveMessage(missing)]);
      missing = missingSections(cleanAnswer(answer));
      if (missing.length) {
        return res('failed', { reason: `the model's answer lacks ${missing.map((m) => `"${m}"`).join(', ')} even after a corrective request; no plan.md written` });
      }
    }
    if (opts.signal.aborted) return res('interrupted');
    const text = renderPlan({ model: target.model, created: new Date().toISOString(), specSha256: job.hash }, job.spec, answer);
    return { write: () => writeFileAtomicAsync(job.planFile, text).then(() => res('planned', { file: job.planFile })) };
  } catch (err) {
    if (opts.signal.aborted) return res('interrupted');
    const e = err as PlannerError;
    if (e instanceof PlannerError) {
      const tries = e.retryable && requests > 1 ? ` (after ${requests} attempts)` : '';
      return res('failed', { reason: `${e.message}${tries}${e.hint ? ` — ${e.hint}` : ''}` });
    }
    throw err;
  }
}

