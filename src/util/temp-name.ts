// Names for what is written beside a file before it takes its place.

/** A nonce: two owners never write the same content. */
export const nonce = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;

/** Temp files are named `<name>.<pid>.<nonce>.tmp`, so the next holder can tell a dead writer's leftovers. */
export const tempName = (path: string) => `${path}.${process.pid}.${nonce()}.tmp`;
