#!/usr/bin/env node
// `npm run bench`: dispatch's speed as ratios measured side by side in one
// run, against `node -e 0` (the floor for any Node CLI) or the ideal time.
import { spawn, spawnSync } from 'node:child_process';
import { sshdPath, startSshd } from './sshd.mjs';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeOllama } from '../test/fixtures/fake-ollama.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// BENCH_BIN=path/to/cli.js measures another build (an A/B comparison of two commits).
const BIN = process.env.BENCH_BIN ? resolve(process.env.BENCH_BIN) : join(root, 'dist', 'cli.js');
const NODE = process.execPath;
// A `codex` on PATH that is never started (the preflight only looks it up): the benchmark needs no real Codex.
const fakeBin = mkdtempSync(join(tmpdir(), 'dispatch-bench-bin-'));
writeFileSync(join(fakeBin, 'codex'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
const env = { ...process.env, NO_COLOR: '1', PATH: `${fakeBin}:${process.env.PATH}` };
delete env.OLLAMA_HOST;
const dirs = [fakeBin];
// BENCH_ONLY=6 runs just that section (by its number).
const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map(Number)) : undefined;
const section = (n) => !only || only.has(n);

function run(argv, cwd, withEnv = env) {
  return new Promise((res) => {
    const t = performance.now();
    const c = spawn(argv[0], argv.slice(1), { cwd, env: withEnv, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => res({ ms: performance.now() - t, code, err }));
  });
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const f = (ms) => `${ms.toFixed(0)} ms`;
const ratio = (a, b) => `${(a / b).toFixed(2)}×`;

function project(n, extra = {}, { specFiles = true } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'dispatch-bench-'));
  dirs.push(dir);
  const specs = Array.from({ length: n }, (_, i) => ({ id: String(i + 1).padStart(4, '0'), name: `spec-${i + 1}`, wave: Math.floor(i / 100), cost: (i % 4) + 1, agent: 'codex' }));
  writeFileSync(join(dir, 'specs.config.ts'), `import { defineConfig } from 'dispatch';\nexport default defineConfig(${JSON.stringify({ project: 'bench', signalDir: join(dir, 'signals'), ...extra, specs: specs.map((s) => ({ ...s, ...(extra.specDefaults ?? {}) })) }, null, 1).replace(/"specDefaults":\s*\{[^}]*\},?/, '')});\n`);
  if (specFiles) {
    for (const s of specs) {
      mkdirSync(join(dir, '.auto-claude', 'specs', `${s.id}-${s.name}`), { recursive: true });
      writeFileSync(join(dir, '.auto-claude', 'specs', `${s.id}-${s.name}`, 'spec.md'), `# ${s.name}\n\nBuild ${s.name}.\n`);
    }
  }
  return { dir, specs };
}

async function alternate(label, a, b, rounds) {
  const ta = [];
  const tb = [];
  for (let i = 0; i < rounds; i++) {
    ta.push(await a());
    tb.push(await b());
  }
  return { a: median(ta), b: median(tb) };
}

async function main() {
  const lines = [];
  const out = (s) => {
    lines.push(s);
    process.stdout.write(`${s}\n`);
  };
  out(`dispatch bench — node ${process.version}, ${new Date().toISOString()}`);

  // 1. status on a 1,000-spec table.
  if (section(1)) {
    const { dir } = project(1000, {}, { specFiles: false });
    await run([NODE, BIN, 'status'], dir); // first run compiles and caches the config
    // Side by side in one loop: node -e 0, status with its code cache (made by the first run above),
    // status without it (DISPATCH_CODE_CACHE=0), and --version.
    const noCache = { ...env, DISPATCH_CODE_CACHE: '0' };
    const t = { node: [], status: [], cold: [], version: [] };
    for (let i = 0; i < 21; i++) {
      t.node.push((await run([NODE, '-e', '0'], dir)).ms);
      t.status.push((await run([NODE, BIN, 'status'], dir)).ms);
      t.cold.push((await run([NODE, BIN, 'status'], dir, noCache)).ms);
      t.version.push((await run([NODE, BIN, '--version'], dir)).ms);
    }
    const [n, st, cold, ver] = [t.node, t.status, t.cold, t.version].map(median);
    out(`status, 1,000 specs:        ${f(st)} vs node -e 0 ${f(n)}  → ${ratio(st, n)}  (aim ≤ 1.2×); without the code cache ${f(cold)} → ${ratio(cold, n)}; --version ${f(ver)} → ${ratio(ver, n)}`);
  }

  // 2. 100 concurrent mark-done (distinct ids) vs 100 concurrent node -e 0.
  if (section(2)) {
    const { dir, specs } = project(100, {}, { specFiles: false });
    await run([NODE, BIN, 'status'], dir);
    const ids = specs.map((s) => s.id);
    const burst = async (argvOf) => {
      const t = performance.now();
      const rs = await Promise.all(ids.map((id) => run(argvOf(id), dir)));
      return { ms: performance.now() - t, failed: rs.filter((x) => x.code !== 0).length };
    };
    const tm = [];
    const tn = [];
    let recorded = 0;
    let failures = 0;
    for (let i = 0; i < 3; i++) {
      rmSync(join(dir, '.codex', 'dispatch-state.json'), { force: true });
      const m = await burst((id) => [NODE, BIN, 'mark-done', id]);
      failures += m.failed;
      tm.push(m.ms);
      recorded = JSON.parse(readFileSync(join(dir, '.codex', 'dispatch-state.json'), 'utf8')).completed.length;
      tn.push((await burst(() => [NODE, '-e', '0'])).ms);
    }
    out(`100 concurrent mark-done:   ${f(median(tm))} vs 100 node -e 0 ${f(median(tn))}  → ${ratio(median(tm), median(tn))}  (aim ≤ 1.3×); ${recorded}/100 recorded, ${failures} failed processes`);
  }

  // 3. pre-plan 100 specs against a local Ollama-protocol server answering after 200 ms, concurrency 8.
  if (section(3)) {
    const server = await startFakeOllama({ behave: () => ({ delayMs: 200 }) });
    const { dir } = project(100, { planner: { host: server.host } });
    await run([NODE, BIN, 'status'], dir); // compile and cache the config first, as for every other figure
    const r = await run([NODE, BIN, 'pre-plan', '--concurrency', '8'], dir);
    await server.close();
    const bares = [];
    for (let i = 0; i < 5; i++) bares.push((await run([NODE, '-e', '0'], dir)).ms);
    const bare = median(bares);
    const ideal = (100 / 8) * 200;
    // What no pre-plan can go under: 13 rounds of answers (100 specs, 8 at once) and Node's own start.
    const floor = 13 * 200 + bare;
    out(`pre-plan 100 @200 ms, c=8:  ${f(r.ms)} vs ideal ${f(ideal)}  → ${ratio(r.ms, ideal)}  (aim ≤ 1.05×; 13 rounds and node -e 0 alone are ${ratio(floor, ideal)}, so ${f(r.ms - floor)} of dispatch's own; exit ${r.code}, max in flight ${server.state.maxInFlight})`);
  }

  // 4. run 100 specs headless, an agent that exits at once, zero cooldown.
  if (section(4)) {
    const zero = { 1: 0, 2: 0, 3: 0, 4: 0 };
    const { dir } = project(100, { multiplexer: 'headless', pacing: { cooldownSeconds: zero }, agents: { now: { command: ['true'], prompt: 'none' } }, specDefaults: { agent: 'now', wave: 0 } });
    const r = await run([NODE, BIN, 'run', '--yes', '--no-plan'], dir);
    // What each spec needs at the least: its runner (a node process) and its agent, 100 at once.
    const t = performance.now();
    await Promise.all(Array.from({ length: 100 }, () => run([NODE, '-e', '0'], dir).then(() => run(['true'], dir))));
    const floor = performance.now() - t;
    const done = JSON.parse(readFileSync(join(dir, '.codex', 'dispatch-state.json'), 'utf8')).completed.length;
    out(`run 100 specs headless:     ${f(r.ms)} vs the spawns alone ${f(floor)}  → ${ratio(r.ms, floor)}; overhead ${((r.ms - floor) / 100).toFixed(1)} ms per spec  (aim ≤ 10 ms; exit ${r.code}, ${done}/100 done)`);

    // Where that time goes: the same run and the same spawns again, each Node process noting its CPU time.
    // On 2 cores with 100 processes at once the run is bound by CPU, so what a spec costs beyond its
    // spawns is its runner's CPU beyond a bare node, plus the dispatcher's CPU per launch, shared by the cores.
    const cpuLog = join(dir, 'cpu.log');
    const hooked = { ...env, BENCH_CPU_LOG: cpuLog, NODE_OPTIONS: `${env.NODE_OPTIONS ?? ''} --require ${join(root, 'bench', 'cpu-hook.cjs')}`.trim() };
    const cpuOf = (role) => readFileSync(cpuLog, 'utf8').trim().split('\n').map((l) => l.split(' ')).filter(([r]) => r === role).map(([, ms]) => Number(ms));
    rmSync(join(dir, '.codex'), { recursive: true, force: true });
    await run([NODE, BIN, 'run', '--yes', '--no-plan'], dir, hooked);
    const runners = cpuOf('runner');
    const [dispatcher] = cpuOf('dispatcher');
    rmSync(cpuLog);
    await Promise.all(Array.from({ length: 100 }, () => run([NODE, '-e', '0'], dir, hooked)));
    const nodeBusy = median(cpuOf('node'));
    rmSync(cpuLog);
    for (let i = 0; i < 5; i++) await run([NODE, '-e', '0'], dir, hooked);
    const nodeAlone = median(cpuOf('node'));
    const extra = median(runners) - nodeBusy + dispatcher / 100;
    out(`  where it goes (CPU):      a runner ${f(median(runners))} vs a bare node ${f(nodeBusy)} beside 99 others (${f(nodeAlone)} alone); the dispatcher ${f(dispatcher / 100)} per launch  → ${f(extra)} of CPU per spec, ${f(extra / 2)} over 2 cores`);
  }

  // 5. Pacing accuracy: 12 launches with a 0.5 s cooldown; launch times from the event journal.
  if (section(5)) {
    const cd = 0.5;
    const { dir } = project(12, { multiplexer: 'headless', pacing: { cooldownSeconds: { 1: cd, 2: cd, 3: cd, 4: cd }, batch: { every: 4, pauseSeconds: 1, fromWave: 0 } }, agents: { now: { command: ['true'], prompt: 'none' } }, specDefaults: { agent: 'now', wave: 0 } });
    await run([NODE, BIN, 'run', '--yes', '--no-plan'], dir);
    const events = readFileSync(join(dir, '.codex', 'dispatch-events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const launches = events.filter((e) => e.command === 'run' && e.to === 'running').map((e) => Date.parse(e.time));
    const gaps = launches.slice(1).map((t, i) => t - launches[i]);
    const expected = gaps.map((_, i) => (cd + ((i + 1) % 4 === 0 ? 1 : 0)) * 1000);
    const err = gaps.map((g, i) => Math.abs(g - expected[i]) / expected[i]);
    const total = (launches.at(-1) - launches[0]) / expected.reduce((a, b) => a + b, 0) - 1;
    out(`pacing, 12 launches @0.5 s: mean launch-time error ${(100 * err.reduce((a, b) => a + b, 0) / err.length).toFixed(1)}%, worst ${(100 * Math.max(...err)).toFixed(1)}%, whole schedule ${(100 * total).toFixed(1)}% late  (aim < 5%)`);
  }

  // 6. Scale: every command on a 10,000-spec table, against a bare Node script that lists the
  // 10,000 spec folders once (the work no command can avoid).
  if (section(6)) {
    const { dir } = project(10_000, { multiplexer: 'headless' });
    await run([NODE, BIN, 'status'], dir); // compile and cache the config first
    const floor = () => run([NODE, '-e', `require('fs').readdirSync(${JSON.stringify(join(dir, '.auto-claude', 'specs'))}, { withFileTypes: true })`], dir).then((r) => r.ms);
    for (const args of [['list'], ['plan'], ['status'], ['run', '--dry-run']]) {
      let code = 0;
      const m = await alternate(args.join(' '), () => run([NODE, BIN, ...args], dir).then((r) => ((code = r.code), r.ms)), floor, 5);
      out(`10,000 specs, ${args.join(' ').padEnd(13)} ${f(m.a)} vs listing the folders ${f(m.b)}  → ${ratio(m.a, m.b)}  (aim ≤ 3×; exit ${code})`);
    }
  }

  // 8. SSH: what a launch costs on an SSH host beyond the same launch headless here, with agents that
  // exit at once (a real sshd on loopback, so the network costs nothing: this is dispatch's own overhead).
  if (section(8) && sshdPath && process.getuid?.() === 0) {
    const sshd = await startSshd();
    dirs.push(sshd.root);
    const n = 8;
    const zero = { 1: 0, 2: 0, 3: 0, 4: 0 };
    const host = { host: '127.0.0.1', name: 'h', port: sshd.port, slots: n, dir: join(sshd.root, 'proj'), identityFile: sshd.key, options: [`UserKnownHostsFile=${sshd.knownHosts}`], dispatch: [NODE, BIN] };
    const gitInit = (dir) => {
      writeFileSync(join(dir, '.gitignore'), '.codex/\n');
      const g = (...a) => spawnSync('git', ['-C', dir, ...a], { env: { ...env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@b', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@b' } });
      g('init', '-q');
      g('add', '-A');
      g('commit', '-q', '-m', 'bench');
    };
    const common = { pacing: { cooldownSeconds: zero, batch: { every: 4, pauseSeconds: 0, fromWave: 99 } }, agents: { now: { command: ['true'], prompt: 'none' } }, specDefaults: { agent: 'now', wave: 0 } };
    const ssh = [];
    const local = [];
    for (let round = 0; round < 3; round++) {
      const a = project(n, { ...common, project: `bs${round}`, executor: { kind: 'ssh', hosts: [host], checkSeconds: 0.2 } });
      gitInit(a.dir);
      const ra = await run([NODE, BIN, 'run', '--yes', '--no-plan'], a.dir);
      let doneA = 0;
      try {
        doneA = JSON.parse(readFileSync(join(a.dir, '.codex', 'dispatch-state.json'), 'utf8')).completed.length;
      } catch {
        // the run stopped before its first launch: said below
      }
      if (ra.code !== 0 || doneA !== n) out(`ssh run failed (exit ${ra.code}, ${doneA}/${n} done): ${ra.err.trim().split('\n').at(-1)}`);
      ssh.push(ra.ms);
      const b = project(n, { ...common, multiplexer: 'headless' });
      gitInit(b.dir);
      local.push((await run([NODE, BIN, 'run', '--yes', '--no-plan'], b.dir)).ms);
    }
    const sshArgs = ['-o', 'BatchMode=yes', '-o', 'ControlMaster=auto', '-o', `ControlPath=${join(sshd.root, 'cm-%C')}`, '-o', 'ControlPersist=10', '-p', String(sshd.port), '-i', sshd.key, '-o', `UserKnownHostsFile=${sshd.knownHosts}`, '-T', '--', '127.0.0.1'];
    await run(['ssh', ...sshArgs, 'true'], root);
    const rt = [];
    const poll = [];
    for (let i = 0; i < 7; i++) {
      rt.push((await run(['ssh', ...sshArgs, 'true'], root)).ms);
      poll.push((await run(['ssh', ...sshArgs, `${NODE} ${BIN} remote poll --base /nonexistent`], root)).ms);
    }
    sshd.stop();
    const m = median(ssh);
    const l = median(local);
    out(`ssh: run ${n} instant specs on one host ${f(m)} vs headless here ${f(l)}  → ${ratio(m, l)}; ${((m - l) / n).toFixed(0)} ms more per launch (round trip over the shared connection ${f(median(rt))}, one 'dispatch remote' call there ${f(median(poll))})`);
  }

  // 7. Scheduling: a 60-spec table whose durations vary tenfold, under waves and eager, against the
  // lower bound (simulated from recorded durations: the same scheduler as run, on a simulated clock);
  // then a real eager run against what simulate predicted for it.
  if (section(7)) {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const table = (n, perWave) => Array.from({ length: n }, (_, i) => {
      const wave = Math.floor(i / perWave);
      const prev = Array.from({ length: perWave }, (_, k) => (wave - 1) * perWave + k).filter((k) => k >= 0);
      const deps = wave ? [...new Set([prev[Math.floor(rnd() * prev.length)], prev[Math.floor(rnd() * prev.length)]])] : [];
      return { id: String(i + 1).padStart(3, '0'), name: `s${i + 1}`, cost: 1 + Math.floor(rnd() * 4), dependsOn: deps.map((k) => String(k + 1).padStart(3, '0')) };
    });
    // Log-uniform durations, 3 to 60 minutes: a done attempt each, which simulate takes as the spec's duration.
    const specs60 = table(60, 12);
    const hist = {};
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    for (const s of specs60) {
      const min = 3 * 20 ** rnd();
      hist[s.id] = { history: [{ n: 1, startedAt: new Date(t0).toISOString(), endedAt: new Date(t0 + min * 60_000).toISOString(), state: 'done' }] };
    }
    const sdir = mkdtempSync(join(tmpdir(), 'dispatch-bench-sched-'));
    dirs.push(sdir);
    writeFileSync(join(sdir, 'specs.config.json'), JSON.stringify({ project: 'sched', specsDir: 'specs', pacing: { maxParallel: 8 }, agents: { now: { command: ['true'] } }, specs: specs60.map((s) => ({ ...s, agent: 'now' })) }));
    mkdirSync(join(sdir, '.codex'));
    writeFileSync(join(sdir, '.codex', 'dispatch-state.json'), JSON.stringify({ completed: specs60.map((s) => s.id), failed: [], skipped: [], dispatch: { version: 1, running: {}, specs: hist } }));
    const sim = async (schedule) => {
      const r = await new Promise((res) => {
        const c = spawn(NODE, [BIN, '--json', 'simulate', '--all', '--schedule', schedule], { cwd: sdir, env });
        let o = '';
        c.stdout.on('data', (d) => (o += d));
        c.on('close', () => res(JSON.parse(o)));
      });
      return r;
    };
    const w = await sim('waves');
    const e = await sim('eager');
    const m = (ms) => `${(ms / 60_000).toFixed(0)} min`;
    out(`60 specs (3–60 min, maxParallel 8, default pacing), simulated: waves ${m(w.makespanMs)}, eager ${m(e.makespanMs)}, lower bound ${m(e.lowerBound.ms)} (${e.lowerBound.by})  → eager ${ratio(e.makespanMs, e.lowerBound.ms)} the bound (aim ≤ 1.10×), waves ${ratio(w.makespanMs, e.lowerBound.ms)}; eager saves ${(100 * (1 - e.makespanMs / w.makespanMs)).toFixed(0)}%`);

    // The same shape for real, headless: 36 specs sleeping 0.4–4 s, then simulate on what they recorded.
    const real = table(36, 9);
    const rdir = mkdtempSync(join(tmpdir(), 'dispatch-bench-real-'));
    dirs.push(rdir);
    for (const s of real) {
      mkdirSync(join(rdir, 'specs', `${s.id}-${s.name}`), { recursive: true });
      writeFileSync(join(rdir, 'specs', `${s.id}-${s.name}`, 'spec.md'), String(Math.round(400 * 10 ** rnd())));
    }
    const sleeper = [NODE, '-e', "setTimeout(() => {}, Number(require('fs').readFileSync(process.argv[1], 'utf8')))", '{specFile}'];
    const zero = { 1: 0.2, 2: 0.2, 3: 0.2, 4: 0.2 };
    const cfg = (schedule) => JSON.stringify({ project: 'real', specsDir: 'specs', multiplexer: 'headless', schedule, pacing: { maxParallel: 6, cooldownSeconds: zero, batch: { every: 4, pauseSeconds: 0, fromWave: 0 } }, agents: { sleep: { command: sleeper, prompt: 'none' } }, specs: real.map((s) => ({ ...s, agent: 'sleep' })) });
    // A first run records each spec's duration; then, all back to pending with that history kept,
    // simulate predicts the next run (priorities and durations from the same history run uses), and it runs.
    const statePathR = join(rdir, '.codex', 'dispatch-state.json');
    for (const schedule of ['eager', 'waves']) {
     const offs = [];
     let code = 0;
     // Three rounds: under eager a few ms of noise in one spec can reorder the launches after it.
     for (let round = 0; round < 3; round++) {
      rmSync(join(rdir, '.codex'), { recursive: true, force: true });
      writeFileSync(join(rdir, 'specs.config.json'), cfg(schedule));
      await run([NODE, BIN, 'run', '--yes', '--no-plan'], rdir);
      const first = JSON.parse(readFileSync(statePathR, 'utf8'));
      const specsKept = Object.fromEntries(Object.entries(first.dispatch.specs).map(([id, rec]) => [id, { history: rec.history }]));
      writeFileSync(statePathR, JSON.stringify({ completed: [], failed: [], skipped: [], dispatch: { version: 1, running: {}, specs: specsKept } }));
      rmSync(join(rdir, '.codex', 'dispatch-events.jsonl'), { force: true });
      const predicted = await new Promise((res) => {
        const c = spawn(NODE, [BIN, '--json', 'simulate', '--schedule', schedule], { cwd: rdir, env });
        let o = '';
        c.stdout.on('data', (d) => (o += d));
        c.on('close', () => res(JSON.parse(o)));
      });
      const r = await run([NODE, BIN, 'run', '--yes', '--no-plan'], rdir);
      const ev = readFileSync(join(rdir, '.codex', 'dispatch-events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const startT = Date.parse(ev.find((x) => x.event === 'run-start').time);
      const endT = Date.parse(ev.filter((x) => x.to === 'done').at(-1).time);
      const actual = endT - startT;
      offs.push({ actual, predicted: predicted.makespanMs, off: actual / predicted.makespanMs - 1 });
      code ||= r.code;
     }
      const pct = (x) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`;
      const mid = [...offs].sort((a, b) => Math.abs(a.off) - Math.abs(b.off))[1];
      out(`36 real specs (0.4–4 s), ${schedule.padEnd(5)}: ran ${(mid.actual / 1000).toFixed(1)} s, simulate said ${(mid.predicted / 1000).toFixed(1)} s (median of 3 rounds)  → off by ${offs.map((o) => pct(o.off)).join(', ')}  (aim within 5%; exit ${code})`);
    }
  }
  return lines;
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    // BENCH_KEEP=1 keeps the projects for a look afterwards.
    if (process.env.BENCH_KEEP) console.error(`kept: ${dirs.join(' ')}`);
    else for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
