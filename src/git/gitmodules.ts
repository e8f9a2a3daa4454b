/**
 * The checks git's fsck makes of a `.gitmodules` blob (fsck.c fsck_gitmodules_fn, with
 * check_submodule_name/url from submodule-config.c): the blob is read as git reads a config file
 * (config.c git_parse_source), and every `submodule.<name>.*` entry before the first syntax error
 * is judged. These are the names and URLs that made `git clone --recurse-submodules` run code or
 * write outside the repo (CVE-2018-11235, CVE-2018-17456, CVE-2020-11008).
 */

export interface GitmodulesProblem {
  id: 'gitmodulesName' | 'gitmodulesUrl' | 'gitmodulesPath' | 'gitmodulesUpdate';
  what: string;
}

export interface GitmodulesReport {
  problems: GitmodulesProblem[];
  /** the blob is not a valid config file (git's gitmodulesParse, an info only) */
  parseError: boolean;
}

export function checkGitmodules(blob: Buffer): GitmodulesReport {
  const problems: GitmodulesProblem[] = [];
  const ok = parseConfig(blob, (name, value) => {
    const m = splitSubmoduleKey(name);
    if (!m) return;
    const sub = cString(m.subsection);
    if (checkSubmoduleName(sub)) problems.push({ id: 'gitmodulesName', what: `disallowed submodule name: ${sub}` });
    if (value === null) return;
    const v = cString(value);
    if (m.key === 'url' && !submoduleUrlOk(v)) problems.push({ id: 'gitmodulesUrl', what: `disallowed submodule url: ${v}` });
    if (m.key === 'path' && v.startsWith('-')) problems.push({ id: 'gitmodulesPath', what: `disallowed submodule path: ${v}` });
    if (m.key === 'update' && v.startsWith('!') && !['none', 'checkout', 'rebase', 'merge'].includes(v)) {
      problems.push({ id: 'gitmodulesUpdate', what: `disallowed submodule update setting: ${v}` });
    }
  });
  return { problems, parseError: !ok };
}

/** Values reach git's callbacks as C strings: a NUL ends them. */
function cString(s: string): string {
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
}

/** parse_config_key(var, "submodule", ...): the subsection and key of `submodule.<sub>.<key>`, or null. */
function splitSubmoduleKey(name: string): { subsection: string; key: string } | null {
  if (!name.startsWith('submodule.')) return null;
  const rest = name.slice('submodule'.length);
  const dot = rest.lastIndexOf('.');
  if (dot === 0) return null; // no subsection: not a submodule entry
  return { subsection: rest.slice(1, dot), key: rest.slice(dot + 1) };
}

const isSep = (c: string | undefined) => c === '/' || c === '\\';

/** check_submodule_name: not empty and no `..` path component (either separator). True when disallowed. */
export function checkSubmoduleName(name: string): boolean {
  if (name === '') return true;
  for (let i = -1; i < name.length; i++) {
    if (i >= 0 && !isSep(name[i])) continue;
    const p = i + 1;
    if (name[p] === '.' && name[p + 1] === '.' && (p + 2 >= name.length || isSep(name[p + 2]))) return true;
  }
  return false;
}

const startsDotSlash = (s: string) => s[0] === '.' && isSep(s[1]);
const startsDotDotSlash = (s: string) => s[0] === '.' && s[1] === '.' && isSep(s[2]);

/** check_submodule_url: false when git's fsck refuses the url. */
export function submoduleUrlOk(url: string): boolean {
  if (url.startsWith('-')) return false;
  if (startsDotSlash(url) || startsDotDotSlash(url) || url.startsWith('git://')) {
    if (urlDecode(url).includes('\n')) return false;
    // `../` that climbs out of the root can rewrite the host part (CVE-2020-11008)
    let rest = url;
    let dotdots = 0;
    for (;;) {
      if (startsDotDotSlash(rest)) {
        dotdots++;
        rest = rest.slice(3);
      } else if (startsDotSlash(rest)) rest = rest.slice(2);
      else break;
    }
    return !(dotdots > 0 && (rest[0] === ':' || rest[0] === '/'));
  }
  const curl = curlUrl(url);
  if (curl === null) return true;
  // git 2.39's credential_from_url_gently: a host, and no newline in any decoded part
  if (urlDecode(curl).includes('\n')) return false;
  const proto = curl.indexOf('://');
  if (proto <= 0) return false;
  const cp = curl.slice(proto + 3);
  const slash = cp.search(/[/?#]/);
  const authority = slash < 0 ? cp : cp.slice(0, slash);
  const at = authority.indexOf('@');
  const host = at >= 0 ? authority.slice(at + 1) : authority;
  return host !== '';
}

/** The URL git-remote-curl would get for `url`, or null when curl does not handle it. */
function curlUrl(url: string): string | null {
  for (const p of ['http::', 'https::', 'ftp::', 'ftps::']) if (url.startsWith(p)) return url.slice(p.length);
  for (const p of ['http://', 'https://', 'ftp://', 'ftps://']) if (url.startsWith(p)) return url;
  return null;
}

/** git's url_decode: `%XX` decoded (not `%00`), everything else kept; bytes as latin1 code units. */
function urlDecode(s: string): string {
  return s.replace(/%([0-9a-fA-F]{2})/g, (m, h: string) => (parseInt(h, 16) === 0 ? m : String.fromCharCode(parseInt(h, 16))));
}

const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);
const isAlpha = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isKeyChar = (c: number) => isAlpha(c) || (c >= 0x30 && c <= 0x39) || c === 0x2d;
const lower = (c: number) => String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 32 : c);
const EOF = -1;

