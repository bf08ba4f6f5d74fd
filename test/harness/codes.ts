/**
 * What a call ended with, as a word a test can compare: 'OK', the
 * BlockstoreError code, or the text of anything else.
 */
import { BlockstoreError } from '../../lib/errors';

export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    return err instanceof BlockstoreError ? err.code : `not a BlockstoreError: ${String(err)}`;
  }
}
