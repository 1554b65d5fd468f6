// The context a command runs in: the folder it is about is the one it is
// given (an in-process caller's), not whatever folder this process is in.
import { describe, expect, it } from 'vitest';
import { createCtx } from '../src/context.js';
import { makeProject } from './helpers.js';

describe('createCtx', () => {
  it("loads the config of the folder it is given, whatever the process's folder", async () => {
    const a = makeProject({ format: 'json', extra: { project: 'ctx-a' } });
    const b = makeProject({ format: 'json', extra: { project: 'ctx-b' } });
    // (The process's folder is not changed here: worker threads, which mutation testing uses, cannot.)
    const ctx = createCtx({ cwd: a });
    expect(ctx.cwd).toBe(a);
    expect((await ctx.config()).project).toBe('ctx-a');
    expect((await createCtx({ cwd: b }).config()).project).toBe('ctx-b');
    // Without one, the process's folder.
    expect(createCtx({}).cwd).toBe(process.cwd());
  });
});
