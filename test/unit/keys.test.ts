import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePublicKeyFile, parsePublicKeyLine, sshFingerprint } from '../../src/config/keys.ts';
import { formatProblem } from '../../src/config/types.ts';

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'slipway-keys-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A fresh key pair made by ssh-keygen: the .pub line and ssh-keygen's own fingerprint of it. */
function generate(name: string, ...args: string[]): { line: string; fingerprint: string } {
  const file = join(tmp, name);
  execFileSync('ssh-keygen', ['-q', ...args, '-N', '', '-C', `${name}@test`, '-f', file]);
  const listed = execFileSync('ssh-keygen', ['-lf', `${file}.pub`], { encoding: 'utf8' });
  return { line: readFileSync(`${file}.pub`, 'utf8').trim(), fingerprint: listed.split(' ')[1]! };
}

function problemsOf(text: string): string[] {
  return parsePublicKeyFile(text, 'keys/alice.pub', 'alice').problems.map(formatProblem);
}

const KEY_TYPES: [string, string[], string][] = [
  ['ed25519', ['-t', 'ed25519'], 'ssh-ed25519'],
  ['rsa', ['-t', 'rsa', '-b', '2048'], 'ssh-rsa'],
  ['ecdsa256', ['-t', 'ecdsa', '-b', '256'], 'ecdsa-sha2-nistp256'],
  ['ecdsa384', ['-t', 'ecdsa', '-b', '384'], 'ecdsa-sha2-nistp384'],
  ['ecdsa521', ['-t', 'ecdsa', '-b', '521'], 'ecdsa-sha2-nistp521'],
];

for (const [name, args, algo] of KEY_TYPES) {
  test(`an ${name} key from ssh-keygen parses with ssh-keygen's fingerprint`, () => {
    const key = generate(name, ...args);
    const { keys, problems } = parsePublicKeyFile(key.line + '\n', 'keys/alice.pub', 'alice');
    assert.deepEqual(problems, []);
    assert.equal(keys.length, 1);
    assert.equal(keys[0]!.algo, algo);
    assert.equal(keys[0]!.user, 'alice');
    assert.equal(keys[0]!.comment, `${name}@test`);
    assert.equal(keys[0]!.fingerprint, key.fingerprint);
    assert.equal(keys[0]!.source, 'keys/alice.pub:1');
  });
}

test('comments, blank lines and CRLF are skipped and sources keep their line numbers', () => {
  const a = generate('multi-a', '-t', 'ed25519');
  const b = generate('multi-b', '-t', 'ed25519');
  const text = `# alice's keys\r\n\r\n${a.line}\r\n   \n  # laptop\n${b.line}`;
  const { keys, problems } = parsePublicKeyFile(text, 'keys/alice.pub', 'alice');
  assert.deepEqual(problems, []);
  assert.deepEqual(keys.map((k) => k.source), ['keys/alice.pub:3', 'keys/alice.pub:6']);
  assert.deepEqual(keys.map((k) => k.fingerprint), [a.fingerprint, b.fingerprint]);
});

test('a key without a comment has an empty comment', () => {
  const key = generate('nocomment', '-t', 'ed25519');
  const parsed = parsePublicKeyLine(key.line.split(' ').slice(0, 2).join(' '));
  assert.ok(!('error' in parsed));
  assert.equal(parsed.comment, '');
  assert.equal(sshFingerprint(parsed.blob), key.fingerprint);
});

test('a malformed line is reported with its file and line number, and good lines still load', () => {
  const key = generate('malformed', '-t', 'ed25519');
  const { keys, problems } = parsePublicKeyFile(`${key.line}\n\nhello world\n`, 'keys/alice.pub', 'alice');
  assert.equal(keys.length, 1);
  assert.deepEqual(problems.map(formatProblem), [
    "keys/alice.pub: line 3: not an OpenSSH public key (expected 'ssh-ed25519 AAAA… comment')",
  ]);
});

test('a key whose type does not match its embedded type is refused', () => {
  const key = generate('mismatch', '-t', 'ed25519');
  const swapped = key.line.replace(/^ssh-ed25519/, 'ssh-rsa');
  assert.deepEqual(problemsOf(swapped), [
    "keys/alice.pub: line 1: key type 'ssh-rsa' does not match the key data, which says 'ssh-ed25519' (expected the line as ssh-keygen wrote it)",
  ]);
});

test('FIDO keys and certificates are refused with a clear message', () => {
  const expected = 'FIDO keys/certificates are not supported (expected ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384 or ecdsa-sha2-nistp521)';
  assert.deepEqual(problemsOf('sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t me'), [`keys/alice.pub: line 1: ${expected}`]);
  assert.deepEqual(problemsOf('sk-ecdsa-sha2-nistp256@openssh.com AAAA me'), [`keys/alice.pub: line 1: ${expected}`]);
  assert.deepEqual(problemsOf('ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQ= me'), [`keys/alice.pub: line 1: ${expected}`]);
});

test('authorized_keys options before the key are refused', () => {
  const key = generate('options', '-t', 'ed25519');
  assert.deepEqual(problemsOf(`command="pypaas",no-pty ${key.line}`), [
    "keys/alice.pub: line 1: authorized_keys options are not allowed (expected 'ssh-ed25519 AAAA… comment'; slipway decides what a key may do)",
  ]);
});

test('bad base64, truncated key data and unsupported types are refused', () => {
  const key = generate('broken', '-t', 'ed25519');
  const [algo, data] = key.line.split(' ') as [string, string];
  assert.deepEqual(problemsOf(`${algo} ${data.slice(0, -4)}!!!! x`), [
    "keys/alice.pub: line 1: key data is not valid base64 (expected 'ssh-ed25519 AAAA… comment')",
  ]);
  const truncated = Buffer.from(data, 'base64').subarray(0, 40).toString('base64');
  assert.deepEqual(problemsOf(`${algo} ${truncated}`), [
    "keys/alice.pub: line 1: key data is not an SSH public key (expected 'ssh-ed25519 AAAA… comment')",
  ]);
  assert.deepEqual(problemsOf('ssh-dss AAAAB3NzaC1kc3MAAACBAP1 old'), [
    'keys/alice.pub: line 1: unsupported key type \'ssh-dss\' (expected ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384 or ecdsa-sha2-nistp521)',
  ]);
  assert.deepEqual(problemsOf('ssh-ed25519'), [
    "keys/alice.pub: line 1: not an OpenSSH public key (expected 'ssh-ed25519 AAAA… comment')",
  ]);
});

test('an ecdsa key claiming another curve is refused', () => {
  const key = generate('curve', '-t', 'ecdsa', '-b', '256');
  assert.match(problemsOf(key.line.replace('ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384'))[0]!, /does not match the key data, which says 'ecdsa-sha2-nistp256'/);
});

test('a pasted private key is reported once and nothing of it is echoed', () => {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(tmp, 'private')]);
  const secret = readFileSync(join(tmp, 'private'), 'utf8');
  const problems = problemsOf(secret);
  assert.deepEqual(problems, ['keys/alice.pub: line 1: this is a PRIVATE key (remove it now and put the matching .pub key here)']);
});
