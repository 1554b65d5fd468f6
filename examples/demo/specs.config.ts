import { defineConfig } from 'dispatch';

// A small project that `npm run demo` dispatches end to end: headless panes,
// a stand-in agent that writes the files each spec asks for, short cooldowns.
export default defineConfig({
  project: 'notes',
  multiplexer: 'headless',
  pacing: {
    cooldownSeconds: { 1: 1, 2: 1, 3: 2, 4: 2 },
    batch: { every: 2, pauseSeconds: 1, fromWave: 1 },
  },
  agents: {
    'stand-in': { command: ['node', 'agent.mjs'], prompt: 'stdin' },
  },
  specs: [
    { id: '001', name: 'scaffold', wave: 0, cost: 1, agent: 'stand-in', title: 'package.json and README' },
    { id: '002', name: 'store', cost: 2, agent: 'stand-in', dependsOn: ['001'], title: 'JSON file store' },
    { id: '003', name: 'cli', cost: 2, agent: 'stand-in', dependsOn: ['001'], title: 'add / list commands' },
    { id: '004', name: 'tests', cost: 3, agent: 'stand-in', dependsOn: ['002', '003'], title: 'tests for the store' },
  ],
});
