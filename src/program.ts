// The command table and one invocation of it: `runCli(argv, io)` parses, runs one verb and
// returns its exit code. The process entry (cli.ts) owns signals and the exit; tests call
// runCli in-process where no real process is under test (arguments, messages, the state).
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { createCtx, type Ctx, type Io } from './context.js';
import { EXIT, renderError, withDiagnostics } from './errors.js';
import { visible } from './util/visible.js';

// Each verb types its own arguments; commander's parsed options are handed over as they come.
type Verb = (args: never, ctx: Ctx) => Promise<number | void>;
type Loader = () => Promise<{ run: Verb }>;

export interface CliIo extends Partial<Io> {
  /** The folder the command is about (default: the process's). */
  cwd?: string;
  /** Aborted on Ctrl-C / SIGTERM: the running verb stops its work and returns. */
  signal?: AbortSignal;
  /** The dispatch script runners start, when this process is not dispatch itself (an in-process test). */
  self?: string;
}

function int(name: string, min = 0) {
  return (v: string) => {
    if (!/^\d+$/.test(v) || Number(v) < min) throw new InvalidArgumentError(`${name} must be a whole number${min ? ` ≥ ${min}` : ''}, got '${v}'`);
    return Number(v);
  };
}

function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}

/** The whole command table; `run` is what every verb's action calls. */
function buildProgram(run: (load: Loader, params: unknown[]) => Promise<void>): Command {
  const program = new Command('dispatch');
  const action = (load: Loader) => (...params: unknown[]) => run(load, params);

  program
    .description('Run coding agents (Codex CLI, Auto-Claude) over a project\'s specs, wave by wave.')
    .option('--config <path>', 'use this specs.config.ts instead of searching upwards')
    .option('--json', 'print results as JSON on stdout (list, plan, status, lock, run, stop, doctor, simulate, report)')
    .option('--no-color', 'no colours (also: NO_COLOR=1, or when not a terminal)')
    .version(process.env.DISPATCH_VERSION ?? '0.1.0', '-V, --version')
    .showSuggestionAfterError(true)
    .addHelpText('after', examples('dispatch plan', 'dispatch status', 'dispatch run --wave 1 --yes', 'dispatch mark-done 011'));

  const waveOpt = () => new Option('--wave <n>', 'only this wave').argParser(int('--wave'));

  program
    .command('list')
    .description('table of all specs: id, name, wave, cost, agent, mode, state, plan')
    .addOption(waveOpt())
    .addHelpText('after', examples('dispatch list', 'dispatch list --wave 2', 'dispatch --json list | jq ".specs[].id"'))
    .action(action(() => import('./commands/list.js')));

  program
    .command('plan')
    .description('the waves in order, each with its specs, agent and plan status; --graph prints the dependency graph')
    .addOption(waveOpt())
    .addOption(new Option('--graph <format>', "the dependency graph as text: 'mermaid' (for a README) or 'dot' (for Graphviz: dot -Tsvg)").choices(['mermaid', 'dot']))
    .addHelpText('after', examples('dispatch plan', 'dispatch plan --wave 1', 'dispatch plan --graph mermaid', 'dispatch plan --graph dot | dot -Tsvg > graph.svg'))
    .action(action(() => import('./commands/plan.js')));

  program
    .command('status')
    .description('done / failed / running / rate-limited / pending / skipped counts, overall and per wave')
    .option('--usage', 'token usage per spec, wave and run')
    .addHelpText('after', examples('dispatch status', 'dispatch status --usage', 'dispatch --json status'))
    .action(action(() => import('./commands/status.js')));

  program
    .command('review')
    .description("print a spec's spec.md (or its plan.md)")
    .argument('<id>', 'spec id, e.g. 011')
    .option('--plan', 'print plan.md instead of spec.md')
    .addHelpText('after', examples('dispatch review 011', 'dispatch review 011 --plan'))
    .action(action(() => import('./commands/review.js')));

  for (const [verb, desc, extra] of [
    ['mark-done', 'mark specs completed (writes the done signal file)', 'dispatch mark-done 011 012'],
    ['mark-failed', 'mark specs failed (writes the failed signal file)', 'dispatch mark-failed 011 --reason "pane died"'],
    ['skip', 'mark specs skipped (they count as complete for wave hand-off)', 'dispatch skip 015'],
  ] as const) {
    const c = program
      .command(verb)
      .description(desc)
      .argument('<ids...>', 'spec ids')
      .option('--reason <text>', 'why (kept in the state and the event journal)')
      .addHelpText('after', examples(extra))
      .action(action(() => import('./commands/mark.js').then((m) => ({ run: (a: Parameters<typeof m.run>[0], ctx: Ctx) => m.run({ ...a, verb }, ctx) }))));
    void c;
  }

  program
    .command('reset')
    .description('put one spec (--spec) or every spec back to pending')
    .option('--spec <id>', 'reset only this spec')
    .option('-y, --yes', 'do not ask for confirmation (needed when not on a terminal)')
    .option('--discard', "with --spec: also throw away the spec's worktree and branch made by dispatch (asks; --yes skips)")
    .addHelpText('after', examples('dispatch reset --spec 011', 'dispatch reset --yes', 'dispatch reset --spec 012 --discard --yes'))
    .action(action(() => import('./commands/reset.js')));

  program
    .command('retry')
    .description('put failed (and rate-limited) specs back to pending, with fresh attempts')
    .addOption(waveOpt())
    .addHelpText('after', examples('dispatch retry', 'dispatch retry --wave 2'))
    .action(action(() => import('./commands/retry.js')));

  program
    .command('stop')
    .description("stop running specs: their runner and agent (any multiplexer, headless too), recorded as interrupted, never retried automatically")
    .argument('<ids...>', 'spec ids')
    .addHelpText('after', examples('dispatch stop 011', 'dispatch stop 011 012'))
    .action(action(() => import('./commands/stop.js')));

  program
    .command('lock')
    .description('show the run lock (pid, host, command, wave, started, alive)')
    .option('--clear', 'remove a stale lock (its process is gone)')
    .option('--force', 'with --clear: remove it even if its process is alive')
    .addHelpText('after', examples('dispatch lock', 'dispatch lock --clear'))
    .action(action(() => import('./commands/lock.js')));

  program
    .command('pre-plan')
    .description('write plan.md for every spec without an up-to-date plan, through an LLM on Ollama')
    .option('--spec <ids...>', 'only these specs')
    .addOption(waveOpt())
    .option('--force', 're-plan even up-to-date plans')
    .addOption(new Option('--concurrency <n>', 'specs planned at once (default: planner.concurrency, 4)').argParser(int('--concurrency', 1)))
    .option('--model <name>', 'Ollama model (default: planner.model)')
    .addHelpText('after', examples('dispatch pre-plan', 'dispatch pre-plan --wave 2 --concurrency 8', 'dispatch pre-plan --spec 011 --force', 'OLLAMA_HOST=10.0.0.5:11434 dispatch pre-plan'))
    .action(action(() => import('./commands/pre-plan.js')));

  const muxOpt = () => new Option('--mux <name>', 'where panes open (default: config multiplexer, auto)').choices(['auto', 'zellij', 'tmux', 'headless']);
  const runOptions = (c: Command) =>
    c
      .option('-y, --yes', 'launch without asking (needed when not on a terminal)')
      .option('--dry-run', 'print every command and the pacing schedule; launch nothing, change nothing')
      .option('--no-wait', 'return after the last launch instead of waiting for the wave to finish')
      .option('--no-plan', 'do not pre-plan specs that have no up-to-date plan')
      .option('--require-plan', 'stop if a plan cannot be made (default: warn and launch without it)')
      .addOption(muxOpt())
      .addOption(new Option('--schedule <mode>', "'waves': each wave after the earlier ones are complete; 'eager': each spec as soon as its dependencies are (default: config schedule)").choices(['waves', 'eager']))
      .option('--create-session', 'create the zellij session (detached) when it is not running')
      .addOption(new Option('--budget <tokens>', 'token budget for this run (overrides budget.tokensPerRun once)').argParser(int('--budget', 1)));

  runOptions(
    program
      .command('run')
      .description('launch the pending specs of a wave (or of every wave, in order) as agents in named panes, paced by cost')
      .addOption(waveOpt())
      .option('--spec <ids...>', 'launch just these specs'),
  )
    .addHelpText('after', examples('dispatch run --wave 1 --yes', 'dispatch run --yes', 'dispatch run --wave 2 --dry-run', 'dispatch run --spec 011 --yes --mux tmux', 'dispatch run --wave 3 --yes --no-wait', 'dispatch run --schedule eager --dry-run'))
    .action(action(() => import('./commands/run.js')));

  runOptions(
    program
      .command('watch-handoff')
      .description('wait until one wave is complete, then run the next (the two-pane pattern)')
      .requiredOption('--from-wave <n>', 'the wave to wait for', int('--from-wave'))
      .requiredOption('--to-wave <n>', 'the wave to start then', int('--to-wave'))
      .option('--stop-on-failure', 'exit 1 when a spec of the first wave fails, instead of waiting for a retry'),
  )
    .addHelpText('after', examples('dispatch watch-handoff --from-wave 1 --to-wave 2 --yes'))
    .action(action(() => import('./commands/watch-handoff.js')));

  program
    .command('simulate')
    .description('replay the table on a simulated clock: when each spec would start and end, the makespan, the critical path and the lower bound; launches nothing')
    .addOption(new Option('--schedule <mode>', 'waves or eager (default: config schedule)').choices(['waves', 'eager']))
    .addOption(new Option('--durations <source>', "'history': the median of each spec's done attempts, else its estimate by cost; 'cost': estimateMinutes by cost only").choices(['history', 'cost']).default('history'))
    .option('--all', 'the whole table from scratch (default: what is not complete yet)')
    .addHelpText('after', examples('dispatch simulate', 'dispatch simulate --schedule eager', 'dispatch simulate --durations cost --all', 'dispatch --json simulate --schedule waves'))
    .action(action(() => import('./commands/simulate.js')));

  program
    .command('report')
    .description('write one self-contained HTML page of a run: a timeline of every attempt, the dependency graph, figures (throughput, cost, retries, rate-limit waits, verify), failures')
    .option('--run <id>', 'this run (default: the latest)')
    .option('--all', 'every launch of every run')
    .option('--out <file>', 'where to write it (default: .codex/report.html)')
    .option('--open', 'open it in the browser afterwards')
    .addHelpText('after', examples('dispatch report', 'dispatch report --all --out night.html', 'dispatch report --open', 'dispatch --json report | jq .figures'))
    .action(action(() => import('./commands/report.js')));

  program
    .command('merge')
    .description("merge an isolated spec's branch into the current branch (--no-ff), then remove its worktree and branch")
    .argument('<id>', 'spec id')
    .option('--verify', "run the spec's verify commands on the merged tree before committing; a failure aborts the merge")
    .addHelpText('after', examples('dispatch merge 012', 'dispatch merge 012 --verify'))
    .action(action(() => import('./commands/merge.js')));

  program
    .command('verify')
    .description("run specs' verify commands now, in their working folder; exit 1 if one fails")
    .argument('<ids...>', 'spec ids')
    .option('--mark', 'record each spec done, or failed (verify-failed), by the result')
    .addHelpText('after', examples('dispatch verify 011', 'dispatch verify 011 012 --mark'))
    .action(action(() => import('./commands/verify.js')));

  program
    .command('logs')
    .description("print a spec's agent output (.codex/logs/<id>.log)")
    .argument('<id>', 'spec id')
    .option('-f, --follow', 'keep printing while the spec runs')
    .option('--raw', "the log's bytes as they are, terminal escapes included (by default they are shown as \\x1b...)")
    .addOption(new Option('--attempt <n>', 'the log of that launch (1, 2, ...; see status --json)').argParser(int('--attempt', 1)))
    .addHelpText('after', examples('dispatch logs 011', 'dispatch logs 011 --follow', 'dispatch logs 011 --attempt 1', 'dispatch logs 011 --raw | less -R'))
    .action(action(() => import('./commands/logs.js')));

  program
    .command('attach')
    .description("open a running spec's pane: its tmux window or zellij session here, or its tmux session on its SSH host")
    .argument('<id>', 'spec id')
    .option('--print', 'print the command instead of running it')
    .addHelpText('after', examples('dispatch attach 011', 'dispatch attach 011 --print'))
    .action(action(() => import('./commands/attach.js')));

  program
    .command('doctor')
    .description('check node, the multiplexer and session, the agents, and Ollama; one line each with the fix')
    .addOption(muxOpt())
    .addHelpText('after', examples('dispatch doctor', 'dispatch doctor --mux tmux'))
    .action(action(() => import('./commands/doctor.js')));

  // What runs inside each pane; not for people.
  program
    .command('exec-spec', { hidden: true })
    .argument('<id>')
    .action(action(() => import('./commands/exec-spec.js')));

  // What the dispatcher asks an SSH host to do, and the runner of an SSH run; not for people.
  program
    .command('remote', { hidden: true })
    .argument('<verb>')
    .argument('[args...]')
    .option('--base <dir>')
    .option('--dir <dir>')
    .option('--from <bytes>')
    .option('--reason <text>')
    .option('--kind <kind>')
    .option('--kill')
    .option('--discard')
    .option('--worktree')
    .option('--collect')
    .action(action(() => import('./commands/remote.js')));

  program
    .command('remote-run', { hidden: true })
    .argument('<run>')
    .action(action(() => import('./commands/remote-run.js')));

  program
    .command('init')
    .description('bootstrap a project: write specs.config.ts and the state file')
    .option('--project <name>', 'project name (default: the folder name)')
    .option('--session <name>', 'multiplexer session (default: the project name)')
    .option('--specs-dir <path>', 'spec folders', '.auto-claude/specs')
    .option('--completed <ids>', 'comma-separated ids already done, e.g. 001,002')
    .addHelpText('after', examples('dispatch init', 'dispatch init --project triz --session wise-xylophone --completed 001,002'))
    .action(action(() => import('./commands/init.js')));

  return program;
}

