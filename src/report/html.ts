// The report as one self-contained HTML page: inline CSS, inline SVG drawn
// here, one small inline script for the details popup. No server, no network,
// no fonts or scripts from elsewhere. Every value from the table or the state
// is escaped (names may hold `<script>`); the popup's text is set with
// textContent from a JSON block whose `<` are escaped.
import type { ReportAttempt, ReportData, ReportSpec } from './data.js';
import { layoutGraph, NODE_H, NODE_W, type GraphLayout } from './layout.js';
import { STATE_FILL } from '../ui/fills.js';
import { span } from '../ui/duration.js';

export interface PlanSummary {
  makespanMs: number;
  lowerBoundMs: number;
  lowerBoundBy: string;
}

// Control characters are not allowed in HTML text (and a terminal escape has no business in a page): shown as '?'.
const esc = (s: string) => s.replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, '?').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** At most n characters (code points: an emoji is never cut in half), with … when cut. */
const clip = (s: string, n: number) => {
  const cs = Array.from(s);
  return cs.length > n ? `${cs.slice(0, n - 1).join('')}…` : s;
};

const duration = span;

const pad = (n: number) => String(n).padStart(2, '0');
/** Local time, as the person who generated the report reads a clock. */
function clock(t: number, withDate = false): string {
  const d = new Date(t);
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withDate ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}` : hms;
}

const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
const money = (x: number) => `$${x < 10 ? x.toFixed(2) : Math.round(x).toLocaleString('en-US')}`;
function count(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)} k`;
  return String(Math.round(n));
}

/** The colour of an attempt: its verdict's kind (an attempt still running has none yet). */
const kindOf = (a: ReportAttempt) => (a.ongoing ? 'running' : (a.kind ?? (a.state === 'done' ? 'done' : a.state === 'rate-limited' ? 'rate-limited' : 'agent-failed')));

const KIND_COLOUR: Record<string, string> = {
  done: '#43a047', running: '#29b6f6', 'rate-limited': '#fb8c00', 'quota-exhausted': '#ef6c00',
  'agent-failed': '#e53935', 'verify-failed': '#d81b60', 'no-changes': '#8d6e63', 'launch-error': '#b71c1c',
  interrupted: '#757575', lost: '#6a1b9a', stalled: '#fdd835', manual: '#90a4ae', 'merge-conflict': '#ad1457',
};

const CSS = `
:root{--fg:#1d2330;--muted:#5f6b7a;--line:#d8dde4;--bg:#fff;--panel:#f6f8fa}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{padding:20px 28px 8px}h1{margin:0;font-size:22px}h2{font-size:17px;margin:28px 0 10px}
main{padding:0 28px 40px}.sub{color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:10px}
.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card b{display:block;font-size:20px}.card span{color:var(--muted);font-size:12px}
table{border-collapse:collapse;margin:6px 0}td,th{border-bottom:1px solid var(--line);padding:4px 10px;text-align:left;vertical-align:top;overflow-wrap:anywhere;max-width:40em}
th{font-weight:600;color:var(--muted);font-size:12px}td.n{text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow:auto;border:1px solid var(--line);border-radius:8px;max-height:80vh}
svg text{font-size:11px;fill:var(--fg)}svg .ax{fill:var(--muted)}svg .wv{font-weight:600}
.grid{stroke:#eef0f3}.bp{fill:#9e9e9e;opacity:.18}.rl{stroke:#fb8c00;stroke-width:2;stroke-dasharray:3 2}
.b{stroke:#0003;stroke-width:.5}.b:focus,.n:focus rect{outline:none;stroke:#000;stroke-width:2}.n:focus{outline:none}
.b.cp{stroke:#111;stroke-width:1.6}.v{fill:url(#hatch);pointer-events:none}
.n rect{stroke:#555;stroke-width:.8}.n.cp rect{stroke:#111;stroke-width:2.2}
.e{fill:none;stroke:#8895a7;stroke-width:1}.e.cp{stroke:#111;stroke-width:1.8}
.legend{display:flex;flex-wrap:wrap;gap:6px 14px;font-size:12px;color:var(--muted);margin:6px 0}
.legend i{display:inline-block;width:12px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
#tip{position:fixed;z-index:9;max-width:440px;background:#1d2330;color:#fff;border-radius:6px;padding:8px 10px;font-size:12px;pointer-events:none;box-shadow:0 4px 14px #0004;white-space:pre-wrap}
#tip b{display:block;margin-bottom:3px}
${Object.entries(KIND_COLOUR).map(([k, c]) => `.k-${k}{fill:${c}}`).join('')}
${Object.entries(STATE_FILL).map(([k, c]) => `.s-${k} rect{fill:${c}}`).join('')}
`;

