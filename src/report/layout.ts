// The dependency graph's layout, computed when the report is written (the page
// only draws it). The layers are given: one column per wave, dependencies
// pointing right. What remains is each column's order, chosen to cross few
// edges by the barycenter heuristic (Sugiyama's second step): each node moves
// towards the mean position of its neighbours in the column beside, sweeping
// right then left, a few times. Linear in nodes + edges per sweep.

export interface LayoutNode {
  id: string;
  wave: number;
  dependsOn: readonly string[];
}

export interface PlacedNode {
  id: string;
  x: number;
  y: number;
}

export interface GraphLayout {
  width: number;
  height: number;
  nodeWidth: number;
  nodeHeight: number;
  nodes: PlacedNode[];
  /** Edges from a dependency to its dependent, as node indexes. */
  edges: [number, number][];
  /** Each wave's column: its x and its label. */
  columns: { wave: number; x: number }[];
}

export const NODE_W = 150;
export const NODE_H = 22;
const GAP_X = 70;
const GAP_Y = 6;
const PAD = 24;

export function layoutGraph(specs: readonly LayoutNode[], sweeps = 4): GraphLayout {
  const index = new Map(specs.map((s, i) => [s.id, i]));
  const waves = [...new Set(specs.map((s) => s.wave))].sort((a, b) => a - b);
  const col = new Map(waves.map((w, i) => [w, i]));
  const columns: number[][] = waves.map(() => []);
  specs.forEach((s, i) => columns[col.get(s.wave)!]!.push(i));
  const edges: [number, number][] = [];
  const preds: number[][] = specs.map(() => []);
  const succs: number[][] = specs.map(() => []);
  specs.forEach((s, i) => {
    for (const d of s.dependsOn) {
      const j = index.get(d);
      if (j === undefined) continue;
      edges.push([j, i]);
      preds[i]!.push(j);
      succs[j]!.push(i);
    }
  });
  // A node's rank in its column; ties keep the table's order (a stable, readable start).
  const rank = new Float64Array(specs.length);
  for (const c of columns) c.forEach((n, r) => (rank[n] = r));
  const reorder = (c: number[], neighbours: number[][]) => {
    const key = new Map<number, number>();
    for (const n of c) {
      const ns = neighbours[n]!;
      key.set(n, ns.length ? ns.reduce((t, m) => t + rank[m]!, 0) / ns.length : rank[n]!);
    }
    c.sort((a, b) => key.get(a)! - key.get(b)! || rank[a]! - rank[b]!);
    c.forEach((n, r) => (rank[n] = r));
  };
  for (let s = 0; s < sweeps; s++) {
    for (let k = 1; k < columns.length; k++) reorder(columns[k]!, preds);
    for (let k = columns.length - 2; k >= 0; k--) reorder(columns[k]!, succs);
  }
  const nodes: PlacedNode[] = specs.map((s) => ({ id: s.id, x: 0, y: 0 }));
  let tallest = 0;
  columns.forEach((c, k) => {
    tallest = Math.max(tallest, c.length);
    c.forEach((n, r) => {
      nodes[n]!.x = PAD + k * (NODE_W + GAP_X);
      nodes[n]!.y = PAD + 18 + r * (NODE_H + GAP_Y);
    });
  });
  return {
    width: PAD * 2 + Math.max(1, waves.length) * (NODE_W + GAP_X) - GAP_X,
    height: PAD * 2 + 18 + tallest * (NODE_H + GAP_Y),
    nodeWidth: NODE_W,
    nodeHeight: NODE_H,
    nodes,
    edges,
    columns: waves.map((wave, k) => ({ wave, x: PAD + k * (NODE_W + GAP_X) })),
  };
}

/** How many pairs of edges cross between adjacent columns (for tests and the layout's own measure). */
export function crossings(layout: GraphLayout): number {
  const byCol = new Map<number, [number, number][]>();
  for (const [a, b] of layout.edges) {
    const from = layout.nodes[a]!;
    const to = layout.nodes[b]!;
    if (to.x - from.x !== NODE_W + GAP_X) continue;
    (byCol.get(from.x) ?? byCol.set(from.x, []).get(from.x)!).push([from.y, to.y]);
  }
  let n = 0;
  for (const es of byCol.values()) {
    for (let i = 0; i < es.length; i++) for (let j = i + 1; j < es.length; j++) if ((es[i]![0] - es[j]![0]) * (es[i]![1] - es[j]![1]) < 0) n++;
  }
  return n;
}
