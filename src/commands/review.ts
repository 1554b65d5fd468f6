import type { Ctx } from '../context.js';
import { DispatchError, EXIT } from '../errors.js';
import { findSpec, locateSpec } from '../specs/lookup.js';
import { readSpecText, showSize, SPEC_TEXT_MAX } from '../specs/read-text.js';
import { visibleText } from '../util/visible.js';

/** `dispatch review ID [--plan]`: print spec.md or plan.md. */
export async function run(args: { _: [string]; plan?: boolean }, ctx: Ctx): Promise<number> {
  const config = await ctx.config();
  const spec = findSpec(config, args._[0]);
  const files = locateSpec(config.specsDir, spec);
  const file = args.plan ? files.planFile : files.specFile;
  const what = args.plan ? 'plan.md' : 'spec.md';
  const r = readSpecText(file);
  if ('tooLarge' in r) {
    throw new DispatchError(`spec ${spec.id}'s ${what} is too large to show (${showSize(r.tooLarge)}; the limit is ${showSize(SPEC_TEXT_MAX)}): ${file}`, { hint: `open it in an editor; no agent works from a ${what} that long` });
  }
  if ('missing' in r) {
    if (args.plan) throw new DispatchError(`spec ${spec.id} has no plan.md (looked for ${file})`, { hint: `write one with 'dispatch pre-plan --spec ${spec.id}'` });
    throw new DispatchError(`spec ${spec.id} has no spec.md (looked for ${file})`, { hint: `create ${files.dir}/spec.md` });
  }
  // spec.md and plan.md are anyone's text (plan.md a model's): shown, not obeyed.
  ctx.out(visibleText(r.text.endsWith('\n') ? r.text : `${r.text}\n`));
  return EXIT.ok;
}