// Shows a bar's or a node's details on hover and on keyboard focus; Escape hides it.
const SCRIPT = `(()=>{const d=JSON.parse(document.getElementById('data').textContent),tip=document.getElementById('tip');
function show(e){const t=e.target.closest&&e.target.closest('[data-a],[data-s]');if(!t)return;const x=d[+(t.dataset.a??t.dataset.s)];if(!x)return;
tip.replaceChildren();const h=document.createElement('b');h.textContent=x[0];tip.append(h);for(const l of x.slice(1)){const p=document.createElement('div');p.textContent=l;tip.append(p)}
tip.hidden=false;const r=t.getBoundingClientRect(),w=tip.offsetWidth,hh=tip.offsetHeight;let L=Math.min(innerWidth-w-8,Math.max(8,(e.clientX||r.right)+12)),T=(e.clientY||r.bottom)+14;if(T+hh>innerHeight-8)T=Math.max(8,r.top-hh-8);tip.style.left=L+'px';tip.style.top=T+'px'}
function hide(){tip.hidden=true}
document.addEventListener('mouseover',show);document.addEventListener('focusin',show);document.addEventListener('mouseout',e=>{if(e.target.closest&&e.target.closest('[data-a],[data-s]'))hide()});document.addEventListener('focusout',hide);document.addEventListener('keydown',e=>{if(e.key==='Escape')hide()})})();`;

function attemptLines(s: ReportSpec, a: ReportAttempt): string[] {
  const lines = [`${s.id} ${s.name} · attempt ${a.n}`, `${kindOf(a)}${a.ongoing ? ' (still running)' : ''}`, `${clock(a.start, true)} → ${a.ongoing ? 'now' : clock(a.end)} (${duration(a.end - a.start)})`];
  if (a.reason) lines.push(clip(a.reason, 300));
  if (a.tokens) lines.push(`tokens ${a.tokens.total.toLocaleString('en-US')} (in ${a.tokens.input.toLocaleString('en-US')}, cached ${a.tokens.cachedInput.toLocaleString('en-US')}, out ${a.tokens.output.toLocaleString('en-US')})${a.cost !== undefined ? ` · ${money(a.cost)}` : ''}`);
  if (a.verify) lines.push(`verify ${a.verify.passed}/${a.verify.total} passed, ${Math.round(a.verify.seconds)} s`);
  if (a.runId) lines.push(`run ${a.runId}`);
  if (a.critical) lines.push('on the critical path');
  lines.push(`log ${a.log}`);
  return lines;
}

const ROW = 16;
const WAVE_ROW = 20;
const LABEL_W = 230;
const PLOT_W = 1000;

