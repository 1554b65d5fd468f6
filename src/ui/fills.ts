// The colours of a spec's state where they are drawn, not printed: the graphs
// (Mermaid, Graphviz) and the HTML report.
import type { SpecState } from '../state/doc.js';

/** Fill colours by state, shared by both graph formats and the HTML report. */
export const STATE_FILL: Record<SpecState | 'awaiting-merge', string> = {
  done: '#c8e6c9',
  'awaiting-merge': '#fff3b0',
  failed: '#ffcdd2',
  running: '#b3e5fc',
  'rate-limited': '#ffe0b2',
  skipped: '#e0e0e0',
  pending: '#ffffff',
};