/**
 * Reads `buf` as git reads a config file and calls `entry` for each `section[.sub].key` (value
 * null for a bare key), in order. Returns false at the first syntax error, as git does (entries
 * before it were delivered). Bytes are latin1 code units.
 */
export function parseConfig(buf: Buffer, entry: (name: string, value: string | null) => void): boolean {
  let pos = 0;
  let eof = false;
  // git reads a blob's bytes as (signed) chars: 0xff is EOF to it, and a BOM never matches
  // (config_buf_fgetc; for files, not blobs, it skips a BOM).
  const raw = (): number => (pos < buf.length && buf[pos] !== 0xff ? buf[pos++]! : EOF);
  const next = (): number => {
    let c = raw();
    if (c === 0x0d) {
      c = raw();
      if (c !== 0x0a) {
        if (c !== EOF) pos--;
        c = 0x0d;
      }
    }
    if (c === EOF) {
      eof = true;
      c = 0x0a;
    }
    return c;
  };

  const parseValue = (): string | null => {
    let quote = false;
    let comment = false;
    let out = '';
    let trimLen = 0;
    for (;;) {
      let c = next();
      if (c === 0x0a) {
        if (quote) return null;
        if (trimLen) out = out.slice(0, trimLen);
        return out;
      }
      if (comment) continue;
      if (isSpace(c) && !quote) {
        if (!trimLen) trimLen = out.length;
        if (out.length) out += String.fromCharCode(c);
        continue;
      }
      if (!quote && (c === 0x3b || c === 0x23)) {
        comment = true;
        continue;
      }
      trimLen = 0;
      if (c === 0x5c) {
        c = next();
        if (c === 0x0a) continue;
        const esc: Record<number, string> = { 0x74: '\t', 0x62: '\b', 0x6e: '\n', 0x5c: '\\', 0x22: '"' };
        if (!(c in esc)) return null;
        out += esc[c];
        continue;
      }
      if (c === 0x22) {
        quote = !quote;
        continue;
      }
      out += String.fromCharCode(c);
    }
  };

  /** After `[`: the section name, or null on a syntax error. */
  const baseVar = (): string | null => {
    let name = '';
    for (;;) {
      const c = next();
      if (eof) return null;
      if (c === 0x5d) return name;
      if (isSpace(c)) return extendedBaseVar(name, c);
      if (!isKeyChar(c) && c !== 0x2e) return null;
      name += lower(c);
    }
  };

  const extendedBaseVar = (name: string, c: number): string | null => {
    do {
      if (c === 0x0a) return null;
      c = next();
    } while (isSpace(c));
    if (c !== 0x22) return null;
    name += '.';
    for (;;) {
      let d = next();
      if (d === 0x0a) return null;
      if (d === 0x22) break;
      if (d === 0x5c) {
        d = next();
        if (d === 0x0a) return null;
      }
      name += String.fromCharCode(d);
    }
    return next() === 0x5d ? name : null;
  };

  let comment = false;
  let section = '';
  for (;;) {
    const c = next();
    if (c === 0x0a) {
      if (eof) return true;
      comment = false;
      continue;
    }
    if (comment) continue;
    if (isSpace(c)) continue;
    if (c === 0x23 || c === 0x3b) {
      comment = true;
      continue;
    }
    if (c === 0x5b) {
      const name = baseVar();
      if (name === null || name.length < 1) return false;
      section = name + '.';
      continue;
    }
    if (!isAlpha(c)) return false;
    let key = lower(c);
    let d: number;
    for (;;) {
      d = next();
      if (eof || !isKeyChar(d)) break;
      key += lower(d);
    }
    while (d === 0x20 || d === 0x09) d = next();
    let value: string | null = null;
    if (d !== 0x0a) {
      if (d !== 0x3d) return false;
      value = parseValue();
      if (value === null) return false;
    }
    entry(section + key, value);
  }
}
