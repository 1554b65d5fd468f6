// Trials, not a test: eager runs of a random table while "a person" decides specs by hand at random
// moments (skip, mark-done, mark-failed) and sometimes takes a leaf spec out of the table. Counts the
// launches of decided specs (from the journal: a launch after a decision on a spec that was not running)
// and of removed ones, which must both be 0. Uses the built dist/cli.js.
// usage: node bench/hand-decisions.mjs [trials=20]
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'dist', 'cli.js');
const trials = Number(process.argv[2] ?? 20);
const rnd = (n) => Math.floor(Math.random() * n);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const env = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' };
for (const k of ['DISPATCH_DEBUG', 'OLLAMA_HOST', 'ZELLIJ', 'TMUX']) delete env[k];
const cli = (dir, args) => spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: 'utf8' });

// An agent that works a random while and fails about one attempt in four.
const AGENT = `const ms = 150 + Math.floor(Math.random() * 900);
setTimeout(() => process.exit(Math.random() < 0.25 ? 1 : 0), ms);`;

function project() {
  const dir = mkdtempSync(join(tmpdir(), 'dispatch-hand-'));
  writeFileSync(join(dir, 'agent.js'), AGENT);
  const n = 8 + rnd(5);
  const specs = [];
  for (let i = 1; i <= n; i++) {
    const id = String(i).padStart(3, '0');
    const earlier = specs.map((s) => s.id);
    const deps = earlier.filter(() => Math.random() < 0.25).slice(0, 2);
    specs.push({ id, name: `s${id}`, cost: 1 + rnd(2), agent: 'r', dependsOn: deps });
  }
  for (const s of specs) {
    const f = join(dir, '.auto-claude', 'specs', `${s.id}-${s.name}`, 'spec.md');
    mkdirSync(join(f, '..'), { recursive: true });
    writeFileSync(f, `# ${s.id}\n`);
  }
  const config = {
    project: 'hand', signalDir: join(dir, 'signals'), multiplexer: 'headless', schedule: 'eager', startTimeoutSeconds: 20,
    retry: { maxAttempts: 3 }, pacing: { cooldownSeconds: { 1: 0, 2: 0.4, 3: 0, 4: 0 }, batch: { every: 4, pauseSeconds: 0, fromWave: 99 } },
    agents: { r: { command: [process.execPath, join(dir, 'agent.js')], prompt: 'none' } }, specs,
  };
  writeFileSync(join(dir, 'specs.config.json'), JSON.stringify(config, null, 2));
  return { dir, specs, config };
}

const journal = (dir) => {
  const f = join(dir, '.codex', 'dispatch-events.jsonl');
  return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
};
const stateOf = (dir) => {
  try {
    return JSON.parse(readFileSync(join(dir, '.codex', 'dispatch-state.json'), 'utf8'));
  } catch {
    return undefined;
  }
};

let decisions = 0;
let decidedLaunches = 0;
let removals = 0;
let removedLaunches = 0;
let lost = 0;
let stuck = 0;
for (let t = 1; t <= trials; t++) {
  const { dir, specs, config } = project();
  const child = spawn(process.execPath, [BIN, 'run', '--yes', '--no-plan'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const ended = new Promise((r) => child.on('close', (code) => r(code)));
  let over = false;
  ended.then(() => (over = true));
  // A leaf (nothing depends on it) may leave the table: the table stays valid.
  const leaves = specs.filter((s) => !specs.some((o) => o.dependsOn.includes(s.id)));
  let removed;
  let removedAt = 0;
  const wantRemoval = Math.random() < 0.4;
  const count = 2 + rnd(4);
  for (let k = 0; k < count && !over; k++) {
    await sleep(rnd(900));
    const doc = stateOf(dir);
    const running = new Set(Object.keys(doc?.dispatch?.running ?? {}));
    const candidates = specs.filter((s) => !running.has(s.id) && !doc?.completed?.includes(s.id) && !doc?.skipped?.includes(s.id) && s.id !== removed?.id);
    if (!candidates.length) break;
    const s = candidates[rnd(candidates.length)];
    const verb = ['skip', 'mark-done', 'mark-failed'][rnd(3)];
    cli(dir, verb === 'mark-failed' ? [verb, s.id, '--reason', 'by hand'] : [verb, s.id]);
    if (wantRemoval && !removed && k === 0) {
      const r = leaves.filter((l) => !running.has(l.id) && !doc?.completed?.includes(l.id) && l.id !== s.id);
      if (r.length) {
        removed = r[rnd(r.length)];
        removedAt = Date.now();
        writeFileSync(join(dir, 'specs.config.json'), JSON.stringify({ ...config, specs: specs.filter((x) => x.id !== removed.id) }, null, 2));
        removals++;
      }
    }
  }
  const code = await Promise.race([ended, sleep(90_000).then(() => 'timeout')]);
  if (code === 'timeout') {
    stuck++;
    child.kill('SIGINT');
    await ended;
  }
  // From the journal, in its order: a hand decision on a spec that was not running, then a launch of it.
  const decided = new Map();
  let bad = 0;
  for (const e of journal(dir)) {
    if (['skip', 'mark-done', 'mark-failed'].includes(e.command) && e.spec && e.from !== 'running') {
      decided.set(e.spec, e.seq);
      decisions++;
    }
    if (e.to === 'running' && e.command === 'run' && decided.has(e.spec)) bad++;
    if (removed && e.spec === removed.id && e.to === 'running' && Date.parse(e.time) > removedAt + 1000) removedLaunches++;
  }
  decidedLaunches += bad;
  const lostHere = (stderr.match(/^lost /gm) ?? []).length;
  lost += lostHere;
  console.log(`trial ${t}: exit ${code}, ${decided.size} decided, ${bad} launched after deciding${removed ? `, removed ${removed.id}` : ''}${lostHere ? `, ${lostHere} lost` : ''}`);
  if (!bad && !lostHere && code !== 'timeout') rmSync(dir, { recursive: true, force: true });
  else console.log(`  kept ${dir}`);
}
console.log(`${trials} trials: ${decisions} decisions by hand, ${decidedLaunches} launches of decided specs; ${removals} specs removed mid-run, ${removedLaunches} launched after; ${lost} lost; ${stuck} runs stuck`);
