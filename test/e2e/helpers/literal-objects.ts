import assert from 'node:assert/strict';
import { gitEnv, run } from './instance.ts';

/**
 * Native git in a work repo for crafted pushes: `g` runs a git command that must succeed and
 * returns its output; `literally` writes an object exactly as given, as
 * `git hash-object --literally` does (mktree would normalise or refuse some).
 */
export function literalGit(cwd: () => string, home: () => string) {
  const g = async (args: string[], input?: string | Buffer): Promise<string> => {
    const r = await run('git', args, { cwd: cwd(), env: gitEnv(home()), input });
    assert.equal(r.code, 0, `git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const literally = (type: string, data: Buffer) => g(['hash-object', '-w', '--literally', '-t', type, '--stdin'], data);
  return { g, literally };
}

/** One raw tree entry: `<mode> <name>\0<20-byte oid>`. */
export function treeEntry(mode: string, name: string, oid: string): Buffer {
  return Buffer.concat([Buffer.from(`${mode} ${name}\0`, 'utf8'), Buffer.from(oid, 'hex')]);
}
