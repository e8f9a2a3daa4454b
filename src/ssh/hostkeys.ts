import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import { writeFileAtomic } from '../fs-util.ts';

const { utils } = ssh2;

export interface HostKey {
  type: 'ed25519' | 'rsa';
  privateKey: Buffer;
  /** `SHA256:…` as ssh prints it on first connect */
  fingerprint: string;
  publicLine: string;
}

/** Loads the host keys from the data dir, generating any that are missing (first start). */
export function loadHostKeys(dataDir: string): HostKey[] {
  const dir = path.join(dataDir, 'hostkeys');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return (['ed25519', 'rsa'] as const).map((type) => {
    const file = path.join(dir, `ssh_host_${type}_key`);
    if (!fs.existsSync(file)) {
      const pair = type === 'rsa' ? utils.generateKeyPairSync('rsa', { bits: 3072 }) : utils.generateKeyPairSync('ed25519');
      writeFileAtomic(`${file}.pub`, pair.public + '\n');
      writeFileAtomic(file, pair.private + '\n');
      fs.chmodSync(file, 0o600);
    }
    const privateKey = fs.readFileSync(file);
    const parsed = utils.parseKey(privateKey);
    if (parsed instanceof Error) throw new Error(`${file}: unreadable host key: ${parsed.message}`);
    const blob = parsed.getPublicSSH();
    const fingerprint = 'SHA256:' + crypto.createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
    return { type, privateKey, fingerprint, publicLine: `${parsed.type} ${blob.toString('base64')}` };
  });
}
