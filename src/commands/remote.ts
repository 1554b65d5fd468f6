// Internal: what the dispatcher asks an SSH host to do (`dispatch remote <verb>`).
// Not for people; every answer is JSON on stdout (a log or bundle: raw bytes).
import type { Ctx } from '../context.js';
import { EXIT, UsageError } from '../errors.js';

interface RemoteArgs {
  _: [string, string[]];
  base?: string;
  dir?: string;
  from?: string;
  reason?: string;
  kind?: string;
  kill?: boolean;
  discard?: boolean;
  worktree?: boolean;
  collect?: boolean;
}

async function stdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const need = (v: string | undefined, flag: string): string => {
  if (!v) throw new UsageError(`remote: ${flag} is required`);
  return v;
};

export async function run(args: RemoteArgs, ctx: Ctx): Promise<number> {
  const host = await import('../remote/host.js');
  const [verb, rest] = args._;
  // A protocol, not text for a terminal: written as it is (JSON.stringify has escaped every control a line could hold).
  const out = (v: unknown) => ctx.outRaw(`${JSON.stringify(v)}\n`);
  const raw = (b: Buffer) => ctx.outRaw(b);
  switch (verb) {
    case 'receive':
      out(await host.receive(need(args.dir, '--dir'), await stdin()));
      return EXIT.ok;
    case 'start': {
      const r = await host.start(need(args.base, '--base'), need(args.dir, '--dir'), JSON.parse((await stdin()).toString('utf8')));
      out(r);
      // 3: the host lacks the commit to start from (it named what it has).
      return 'need' in r ? 3 : EXIT.ok;
    }
    case 'poll':
      // Cleanups the dispatcher asks for ride along with its next check.
      if (rest.length) await host.cleanAll(need(args.base, '--base'), need(args.dir, '--dir'), rest);
      // A check carries finished runs' bytes up to 4 MB; `collect <label>` fetches one run's, whatever its size.
      if (args.collect) await host.pollCollect(need(args.base, '--base'), raw, { limit: 4 * 1024 * 1024 });
      else out(host.poll(need(args.base, '--base')));
      return EXIT.ok;
    case 'stop':
      out(await host.stop(need(args.base, '--base'), rest[0] ?? '', { ...(args.reason ? { reason: args.reason } : {}), ...(args.kind ? { kind: args.kind } : {}), kill: !!args.kill, discard: !!args.discard }));
      return EXIT.ok;
    case 'collect':
      await host.pollCollect(need(args.base, '--base'), raw, { only: rest[0] ?? '' });
      return EXIT.ok;
    case 'log':
      await host.log(need(args.base, '--base'), rest[0] ?? '', Number(args.from ?? 0) || 0, raw);
      return EXIT.ok;
    case 'bundle':
      // 3: the branch has nothing beyond the base.
      return (await host.bundle(need(args.base, '--base'), rest[0] ?? '', raw)) ? EXIT.ok : 3;
    case 'clean':
      out(await host.clean(need(args.base, '--base'), need(args.dir, '--dir'), rest[0] ?? '', { worktree: !!args.worktree }));
      return EXIT.ok;
    case 'check':
      out(await host.check(need(args.dir, '--dir'), rest));
      return EXIT.ok;
    default:
      throw new UsageError(`remote: unknown verb ${JSON.stringify(verb)}`);
  }
}
