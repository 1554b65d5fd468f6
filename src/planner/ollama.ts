import { DispatchError } from '../errors.js';

/** Why a chat request failed, and whether trying again may help. */
export class PlannerError extends DispatchError {
  constructor(message: string, readonly retryable: boolean, hint?: string) {
    super(message, { hint });
    this.name = 'PlannerError';
  }
}

export interface OllamaTarget {
  host: string;
  model: string;
  options: Record<string, unknown>;
  timeoutSeconds: number;
}

/** OLLAMA_HOST overrides the configured host (the npm client does not read it by itself). */
export function effectiveHost(configured: string): string {
  const env = process.env.OLLAMA_HOST?.trim();
  const host = env || configured;
  if (host.startsWith(':')) return `http://127.0.0.1${host}`;
  return host.includes('://') ? host.replace(/\/+$/, '') : `http://${host}`;
}

export const unreachableHint = "is 'ollama serve' running? (or set planner.host / OLLAMA_HOST)";

class MalformedStream extends Error {}

/**
 * A fetch for the ollama client that (1) honours our abort signal from the
 * first byte, (2) turns a malformed NDJSON line into an error instead of the
 * client's silent skip, and (3) gives non-JSON error bodies a JSON shape so
 * the client never logs to our stdout.
 */
function guardedFetch(signal: AbortSignal): typeof fetch {
  return async (input, init) => {
    const signals = [signal, init?.signal].filter((s): s is AbortSignal => !!s);
    const res = await fetch(input, { ...init, signal: AbortSignal.any(signals) });
    const type = res.headers.get('content-type') ?? '';
    if (!res.ok) {
      if (type.includes('application/json')) return res;
      const text = (await res.text()).trim().slice(0, 200) || res.statusText;
      return new Response(JSON.stringify({ error: text }), { status: res.status, statusText: res.statusText, headers: { 'content-type': 'application/json' } });
    }
    if (!res.body) return res;
    let buffer = '';
    const decoder = new TextDecoder();
    const check = (line: string) => {
      if (!line.trim()) return;
      try {
        JSON.parse(line);
      } catch {
        throw new MalformedStream(`malformed line in Ollama's reply: ${line.slice(0, 80)}`);
      }
    };
    const body = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          buffer += decoder.decode(chunk, { stream: true });
          const lines = buffer.split('\n');
          buffer = lines.pop() ?? '';
          lines.forEach(check);
          controller.enqueue(chunk);
        },
        flush() {
          check(buffer + decoder.decode());
        },
      }),
    );
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

function headers(): Record<string, string> | undefined {
  const key = process.env.OLLAMA_API_KEY;
  return key ? { Authorization: `Bearer ${key}` } : undefined;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/**
 * One streamed chat request through the real `ollama` client. Resolves to
 * the whole answer; throws PlannerError saying what went wrong and whether a
 * retry may help. `signal` aborts it (Ctrl-C); the timeout is per request.
 */
export async function chatOnce(target: OllamaTarget, messages: ChatMessage[], signal: AbortSignal): Promise<string> {
  const { Ollama } = await import('ollama');
  const timeout = AbortSignal.timeout(target.timeoutSeconds * 1000);
  const both = AbortSignal.any([signal, timeout]);
  const client = new Ollama({ host: target.host, fetch: guardedFetch(both), headers: headers() });
  let started = false;
  let text = '';
  try {
    const stream = await client.chat({ model: target.model, messages, stream: true, options: target.options });
    for await (const part of stream) {
      started = true;
      text += part.message?.content ?? '';
    }
    return text;
  } catch (err) {
    if (signal.aborted) throw new PlannerError('interrupted', false);
    if (timeout.aborted) throw new PlannerError(`no complete answer from ${target.host} within ${target.timeoutSeconds}s`, true, 'raise planner.timeoutSeconds, or check the model is loaded');
    throw classify(err, target, started);
  }
}

function classify(err: unknown, target: OllamaTarget, started: boolean): PlannerError {
  const e = err as Error & { status_code?: number; cause?: { code?: string } };
  const cause = (e as { cause?: unknown } | undefined)?.cause;
  if (e instanceof MalformedStream || cause instanceof MalformedStream) {
    return new PlannerError(e instanceof MalformedStream ? e.message : (cause as MalformedStream).message, false);
  }
  if (e?.name === 'ResponseError' && typeof e.status_code === 'number') {
    const s = e.status_code;
    if (s === 404) return new PlannerError(`model '${target.model}' not found on ${target.host} (${e.message})`, false, `run 'ollama pull ${target.model}', or set planner.model / --model`);
    if (s === 401 || s === 403) return new PlannerError(`Ollama at ${target.host} refused model '${target.model}': ${e.message}`, false, "run 'ollama signin' (cloud models), or set OLLAMA_API_KEY");
    if (s === 429 || s >= 500) return new PlannerError(`Ollama answered ${s}: ${e.message}`, true);
    return new PlannerError(`Ollama answered ${s}: ${e.message}`, false);
  }
  const code = e?.cause?.code ?? (e as { code?: string } | undefined)?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ECONNRESET' && !started || /fetch failed/.test(e?.message ?? '') && !started) {
    return new PlannerError(`cannot reach Ollama at ${target.host}`, true, unreachableHint);
  }
  if (/Did not receive done/.test(e?.message ?? '') || code === 'ECONNRESET' || /terminated|other side closed/i.test(e?.message ?? '')) {
    return new PlannerError('the answer stream from Ollama broke off before it was complete', false);
  }
  // An NDJSON `{"error": ...}` line after output started arrives as a plain Error.
  return new PlannerError(started ? `Ollama reported an error mid-answer: ${e?.message}` : `Ollama request failed: ${e?.message}`, !started);
}

/** GET /api/version: is anything answering at the host? */
export async function pingOllama(host: string, timeoutMs = 3000): Promise<{ ok: true; version: string } | { ok: false; error: string }> {
  const { Ollama } = await import('ollama');
  const client = new Ollama({ host, fetch: guardedFetch(AbortSignal.timeout(timeoutMs)), headers: headers() });
  try {
    const v = await client.version();
    return { ok: true, version: v.version };
  } catch (err) {
    // fetch says only "fetch failed"; the reason is in its cause.
    const cause = (err as { cause?: { code?: string } }).cause;
    const error = cause?.code === 'ECONNREFUSED' ? 'connection refused' : cause?.code === 'ENOTFOUND' ? 'no such host' : (err as Error).name === 'TimeoutError' || cause?.code === 'UND_ERR_CONNECT_TIMEOUT' ? `no answer within ${timeoutMs / 1000} s` : cause?.code ?? (err as Error).message;
    return { ok: false, error };
  }
}

/** The model names the server lists (GET /api/tags). */
export async function listModels(host: string, timeoutMs = 3000): Promise<string[]> {
  const { Ollama } = await import('ollama');
  const client = new Ollama({ host, fetch: guardedFetch(AbortSignal.timeout(timeoutMs)), headers: headers() });
  const r = await client.list();
  return r.models.map((m) => m.name);
}
