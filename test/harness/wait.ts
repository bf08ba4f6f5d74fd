/** Waiting on conditions, never on sleeps (the same helpers the tools use). */
export { waitFor, within } from '../../lib/wait';

/** Throws an Error with `message` (for `.catch(() => fail(…))` where an expression must not return). */
export function fail(message: string): never {
  throw new Error(message);
}
