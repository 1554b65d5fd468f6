// The dependency graph's layout in the report (src/report/layout.ts): where each node goes,
// the page's size, which edges there are, and how the columns are ordered to cross few edges.
import { describe, expect, it } from 'vitest';
import { crossings, layoutGraph, NODE_H, NODE_W } from '../src/report/layout.js';

// The page's spacing: 24 around the graph, 18 for the column labels, 70 between columns, 6 between rows.
const colX = (k: number) => 24 + k * (NODE_W + 70);
const rowY = (r: number) => 24 + 18 + r * (NODE_H + 6);
const at = (l: ReturnType<typeof layoutGraph>, id: string) => {
  const n = l.nodes.find((x) => x.id === id)!;
  return [n.x, n.y];
};
const order = (l: ReturnType<typeof layoutGraph>, x: number) => l.nodes.filter((n) => n.x === x).sort((a, b) => a.y - b.y).map((n) => n.id);

describe('layoutGraph', () => {
  it('no specs: a page of one empty column, no nodes', () => {
    expect(layoutGraph([])).toEqual({ width: 24 * 2 + NODE_W, height: 24 * 2 + 18, nodeWidth: NODE_W, nodeHeight: NODE_H, nodes: [], edges: [], columns: [] });
  });

  it('one column per wave in wave order, whatever the table order; rows from the top; the page fits the tallest column', () => {
    const l = layoutGraph([
      { id: 'late', wave: 5, dependsOn: [] },
      { id: 'a', wave: 1, dependsOn: [] },
      { id: 'b', wave: 1, dependsOn: [] },
      { id: 'c', wave: 1, dependsOn: [] },
    ]);
    expect(l.columns).toEqual([{ wave: 1, x: colX(0) }, { wave: 5, x: colX(1) }]);
    expect(at(l, 'a')).toEqual([colX(0), rowY(0)]);
    expect(at(l, 'c')).toEqual([colX(0), rowY(2)]);
    expect(at(l, 'late')).toEqual([colX(1), rowY(0)]);
    expect(l.width).toBe(24 * 2 + 2 * (NODE_W + 70) - 70);
    expect(l.height).toBe(24 * 2 + 18 + 3 * (NODE_H + 6));
    expect(l.nodes.map((n) => n.id)).toEqual(['late', 'a', 'b', 'c']);
  });

  it('an edge from each dependency to its dependent, by index; a dependency not in the table is no edge', () => {
    const l = layoutGraph([
      { id: 'a', wave: 0, dependsOn: [] },
      { id: 'b', wave: 1, dependsOn: ['a', 'gone'] },
      { id: 'c', wave: 2, dependsOn: ['a', 'b'] },
    ]);
    expect(l.edges).toEqual([[0, 1], [0, 2], [1, 2]]);
  });

  it('orders a column by the mean row of its dependencies (forward sweep)', () => {
    const l = layoutGraph([
      { id: 'a', wave: 0, dependsOn: [] },
      { id: 'b', wave: 0, dependsOn: [] },
      { id: 'c', wave: 0, dependsOn: [] },
      { id: 'x', wave: 1, dependsOn: ['c'] },
      { id: 'y', wave: 1, dependsOn: ['a', 'b'] },
      { id: 'z', wave: 1, dependsOn: ['a'] },
    ]);
    // Means: x 2, y 0.5, z 0; sorted z, y, x. No crossing is left.
    expect(order(l, colX(1))).toEqual(['z', 'y', 'x']);
    expect(crossings(l)).toBe(0);
  });

  it('orders a column by the mean row of its dependents (backward sweep); a node without any keeps its row, ties keep the table order', () => {
    const l = layoutGraph([
      { id: 'a', wave: 0, dependsOn: [] },
      { id: 'b', wave: 0, dependsOn: [] },
      { id: 'c', wave: 0, dependsOn: [] },
      { id: 'x', wave: 1, dependsOn: ['c'] },
    ]);
    // Going back: a keeps 0, b keeps 1, c moves to x's row 0 and ties with a, which came first.
    expect(order(l, colX(0))).toEqual(['a', 'c', 'b']);
    expect(order(layoutGraph(l.nodes.map((n) => ({ id: n.id, wave: n.x === colX(0) ? 0 : 1, dependsOn: [] })), 4), colX(0))).toEqual(['a', 'b', 'c']);
  });

  it('sweeps 0 keeps the table order; the default sweeps undo crossings', () => {
    const specs = [
      { id: 'a', wave: 0, dependsOn: [] },
      { id: 'b', wave: 0, dependsOn: [] },
      { id: 'c', wave: 1, dependsOn: ['b'] },
      { id: 'd', wave: 1, dependsOn: ['a'] },
    ];
    expect(order(layoutGraph(specs, 0), colX(1))).toEqual(['c', 'd']);
    expect(order(layoutGraph(specs), colX(1))).toEqual(['d', 'c']);
  });
});

describe('crossings', () => {
  const node = (id: string, k: number, r: number) => ({ id, x: colX(k), y: rowY(r) });
  const layout = (nodes: ReturnType<typeof node>[], edges: [number, number][]) => ({ width: 0, height: 0, nodeWidth: NODE_W, nodeHeight: NODE_H, nodes, edges, columns: [] });

  it('counts each pair of edges between two adjacent columns that cross, once', () => {
    // a(0)→d(1) and b(1)→c(0) cross; a→c does not cross a→d (they share an end).
    const nodes = [node('a', 0, 0), node('b', 0, 1), node('c', 1, 0), node('d', 1, 1)];
    expect(crossings(layout(nodes, [[0, 3], [1, 2]]))).toBe(1);
    expect(crossings(layout(nodes, [[0, 2], [1, 3]]))).toBe(0);
    expect(crossings(layout(nodes, [[0, 3], [1, 2], [0, 2]]))).toBe(1);
  });

  it('leaves out edges that skip a column, and counts each pair of columns on its own', () => {
    const skip = [node('a', 0, 0), node('b', 0, 1), node('c', 2, 0), node('d', 1, 0)];
    expect(crossings(layout(skip, [[1, 2], [0, 3]]))).toBe(0);
    // An edge two columns long would cross this one if it were counted with it.
    const across = [node('a', 0, 1), node('b', 0, 0), node('c', 1, 0), node('d', 2, 1)];
    expect(crossings(layout(across, [[0, 2], [1, 3]]))).toBe(0);
    const two = [node('a', 0, 0), node('b', 0, 1), node('c', 1, 0), node('d', 1, 1), node('e', 2, 0), node('f', 2, 1)];
    expect(crossings(layout(two, [[0, 3], [1, 2], [2, 5], [3, 4]]))).toBe(2);
  });
});
