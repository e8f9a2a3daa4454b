import fs from 'node:fs';
import type { DomainConfig } from '../config/types.ts';

/** Where a domain's certificate comes from: files today (pyPaaS's paths); ACME later, behind the same interface. */
export interface Certificate {
  certificate: string;
  key: string;
  /** the issuer chain for OCSP stapling, when there is one */
  chain: string | null;
}

export interface CertificateSource {
  /** The domain's certificate, or why it cannot be used (one line, naming the key to fix). */
  lookup(domain: DomainConfig): { cert: Certificate } | { problem: { path: string; message: string } };
}

/** Certificate files named by the domain file (or pyPaaS's default paths). */
export const fileCertificates: CertificateSource = {
  lookup(domain) {
    for (const [key, file] of [['ssl_certificate', domain.sslCertificate], ['ssl_certificate_key', domain.sslCertificateKey]] as const) {
      if (!readable(file)) return { problem: { path: key, message: `certificate file ${file} is missing or unreadable (expected a PEM file; or set ssl: false)` } };
    }
    // The chain is optional: stapling is switched on only when the file is there.
    const chain = readable(domain.sslCertificateChain) ? domain.sslCertificateChain : null;
    return { cert: { certificate: domain.sslCertificate, key: domain.sslCertificateKey, chain } };
  },
};

function readable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
