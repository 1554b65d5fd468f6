import { readFileSync } from 'node:fs';
import type { Ctx } from '../context.js';
import { DispatchError, EXIT } from '../errors.js';
import { findSpec, locateSpec } from '../specs/lookup.js';
import { visibleText } from '../ui/visible.js';

/** `dispatch review ID [--plan]`: print spec.md or plan.md. */
export async function run(args: { _: [string]; plan?: boolean }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  const spec = findSpec(config, args._[0]);
  const files = locateSpec(config.specsDir, spec);
  const file = args.plan ? files.planFile : files.specFile;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    if (args.plan) throw new DispatchError(`spec ${spec.id} has no plan.md (looked for ${file})`, { hint: `write one with 'dispatch pre-plan --spec ${spec.id}'` });
    throw new DispatchError(`spec ${spec.id} has no spec.md (looked for ${file})`, { hint: `create ${files.dir}/spec.md` });
  }
  // spec.md and plan.md are anyone's text (plan.md a model's): shown, not obeyed.
  ctx.out(visibleText(text.endsWith('\n') ? text : `${text}\n`));
  return EXIT.ok;
}
