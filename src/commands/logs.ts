import { StringDecoder } from 'node:string_decoder';
import { createReadStream, existsSync, statSync } from 'node:fs';
import type { Ctx } from '../context.js';
import { DispatchError, UsageError, EXIT } from '../errors.js';
import { visible, visibleText } from '../util/visible.js';

/** `dispatch logs <id> [--follow] [--attempt N] [--raw]` */
export async function run(args: { _: [string]; follow?: boolean; attempt?: number; raw?: boolean }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  const { findSpec } = await import('../specs/lookup.js');
  const { logPath, attemptLogPath } = await import('../attempt/paths.js');
  const spec = findSpec(config, args._[0]);
  let file = logPath(config, spec.id);
  if (args.attempt !== undefined) {
    file = attemptLogPath(config, spec.id, args.attempt);
    if (!existsSync(file)) {
      const { readdirSync } = await import('node:fs');
      const { dirname } = await import('node:path');
      const prefix = `${spec.id}.attempt-`;
      let kept: number[] = [];
      try {
        kept = readdirSync(dirname(file)).filter((f) => f.startsWith(prefix) && f.endsWith('.log')).map((f) => Number(f.slice(prefix.length, -4))).sort((a, b) => a - b);
      } catch {
        // no logs folder yet
      }
      throw new UsageError(`spec ${spec.id} has no attempt ${args.attempt}`, kept.length ? `its attempts are ${kept.join(', ')}` : 'it has not been launched yet');
    }
  }
  if (!existsSync(file) && !args.follow && !(await runsElsewhere(config, spec.id))) throw new DispatchError(`no log for spec ${spec.id} yet (${file})`, { hint: 'it is written once the spec has been launched' });
  // A short header on stderr (stdout stays the log itself): which launch, its verdict and the evidence behind it.
  if (!args.follow) {
    const { readState } = await import('../state/store.js');
    const { own } = await import('../state/doc.js');
    const history = own(readState(config.stateDir).dispatch?.specs, spec.id)?.history ?? [];
    const h = args.attempt !== undefined ? history.find((x) => x.n === args.attempt) : history.at(-1);
    if (h?.endedAt) {
      const { evidenceLine } = await import('../attempt/evidence-line.js');
      ctx.err(`── ${spec.id} attempt ${h.n}: ${visible(h.state ?? 'ended')}${h.kind && h.kind !== h.state ? ` (${visible(h.kind)})` : ''} · ${visible(evidenceLine(h, config.verifyTimeoutSeconds))}\n`);
    }
  }
  let pos = 0;
  const decoder = new StringDecoder('utf8');
  // An agent's output is anyone's bytes: its escapes are shown, not obeyed, unless --raw asks for them.
  const show = (bytes: Buffer) => (args.raw ? ctx.outRaw(bytes) : ctx.out(visibleText(decoder.write(bytes))));
  if (args.attempt === undefined) {
    // An SSH run's log is on its host until its verdict is collected: read there.
    const { readState } = await import('../state/store.js');
    const { own, isRemote } = await import('../state/doc.js');
    // A run decided by hand that goes on (outlived) is read there too.
    const at = (d: import('../state/doc.js').StateDoc) => own(d.dispatch?.running, spec.id) ?? own(d.dispatch?.outlived, spec.id);
    const r = at(readState(config.stateDir));
    if (isRemote(r) && r.attempt !== undefined) {
      const { executorForEntry, collectRecorded } = await import('../executors/recorded.js');
      const ex = await executorForEntry(config, r);
      const current = () => {
        const now = at(readState(config.stateDir));
        return now?.host === r.host && now.attempt === r.attempt;
      };
      while (!ctx.signal.aborted) {
        const got = await ex.readLog(spec.id, r, pos);
        if (got) {
          show(got.chunk);
          pos = got.size;
        }
        if (!args.follow) return EXIT.ok;
        await new Promise((res) => setTimeout(res, 500));
        await collectRecorded(config, 'logs').catch(() => []);
        if (!current()) break;
      }
      if (ctx.signal.aborted) return EXIT.interrupted;
      // Collected: the rest is in the attempt's log, now kept here.
      file = attemptLogPath(config, spec.id, r.attempt);
      if (!existsSync(file)) return EXIT.ok;
      await (async () => {
        const { readFileFrom } = await import('../executors/local.js');
        const rest = await readFileFrom(file, pos);
        if (rest) show(rest.chunk);
      })();
      return EXIT.ok;
    }
  }
  const copy = async () => {
    if (!existsSync(file)) return;
    const size = statSync(file).size;
    if (size < pos) pos = 0; // a new attempt started the log again
    if (size === pos) return;
    await new Promise<void>((res, rej) => {
      const s = createReadStream(file, { start: pos, end: size - 1 });
      // Decoded across chunks: a character split between two reads is printed whole.
      s.on('data', (d) => show(d as Buffer));
      s.on('end', res);
      s.on('error', rej);
    });
    pos = size;
  };
  await copy();
  if (!args.follow) return EXIT.ok;
  const { readState } = await import('../state/store.js');
  const { stateOf } = await import('../state/doc.js');
  // Follow until the spec stops running (or Ctrl-C).
  let seenRunning = false;
  while (!ctx.signal.aborted) {
    await new Promise((r) => setTimeout(r, 200));
    await copy();
    const running = stateOf(readState(config.stateDir), spec.id) === 'running';
    if (running) seenRunning = true;
    else if (seenRunning || existsSync(file)) {
      // The runner records the verdict, then writes its last line: read until the log stays still.
      for (let quiet = 0, waited = 0; quiet < 2 && waited < 3000; waited += 150) {
        await new Promise((r) => setTimeout(r, 150));
        const before = pos;
        await copy();
        quiet = pos === before ? quiet + 1 : 0;
      }
      return EXIT.ok;
    }
  }
  return EXIT.interrupted;
}

/** Whether the spec's run is on another machine (its log is there until its verdict comes home). */
async function runsElsewhere(config: import('../config/types.js').ResolvedConfig, id: string): Promise<boolean> {
  const { readState } = await import('../state/store.js');
  const { own, isRemote } = await import('../state/doc.js');
  const d = readState(config.stateDir).dispatch;
  return isRemote(own(d?.running, id) ?? own(d?.outlived, id));
}
