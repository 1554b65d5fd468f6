#!/usr/bin/env node
// Thin entry: the process around one command (src/program.ts): signals, a closed pipe and the
// only exit point. Verbs are loaded lazily so `--help`, `status` and `mark-done` stay fast.
import { EXIT } from './errors.js';
import { runCli } from './program.js';

// A spec's runner (in a pane, or on an SSH host) must outlive its pane to record the verdict.
const isRunner = process.argv.includes('exec-spec') || process.argv.includes('remote-run');
// Ctrl-C aborts the running verb, which then cleans up and returns; a second
// Ctrl-C (or a verb that does not return within 5 s) exits at once.
const interrupt = new AbortController();
const onSignal = (sig: NodeJS.Signals) => {
  if (interrupt.signal.aborted) process.exit(EXIT.interrupted);
  interrupt.abort(sig);
  // The pane runner needs time to stop its agent (3 s to SIGKILL) and record why.
  setTimeout(() => process.exit(EXIT.interrupted), isRunner ? 15_000 : 5000).unref();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// A closed pane hangs up on its runner, which must still record the verdict.
process.on('SIGHUP', onSignal);

// `dispatch list | head` closes the pipe early: stop quietly, as other CLIs do.
// Not the runner: a vanished pane must not stop it before it records the verdict.
if (!isRunner) {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

runCli(process.argv.slice(2), { signal: interrupt.signal }).then((code) => {
  process.exitCode = code;
});
