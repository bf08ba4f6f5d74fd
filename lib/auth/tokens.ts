/**
 * Bearer tokens: "bst_<token id>_<secret>". Only the SHA-256 of the whole
 * token is stored (in metadata); the secret is shown once when issued.
 * Shared: gateways mint and check them; `cluster up` mints the first admin
 * token before any gateway can (it has no token to call Admin with).
 */
import { randomBytes } from 'node:crypto';
import { sha256Hex } from '../hash';

export function newToken(): { tokenId: string; token: string; tokenHash: string } {
  const tokenId = randomBytes(8).toString('hex');
  const token = `bst_${tokenId}_${randomBytes(32).toString('base64url')}`;
  return { tokenId, token, tokenHash: hashToken(token) };
}

export function hashToken(token: string): string {
  return sha256Hex(Buffer.from(token, 'utf8'));
}
