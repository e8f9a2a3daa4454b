import fs from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import { sshFingerprint } from '../config/keys.ts';
import { writeFileAtomic } from '../lib/fs-util.ts';

const { utils } = ssh2;

export interface HostKey {
  type: 'ed25519' | 'ecdsa' | 'rsa';
  privateKey: Buffer;
  /** `SHA256:…` as ssh prints it on first connect */
  fingerprint: string;
  publicLine: string;
}

/**
 * Loads the host keys from the data dir, generating any that are missing (first start), so each
 * keeps its fingerprint across restarts. The ECDSA key exists even when it is not offered, so
 * turning `ssh.ecdsa_host_key` on later does not change what clients already know.
 */
export function loadHostKeys(dataDir: string): HostKey[] {
  const dir = path.join(dataDir, 'hostkeys');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return (['ed25519', 'ecdsa', 'rsa'] as const).map((type) => {
    const file = path.join(dir, `ssh_host_${type}_key`);
    if (!fs.existsSync(file)) {
      const pair = generateHostKey(type);
      writeFileAtomic(`${file}.pub`, pair.public + '\n');
      writeFileAtomic(file, pair.private + '\n');
      fs.chmodSync(file, 0o600);
    }
    const privateKey = fs.readFileSync(file);
    const parsed = utils.parseKey(privateKey);
    if (parsed instanceof Error) throw new Error(`${file}: unreadable host key: ${parsed.message}`);
    const blob = parsed.getPublicSSH();
    return { type, privateKey, fingerprint: sshFingerprint(blob), publicLine: `${parsed.type} ${blob.toString('base64')}` };
  });
}

type KeyGen = (type: HostKey['type']) => { private: string; public: string };

const defaultKeyGen: KeyGen = (type) =>
  type === 'rsa' ? utils.generateKeyPairSync('rsa', { bits: 3072 })
  : type === 'ecdsa' ? utils.generateKeyPairSync('ecdsa', { bits: 256 })
  : utils.generateKeyPairSync('ed25519');

/**
 * A new key pair that ssh2 itself can read back. ssh2 1.17 writes about one ed25519 key in 200
 * with a 31-byte public key (a leading zero byte dropped), which its own parser then refuses.
 */
export function generateHostKey(type: HostKey['type'], keygen: KeyGen = defaultKeyGen): { private: string; public: string } {
  for (let attempt = 0; attempt < 20; attempt++) {
    const pair = keygen(type);
    if (!(utils.parseKey(pair.private) instanceof Error)) return pair;
  }
  throw new Error(`could not generate a readable ${type} host key`);
}
