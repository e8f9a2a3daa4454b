import { createHash } from 'node:crypto';
import type { ConfigProblem, PublicKey } from './types.ts';

/**
 * OpenSSH public key files (`keys/<user>.pub`): one key a line, `#` comments and blank lines
 * allowed. Only the key types ssh2 can verify are accepted.
 */

export interface ParsedKey {
  algo: string;
  blob: Buffer;
  comment: string;
}

/** Key type → the number of length-prefixed strings in its wire blob (type name included). */
const FIELD_COUNT = new Map([
  ['ssh-ed25519', 2],
  ['ssh-rsa', 3],
  ['ecdsa-sha2-nistp256', 3],
  ['ecdsa-sha2-nistp384', 3],
  ['ecdsa-sha2-nistp521', 3],
]);

const EXPECTED_LINE = "expected 'ssh-ed25519 AAAA… comment'";
const SUPPORTED = 'ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384 or ecdsa-sha2-nistp521';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** `SHA256:…` exactly as `ssh-keygen -lf` prints it. */
export function sshFingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** Parses one `algo base64 [comment]` line; the error says what is wrong and what is expected. */
export function parsePublicKeyLine(line: string): ParsedKey | { error: string } {
  const match = /^(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(line.trim());
  const algo = match?.[1] ?? line.trim();
  if (isFidoOrCertificate(algo)) return { error: `FIDO keys/certificates are not supported (expected ${SUPPORTED})` };
  if (!match) return { error: `not an OpenSSH public key (${EXPECTED_LINE})` };
  if (!FIELD_COUNT.has(algo)) return { error: unknownAlgoError(line) };
  const data = match[2]!;
  if (!BASE64.test(data)) return { error: `key data is not valid base64 (${EXPECTED_LINE})` };
  const blob = Buffer.from(data, 'base64');
  const blobError = checkBlob(algo, blob);
  if (blobError) return { error: blobError };
  return { algo, blob, comment: (match[3] ?? '').trim() };
}

/** Every key in one key file; each bad line is a problem named `line N`. */
export function parsePublicKeyFile(
  text: string,
  file: string,
  user: string,
): { keys: PublicKey[]; problems: ConfigProblem[] } {
  const keys: PublicKey[] = [];
  const problems: ConfigProblem[] = [];
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const path = `line ${index + 1}`;
    if (/PRIVATE KEY-----/.test(line)) {
      // One message is enough; the following lines are the rest of the secret.
      problems.push({ file, path, message: 'this is a PRIVATE key (remove it now and put the matching .pub key here)' });
      break;
    }
    const parsed = parsePublicKeyLine(line);
    if ('error' in parsed) problems.push({ file, path, message: parsed.error });
    else keys.push({ user, ...parsed, fingerprint: sshFingerprint(parsed.blob), source: `${file}:${index + 1}` });
  }
  return { keys, problems };
}

function isFidoOrCertificate(algo: string): boolean {
  return algo.startsWith('sk-') || algo.includes('-cert-v0');
}

/** A known key type later in the line means an authorized_keys options prefix. */
function unknownAlgoError(line: string): string {
  const fields = line.trim().split(/\s+/);
  if (fields.slice(1).some((f) => FIELD_COUNT.has(f))) {
    return `authorized_keys options are not allowed (${EXPECTED_LINE}; slipway decides what a key may do)`;
  }
  if (fields.length >= 2 && /^AAAA/.test(fields[1]!)) {
    return `unsupported key type '${fields[0]}' (expected ${SUPPORTED})`;
  }
  return `not an OpenSSH public key (${EXPECTED_LINE})`;
}

/** The blob must be exactly the wire fields of its type, and name the same type as the line. */
function checkBlob(algo: string, blob: Buffer): string | null {
  const fields = readStrings(blob);
  if (!fields || fields.length === 0) return `key data is not an SSH public key (${EXPECTED_LINE})`;
  const embedded = fields[0]!.toString('latin1');
  if (embedded !== algo) return `key type '${algo}' does not match the key data, which says '${embedded}' (expected the line as ssh-keygen wrote it)`;
  if (fields.length !== FIELD_COUNT.get(algo)) return `key data is truncated or corrupt (expected the line as ssh-keygen wrote it)`;
  if (algo === 'ssh-ed25519' && fields[1]!.length !== 32) return 'ed25519 key data has the wrong length (expected the line as ssh-keygen wrote it)';
  if (algo.startsWith('ecdsa-') && fields[1]!.toString('latin1') !== algo.slice('ecdsa-sha2-'.length)) {
    return `key type '${algo}' does not match its curve '${fields[1]!.toString('latin1')}' (expected the line as ssh-keygen wrote it)`;
  }
  return null;
}

/** Splits an SSH wire blob into its uint32-length-prefixed strings; null if it does not split exactly. */
function readStrings(blob: Buffer): Buffer[] | null {
  const out: Buffer[] = [];
  let offset = 0;
  while (offset < blob.length) {
    if (offset + 4 > blob.length) return null;
    const length = blob.readUInt32BE(offset);
    offset += 4;
    if (offset + length > blob.length) return null;
    out.push(blob.subarray(offset, offset + length));
    offset += length;
  }
  return out;
}
