/**
 * What the SSH server offers, passed explicitly to ssh2 (its defaults include SHA-1 host
 * signatures, hmac-sha1, encrypt-and-MAC MACs, NIST-curve key exchange and pre-auth zlib).
 * The lists are OpenSSH 9's server defaults minus what ssh-audit fails and what ssh2 cannot do;
 * docs/design-decisions.md says why each one is there.
 */

/**
 * Key exchange. No `ecdh-sha2-nistp*` (ssh-audit fails NIST curves; every client we test has
 * curve25519) and no `diffie-hellman-group-exchange-*` (ssh2 cannot serve it as a server: a
 * client that picked it was disconnected instead of falling back). The fixed MODP groups are
 * for clients without curve25519. ssh2 appends `kex-strict-s-v00@openssh.com` (Terrapin).
 */
export const KEX = [
  'curve25519-sha256',
  'curve25519-sha256@libssh.org',
  'diffie-hellman-group16-sha512',
  'diffie-hellman-group18-sha512',
  'diffie-hellman-group14-sha256',
];

/** Ciphers: OpenSSH's defaults, all AEAD or CTR. */
export const CIPHERS = [
  'chacha20-poly1305@openssh.com',
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'aes128-ctr',
  'aes192-ctr',
  'aes256-ctr',
];

/**
 * MACs (only used with the CTR ciphers): encrypt-then-MAC first; the plain SHA-2 ones remain for
 * clients without etm (dropbear 2022 with `-c aes128-ctr`). No SHA-1.
 */
export const MACS = ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256', 'hmac-sha2-512'];

/** Compression only after authentication, as OpenSSH does: no pre-auth zlib attack surface. */
export const COMPRESSION = ['none', 'zlib@openssh.com'];

/** Host key signatures, in order of preference. No SHA-1 `ssh-rsa`. */
export function hostKeyAlgorithms(ecdsa: boolean): string[] {
  return ['ssh-ed25519', ...(ecdsa ? ['ecdsa-sha2-nistp256'] : []), 'rsa-sha2-512', 'rsa-sha2-256'];
}

/**
 * Signature algorithms accepted from client keys, in the form of `server-sig-algs` (RFC 8308).
 * `ssh-rsa` (RSA with SHA-1) only when the config allows it, as OpenSSH since 8.8.
 */
export function userSignatureAlgorithms(allowSha1Rsa: boolean): string[] {
  return [
    'ssh-ed25519',
    'ecdsa-sha2-nistp256',
    'ecdsa-sha2-nistp384',
    'ecdsa-sha2-nistp521',
    'rsa-sha2-512',
    'rsa-sha2-256',
    ...(allowSha1Rsa ? ['ssh-rsa'] : []),
  ];
}
