// Loaded with NODE_OPTIONS=--require by `npm run bench` (never by dispatch itself): each Node process
// appends its own CPU time at exit to $BENCH_CPU_LOG, named by its role, so the benchmark can say where
// a launch's time goes (the runner, the dispatcher, or Node's own start).
const { appendFileSync } = require('node:fs');

const file = process.env.BENCH_CPU_LOG;
if (file) {
  const argv = process.argv.slice(2);
  const role = argv.includes('exec-spec') ? 'runner' : argv.includes('run') ? 'dispatcher' : 'node';
  process.on('exit', () => {
    const u = process.cpuUsage();
    appendFileSync(file, `${role} ${(u.user + u.system) / 1000}\n`);
  });
}