/** Runs one command line (without `node` and the script) and returns its exit code; never throws. */
export async function runCli(argv: string[], io: CliIo = {}): Promise<number> {
  const signal = io.signal ?? new AbortController().signal;
  // Loaded only then: every command's start-up would pay for the launch planner otherwise.
  if (io.self) (await import('./run/launch-plan.js')).useOwnScript(io.self);
  const write: Io = {
    out: io.out ?? ((s) => void process.stdout.write(s)),
    err: io.err ?? ((s) => void process.stderr.write(s)),
  };
  let exitCode: number = EXIT.ok;
  const program = buildProgram(async (load, params) => {
    const cmd = params.at(-1) as Command;
    const positional = params.slice(0, -2);
    const ctx = createCtx({ ...program.opts(), cwd: io.cwd }, signal, write);
    const { run } = await load();
    const code = await run({ ...(cmd.opts() as object), _: positional } as never, ctx);
    exitCode = typeof code === 'number' ? code : EXIT.ok;
  });
  program.exitOverride();
  // commander's error lines are replaced by ours below; help it shows on stderr (bare `dispatch`) stays.
  const output = { writeOut: (s: string) => write.out(s), writeErr: (s: string) => write.err(s), outputError: () => {} };
  program.configureOutput(output);
  for (const c of program.commands) c.exitOverride().configureOutput(output);
  return withDiagnostics(write.err, async () => {
    try {
      await program.parseAsync(argv, { from: 'user' });
      return signal.aborted ? EXIT.interrupted : exitCode;
    } catch (err) {
      if (err instanceof CommanderError) {
        if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
        // `dispatch` alone: the help went to stderr; no command is a usage error.
        if (err.code === 'commander.help') return EXIT.usage;
        // commander puts its suggestion on a second line: keep the error to one.
        const msg = err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
        const sub = argv.find((a) => program.commands.some((c) => c.name() === a));
        write.err(`dispatch: ${visible(msg)} — see 'dispatch ${sub ? `${sub} ` : ''}--help'\n`);
        return EXIT.usage;
      }
      if (signal.aborted) return EXIT.interrupted;
      return renderError(err, write.err);
    }
  });
}