function timeline(d: ReportData, tips: string[][]): string {
  const launched = d.specs.some((s) => s.attempts.length);
  const span = Math.max(1, d.end - d.start);
  const x = (t: number) => LABEL_W + ((t - d.start) / span) * PLOT_W;
  const waves = [...new Set(d.specs.map((s) => s.wave))].sort((a, b) => a - b);
  const parts: string[] = [];
  let y = 26;
  const rowsTop = y;
  const rowY = new Map<string, number>();
  const byWave = new Map<number, ReportSpec[]>();
  for (const s of d.specs) (byWave.get(s.wave) ?? byWave.set(s.wave, []).get(s.wave)!).push(s);
  for (const w of waves) {
    parts.push(`<text class="wv" x="6" y="${y + 14}">wave ${w}</text>`);
    y += WAVE_ROW;
    for (const s of byWave.get(w)!) {
      rowY.set(s.id, y);
      const label = `${s.id} ${s.name}`;
      parts.push(`<text x="14" y="${y + 12}">${esc(clip(label, 34))}</text>`);
      for (const a of s.attempts) {
        const x0 = x(a.start);
        const w0 = Math.max(2, x(a.end) - x0);
        const i = tips.push(attemptLines(s, a)) - 1;
        parts.push(`<rect class="b k-${kindOf(a)}${a.critical ? ' cp' : ''}" x="${x0.toFixed(1)}" y="${y + 2}" width="${w0.toFixed(1)}" height="${ROW - 4}" rx="2" tabindex="0" data-a="${i}" aria-label="${esc(`${s.id} attempt ${a.n}: ${kindOf(a)}`)}"/>`);
        if (a.verifySpan) {
          const v0 = x(Math.max(a.start, a.verifySpan.from));
          const v1 = x(Math.min(a.end, a.verifySpan.until));
          if (v1 - v0 >= 1) parts.push(`<rect class="v" x="${v0.toFixed(1)}" y="${y + 2}" width="${(v1 - v0).toFixed(1)}" height="${ROW - 4}"/>`);
        }
      }
      y += ROW;
    }
  }
  const height = y + 8;
  const back: string[] = [];
  // Time ticks: about ten, on a round step.
  const steps = [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400].map((s) => s * 1000);
  // Beyond a day a step, whole days: never more than about ten ticks, however long the span.
  const step = steps.find((s) => span / s <= 10) ?? Math.ceil(span / 10 / 86_400_000) * 86_400_000;
  for (let t = 0; t <= span; t += step) {
    const xx = x(d.start + t).toFixed(1);
    back.push(`<line class="grid" x1="${xx}" x2="${xx}" y1="18" y2="${height}"/><text class="ax" x="${xx}" y="13" text-anchor="middle">+${duration(t)}</text>`);
  }
  for (const p of d.batchPauses) back.push(`<rect class="bp" x="${x(Math.max(d.start, p.from)).toFixed(1)}" y="${rowsTop}" width="${Math.max(1, x(Math.min(d.end, p.until)) - x(Math.max(d.start, p.from))).toFixed(1)}" height="${height - rowsTop}"><title>batch pause ${esc(clock(p.from))} → ${esc(clock(p.until))}</title></rect>`);
  for (const r of d.rateLimitWaits) {
    const ry = rowY.get(r.spec);
    if (ry === undefined) continue;
    const x0 = x(Math.max(d.start, r.from));
    const x1 = x(Math.min(d.end, r.until));
    if (x1 > x0) back.push(`<line class="rl" x1="${x0.toFixed(1)}" x2="${x1.toFixed(1)}" y1="${ry + ROW / 2}" y2="${ry + ROW / 2}"><title>${esc(`${r.spec}: waiting on ${r.agent}'s rate limit until ${clock(r.until)}`)}</title></line>`);
  }
  const legend = Object.keys(KIND_COLOUR)
    .filter((k) => d.specs.some((s) => s.attempts.some((a) => kindOf(a) === k)))
    .map((k) => `<span><i style="background:${KIND_COLOUR[k]}"></i>${k}</span>`)
    .concat([
      d.batchPauses.length ? '<span><i style="background:#9e9e9e55"></i>batch pause</span>' : '',
      d.rateLimitWaits.length ? '<span><i style="border-top:2px dashed #fb8c00;height:0"></i>rate-limit wait</span>' : '',
      d.specs.some((s) => s.attempts.some((a) => a.verifySpan)) ? '<span><i style="background:repeating-linear-gradient(45deg,#fff9,#fff9 2px,transparent 2px,transparent 4px),#777"></i>verify</span>' : '',
      d.criticalPath.length ? '<span><i style="border:2px solid #111"></i>critical path</span>' : '',
    ])
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${LABEL_W + PLOT_W + 20}" height="${height}" role="img" aria-label="timeline of every attempt">
<defs><pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="2" height="4" fill="#ffffffaa"/></pattern></defs>
${back.join('')}${parts.join('\n')}</svg>`;
  const note = launched ? '' : '<p class="sub">Nothing has run in this scope yet: every spec is listed, with no bars.</p>';
  return `<section id="timeline"><h2>Timeline</h2><p class="sub">One row per spec, grouped by wave; one bar per attempt, coloured by its outcome. Hover or focus (Tab) a bar for its details.</p><div class="legend">${legend}</div>${note}<div class="scroll">${svg}</div></section>`;
}

function graph(d: ReportData, layout: GraphLayout, tips: string[][]): string {
  const cp = new Set(d.criticalPath);
  const cpEdge = new Set(d.criticalPath.slice(1).map((id, i) => `${d.criticalPath[i]}>${id}`));
  const parts: string[] = [];
  for (const c of layout.columns) parts.push(`<text class="wv" x="${c.x}" y="${24 + 4}">wave ${c.wave}</text>`);
  for (const [a, b] of layout.edges) {
    const p = layout.nodes[a]!;
    const q = layout.nodes[b]!;
    const x1 = p.x + NODE_W;
    const y1 = p.y + NODE_H / 2;
    const x2 = q.x;
    const y2 = q.y + NODE_H / 2;
    const mid = (x1 + x2) / 2;
    parts.push(`<path class="e${cpEdge.has(`${p.id}>${q.id}`) ? ' cp' : ''}" d="M${x1} ${y1}C${mid} ${y1} ${mid} ${y2} ${x2} ${y2}"/>`);
  }
  d.specs.forEach((s, i) => {
    const n = layout.nodes[i]!;
    const label = `${s.id} ${s.name}`;
    const t = tips.push([`${s.id} ${s.name}`, `${s.state} · wave ${s.wave} · cost ${s.cost} · ${s.agent}`, `${s.attempts.length} attempt${s.attempts.length === 1 ? '' : 's'} in this report`, s.dependsOn.length ? `after ${s.dependsOn.join(', ')}` : 'no dependencies']) - 1;
    parts.push(`<g class="n s-${s.state}${cp.has(s.id) ? ' cp' : ''}" tabindex="0" data-s="${t}" transform="translate(${n.x},${n.y})"><rect width="${NODE_W}" height="${NODE_H}" rx="4"/><text x="6" y="15">${esc(clip(label, 24))}</text></g>`);
  });
  const legend = Object.keys(STATE_FILL).map((k) => `<span><i style="background:${STATE_FILL[k as keyof typeof STATE_FILL]};border:1px solid #555"></i>${k}</span>`).join('');
  return `<section id="graph"><h2>Dependency graph</h2><p class="sub">One column per wave; a line from a spec to the one that waits for it (left to right). Nodes coloured by state; the critical path in bold.</p><div class="legend">${legend}</div><div class="scroll"><svg xmlns="http://www.w3.org/2000/svg" width="${layout.width}" height="${layout.height}" role="img" aria-label="dependency graph">${parts.join('\n')}</svg></div></section>`;
}

function figures(d: ReportData, plan?: PlanSummary): string {
  const f = d.figures;
  const cards: [string, string][] = [];
  if (f.attempts) {
    cards.push([duration(f.makespanMs), `makespan${d.inProgress ? ' so far' : ''}${f.lowerBoundMs > 0 ? ` · ${(f.makespanMs / f.lowerBoundMs).toFixed(2)}× the lower bound (${duration(f.lowerBoundMs)}, ${f.lowerBoundBy})` : ''}`]);
    cards.push([`${f.done} / ${f.launched}`, `specs done of those launched (${f.specs} in the table)`]);
    cards.push([f.donePerHour.toFixed(1), 'specs done per hour']);
    cards.push([f.cost !== undefined ? money(f.cost) : `${count(f.tokens.total)} tokens`, f.cost !== undefined ? `cost (${count(f.tokens.total)} tokens)` : f.unpricedModels.length ? `no price for ${f.unpricedModels.join(', ')}: add it under pricing` : 'tokens used']);
    cards.push([count(f.tokensPerSpec), 'tokens per launched spec']);
    cards.push([pct(f.retryRate), `retry rate (${f.attempts - f.launched} of ${f.attempts} launches were retries)`]);
    cards.push([duration(f.rateLimitWaitMs), 'waiting on rate limits']);
    cards.push([duration(f.batchPauseMs), 'in batch pauses']);
    cards.push([f.verify.rate !== undefined ? pct(f.verify.rate) : 'n/a', f.verify.total ? `verify pass rate (${f.verify.passed}/${f.verify.total} attempts), ${duration(f.verifyMs)} verifying` : 'no verify checks ran']);
  } else if (plan) {
    cards.push([duration(plan.makespanMs), `simulated makespan (dispatch simulate) · lower bound ${duration(plan.lowerBoundMs)} (${plan.lowerBoundBy})`]);
    cards.push([String(f.specs), 'specs in the table']);
  }
  const card = cards.map(([v, l]) => `<div class="card"><b>${esc(v)}</b><span>${esc(l)}</span></div>`).join('');
  const cost = (c?: number) => (c !== undefined ? money(c) : '');
  const waves = f.attempts
    ? `<h3>Per wave</h3><table><tr><th>wave</th><th>specs</th><th>done</th><th>attempts</th><th>tokens</th><th>cost</th></tr>${f.perWave.map((w) => `<tr><td>${w.wave}</td><td class="n">${w.specs}</td><td class="n">${w.done}</td><td class="n">${w.attempts}</td><td class="n">${count(w.tokens)}</td><td class="n">${cost(w.cost)}</td></tr>`).join('')}</table>`
    : '';
  const runs = f.perRun.length > 1 || d.scope.all
    ? `<h3>Per run</h3><table><tr><th>run</th><th>attempts</th><th>specs done</th><th>tokens</th><th>cost</th></tr>${f.perRun.map((r) => `<tr><td>${esc(r.run)}</td><td class="n">${r.attempts}</td><td class="n">${r.done}</td><td class="n">${count(r.tokens)}</td><td class="n">${cost(r.cost)}</td></tr>`).join('')}</table>`
    : '';
  return `<section id="figures"><h2>Figures</h2><div class="cards">${card}</div>${waves}${runs}</section>`;
}

function failures(d: ReportData): string {
  if (!d.failures.length) return `<section id="failures"><h2>Failures</h2><p class="sub">No spec ended failed${d.figures.attempts ? '' : ' (nothing has run)'}.</p></section>`;
  const rows = d.failures.map((f) => `<tr><td>${esc(`${f.id} ${f.name}`)}</td><td class="n">${f.n}</td><td>${esc(f.kind ?? '')}</td><td>${esc(f.reason ?? '')}</td><td><code>${esc(f.log)}</code></td></tr>`).join('');
  return `<section id="failures"><h2>Failures</h2><table><tr><th>spec</th><th>attempt</th><th>kind</th><th>reason</th><th>log</th></tr>${rows}</table></section>`;
}

export function renderReport(d: ReportData, plan?: PlanSummary): string {
  const tips: string[][] = [];
  const layout = layoutGraph(d.specs);
  const scope = d.scope.run ? `run ${d.scope.run}` : 'every launch';
  const when = d.figures.attempts ? `${clock(d.start, true)} → ${d.inProgress ? 'in progress' : clock(d.end, true)}` : 'nothing has run yet';
  const body = [figures(d, plan), timeline(d, tips), graph(d, layout, tips), failures(d)].join('\n');
  // Each bar's and node's details, by index; `<` escaped, so no value can close the data block.
  const data = JSON.stringify(tips).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(`dispatch report — ${d.project}`)}</title><style>${CSS}</style></head>
<body><header><h1>${esc(d.project)}</h1><p class="sub">${esc(`${scope} · ${when} · generated ${clock(d.generatedAt, true)}`)}</p></header>
<main>${body}</main>
<div id="tip" role="tooltip" hidden></div>
<script id="data" type="application/json">${data}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}
