// `dispatch plan --graph mermaid|dot`: the specs' dependency graph as text for a
// README (Mermaid) or for `dot -Tsvg` (Graphviz), one cluster per wave, each
// node coloured by its state. Names are escaped for each grammar: a spec named
// with quotes, `#`, `<script>` or a newline stays one label.
import type { ResolvedConfig } from '../config/types.js';
import { stateIndex, type SpecState, type StateDoc } from '../state/doc.js';
import { STATE_FILL } from '../ui/fills.js';
export { STATE_FILL } from '../ui/fills.js';

export type GraphFormat = 'mermaid' | 'dot';
export const GRAPH_FORMATS: readonly GraphFormat[] = ['mermaid', 'dot'];

interface Node {
  key: string;
  id: string;
  label: string;
  wave: number;
  state: SpecState | 'awaiting-merge';
  dependsOn: string[];
}

function nodesOf(config: ResolvedConfig, doc: StateDoc, wave?: number): Node[] {
  const state = stateIndex(doc);
  return config.specs.filter((s) => wave === undefined || s.wave === wave).map((s, i) => {
    const st = state(s.id);
    return {
      key: `s${i}`, id: s.id, label: `${s.id} ${s.name}`, wave: s.wave, dependsOn: s.dependsOn,
      state: st === 'done' && doc.dispatch?.specs?.[s.id]?.awaitingMerge ? 'awaiting-merge' : st,
    };
  });
}

/** Mermaid's quoted labels take entity codes (`#quot;`, `#35;`): every character that could end or bend the label is one. */
const mermaidText = (s: string) =>
  s.replace(/[\x00-\x1f\x7f]+/g, ' ').replace(/[#"<>&`[\]{}()|]/g, (ch) => `#${ch.codePointAt(0)};`);

/** DOT's quoted strings: a backslash and a quote are escaped; a newline would be a line break, so it is a space. */
// Graphviz also reads entities (`&amp;`) in labels: a '&' is written as one.
const dotText = (s: string) => s.replace(/[\x00-\x1f\x7f]+/g, ' ').replace(/&/g, '&amp;').replace(/["\\]/g, (ch) => `\\${ch}`);

/** The graph of the whole table, or of one wave (edges from outside it left out). */
export function graphText(config: ResolvedConfig, doc: StateDoc, format: GraphFormat, wave?: number): string {
  const nodes = nodesOf(config, doc, wave);
  const keyOf = new Map(nodes.map((n) => [n.id, n.key]));
  const byWave = new Map<number, Node[]>();
  for (const n of nodes) (byWave.get(n.wave) ?? byWave.set(n.wave, []).get(n.wave)!).push(n);
  const waves = [...byWave.keys()].sort((a, b) => a - b);
  const states = [...new Set(nodes.map((n) => n.state))];
  const lines: string[] = [];
  if (format === 'mermaid') {
    lines.push('flowchart LR');
    for (const w of waves) {
      lines.push(`  subgraph wave${w}["wave ${w}"]`);
      for (const n of byWave.get(w)!) lines.push(`    ${n.key}["${mermaidText(n.label)}"]:::${n.state.replace('-', '_')}`);
      lines.push('  end');
    }
    for (const n of nodes) for (const d of n.dependsOn) if (keyOf.has(d)) lines.push(`  ${keyOf.get(d)} --> ${n.key}`);
    for (const s of states) lines.push(`  classDef ${s.replace('-', '_')} fill:${STATE_FILL[s]},stroke:#555`);
  } else {
    lines.push('digraph dispatch {', '  rankdir=LR;', '  node [shape=box, style="rounded,filled", fontname="sans-serif"];');
    for (const w of waves) {
      lines.push(`  subgraph cluster_wave${w} {`, `    label="wave ${w}";`);
      for (const n of byWave.get(w)!) lines.push(`    "${dotText(n.id)}" [label="${dotText(n.label)}", fillcolor="${STATE_FILL[n.state]}", tooltip="${n.state}"];`);
      lines.push('  }');
    }
    for (const n of nodes) for (const d of n.dependsOn) if (keyOf.has(d)) lines.push(`  "${dotText(d)}" -> "${dotText(n.id)}";`);
    lines.push('}');
  }
  return `${lines.join('\n')}\n`;
}
