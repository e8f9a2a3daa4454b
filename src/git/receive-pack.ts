import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from '../lib/log.ts';
import { PushCheck } from './connectivity.ts';
import { IncomingPack } from './incoming-pack.ts';
import type { ChannelWriter, StreamReader } from './io.ts';
import { ObjectStore } from './object-store.ts';
import { packReads } from './pack-file.ts';
import { PackError } from './pack-indexer.ts';
import { indexPushedPack, type PushedPack } from './index-off-thread.ts';
import { pinObjects } from './pins.ts';
import { keepOnly } from './quarantine-filter.ts';
import { encodePkt, FLUSH, PktLineError, pktText } from './pktline.ts';
import { listRefs, RefTransaction, RefUpdateError, ZERO_OID, type RefChange } from './refs.ts';
import { Quarantine } from './repo.ts';
import { requestedVersion } from './protocol-version.ts';
import { LimitError, formatBytes, refsPerPushRefusal, refsPerRepoRefusal, type PushLimits } from './push-limits.ts';
import { pushedRefNameError } from '../lib/ref-name.ts';
import { printable } from '../lib/text.ts';

const CAPABILITIES = 'report-status delete-refs side-band-64k quiet atomic ofs-delta agent=slipway/0.1 object-format=sha1';

export interface RefUpdateContext {
  change: RefChange;
  /** Reads the repo's objects, the pushed ones included. */
  store: ObjectStore;
  /** A line for the pusher's terminal (shown as `remote: …`). */
  progress: (line: string) => void;
}

export interface ReceivePackOptions {
  gitDir: string;
  /** the client's GIT_PROTOCOL: `version=1` gets the version line; push has no v2, so v2 gets v0 */
  protocol?: string;
  maxPackBytes: number;
  limits: PushLimits;
  /** Ref policy: a refusal message, or null when this user may make this change. */
  authorize: (change: RefChange) => string | null;
  /** Called once per accepted ref update, awaited before the ref moves: a refusal message, or null. */
  onRefUpdate: (ctx: RefUpdateContext) => Promise<string | null>;
  /** An atomic push failed after this update's callback accepted it: undo what the callback did. */
  onRefUpdateUndone: (ctx: RefUpdateContext) => Promise<void>;
  log: Logger;
}

interface Command extends RefChange {
  /** the `ng` reason, once refused */
  error?: string;
}

/** Parses `old new ref` lines; the first one carries capabilities after a NUL. */
export function parseCommandLine(line: string): { change: RefChange; caps: string[] } {
  const [cmd, capsPart] = line.split('\0', 2) as [string, string | undefined];
  // The name is taken as sent (as git does) and judged later, so a bad one gets its own `ng`.
  const m = /^([0-9a-f]{40}) ([0-9a-f]{40}) ([^\0]+)$/.exec(cmd);
  if (!m) throw new PktLineError(`malformed push command '${printable(cmd, 100)}'`);
  return { change: { old: m[1]!, new: m[2]!, ref: m[3]! }, caps: capsPart ? capsPart.trim().split(/\s+/).filter(Boolean) : [] };
}

/** Serves one push; resolves to its ref updates, each with the `ng` reason report-status gave, if any. */
export async function serveReceivePack(reader: StreamReader, w: ChannelWriter, opts: ReceivePackOptions): Promise<(RefChange & { error?: string })[]> {
  const refs = listRefs(opts.gitDir);
  // The client leaves out of its pack what these refs reach: a gc meanwhile must keep it.
  const unpin = pinObjects(opts.gitDir, refs.values());
  try {
    return await receive(reader, w, opts, refs);
  } finally {
    unpin();
  }
}

async function receive(reader: StreamReader, w: ChannelWriter, opts: ReceivePackOptions, refs: Map<string, string>): Promise<(RefChange & { error?: string })[]> {
  if (requestedVersion(opts.protocol) === 1) await w.pkt('version 1\n');
  await advertise(w, refs);

  const commands: Command[] = [];
  let caps: string[] = [];
  for (;;) {
    const p = await reader.readPkt();
    if (p.kind === 'flush') break;
    if (p.kind !== 'data') throw new PktLineError('unexpected special packet in push commands');
    const text = pktText(p);
    if (text.startsWith('shallow ')) continue; // a shallow pusher: connectivity is checked anyway
    const parsed = parseCommandLine(text);
    // Stop reading at the bound: what lies beyond it is never held.
    const tooMany = refsPerPushRefusal(commands.length + 1, opts.limits);
    if (tooMany) throw new LimitError(tooMany);
    if (commands.length === 0) caps = parsed.caps;
    commands.push(parsed.change);
    // Buffered lines parse without ever waiting: let other sessions in now and then.
    if (commands.length % 256 === 0) await new Promise((r) => setImmediate(r));
  }
  if (commands.length === 0) return commands; // ls-remote style: nothing to do

  w.sideband = caps.includes('side-band-64k');
  const reportStatus = caps.includes('report-status');
  const atomic = caps.includes('atomic');
  const quiet = caps.includes('quiet');
  const progress = (line: string) => w.progress(line.endsWith('\n') ? line : line + '\n');

  // How long other sessions waited at worst while this push ran (the whole process shares one loop).
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const quarantine = new Quarantine(opts.gitDir);
  const tx = new RefTransaction(opts.gitDir);
  let unpackStatus = 'ok';
  try {
    const needsPack = commands.some((c) => c.new !== ZERO_OID);
    const received = needsPack ? await receivePack(reader, quarantine, opts, quiet ? () => {} : progress) : null;
    if (typeof received === 'string') {
      unpackStatus = received;
      opts.log.info('pack refused', { reason: received });
      for (const c of commands) c.error = 'unpacker error';
      w.error(`error: ${received}`);
    } else {
      await processCommands(commands, received, quarantine, tx, opts, progress, atomic, () => w.gone);
    }
  } catch (err) {
    tx.abort();
    quarantine.discard();
    loopDelay.disable();
    throw err;
  }
  tx.abort();
  quarantine.discard();
  loopDelay.disable();
  opts.log.debug('push processed', { refs: commands.length, loop_delay_max_ms: Math.round(loopDelay.max / 1e6) });

  if (reportStatus) {
    const lines = [`unpack ${unpackStatus}\n`, ...commands.map((c) => (c.error ? `ng ${c.ref} ${c.error}\n` : `ok ${c.ref}\n`))];
    const body = Buffer.concat([...lines.map((l) => encodePkt(l)), FLUSH]);
    await w.data(body);
    if (w.sideband) await w.flush();
  }
  return commands;
}

async function advertise(w: ChannelWriter, refMap: Map<string, string>): Promise<void> {
  const refs = [...refMap];
  if (refs.length === 0) {
    await w.pkt(`${ZERO_OID} capabilities^{}\0${CAPABILITIES}\n`);
  } else {
    let first = true;
    for (const [name, oid] of refs) {
      await w.pkt(first ? `${oid} ${name}\0${CAPABILITIES}\n` : `${oid} ${name}\n`);
      first = false;
    }
  }
  await w.flush();
}

/**
 * Indexes the pack into the quarantine while it arrives, and stops reading where it ends.
 * Returns what was indexed, or a pusher-facing error.
 */
async function receivePack(
  reader: StreamReader,
  quarantine: Quarantine,
  opts: ReceivePackOptions,
  progress: (line: string) => void,
): Promise<PushedPack | string> {
  const tmp = path.join(quarantine.packDir, 'tmp_incoming.pack');
  const fd = fs.openSync(tmp, 'w');
  const limit = `pack exceeds the limit of ${formatBytes(opts.maxPackBytes)} (limits.max_pack_size)`;
  try {
    const source = new IncomingPack(fd, reader, opts.maxPackBytes, limit);
    const job = { packPath: tmp, destDir: quarantine.packDir, storeDirs: [quarantine.dir, path.join(opts.gitDir, 'objects')], limits: opts.limits };
    const result = await indexPushedPack(job, source, progressReporter(progress));
    opts.log.info('pack received', { bytes: source.bytes, objects: result.objectCount, thin_bases: result.appendedBases, off_thread: result.offThread, doubt: result.check.doubt ?? undefined });
    return result;
  } catch (err) {
    if (err instanceof PackError) return err.message;
    throw err;
  } finally {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
  }
}

function progressReporter(progress: (line: string) => void): (phase: string, done: number, total: number) => void {
  let last = 0;
  return (phase, done, total) => {
    const now = Date.now();
    if (done !== total && now - last < 250) return;
    last = now;
    const pct = total ? Math.floor((done * 100) / total) : 100;
    progress(`${phase}: ${pct}% (${done}/${total})${done === total ? ', done.' : ''}`);
  };
}

async function processCommands(
  commands: Command[],
  received: PushedPack | null,
  quarantine: Quarantine,
  tx: RefTransaction,
  opts: ReceivePackOptions,
  progress: (line: string) => void,
  atomic: boolean,
  clientGone: () => boolean,
): Promise<void> {
  const objectsDir = path.join(opts.gitDir, 'objects');
  const store = new ObjectStore([quarantine.dir, objectsDir]);
  const known = new ObjectStore([objectsDir]);
  const had = (oid: string) => known.has(oid);
  const check = new PushCheck(store, had, opts.limits);
  let refCount = -1; // counted once, if the push creates refs
  const reads0 = { ...packReads };
  try {
    // Policy and locks first, so the objects walked are exactly those of refs that may move.
    let n = 0;
    const locked: Command[] = [];
    for (const c of commands) {
      // Thousands of refs are linear work, but without a pause it would hold every other session.
      if (++n % 16 === 0) await new Promise((r) => setImmediate(r));
      const nameError = pushedRefNameError(c.ref, { deleting: c.new === ZERO_OID });
      if (nameError) {
        c.error = 'invalid ref name';
        progress(`error: refusing ref ${printable(c.ref)}: the name ${nameError} (see git help check-ref-format)`);
        opts.log.info('ref name refused', { ref: printable(c.ref), reason: nameError });
        continue;
      }
      c.error = opts.authorize(c) ?? undefined;
      if (c.error) continue;
      if (c.old === ZERO_OID && c.new !== ZERO_OID) {
        if (refCount < 0) refCount = listRefs(opts.gitDir).size;
        if (refCount + 1 > opts.limits.maxRefsPerRepo) {
          c.error = refsPerRepoRefusal(opts.limits);
          continue;
        }
        refCount++;
      }
      try {
        tx.lock(c);
      } catch (err) {
        if (!(err instanceof RefUpdateError)) throw err;
        c.error = err.message;
        continue;
      }
      locked.push(c);
    }
    // A pack the indexer found sound throughout, with every ref of the push still standing, needs
    // no walk: each new tip is in the pack (all it reaches is there and sound) or was in the repo.
    const sound = locked.length === commands.length && (received === null || (received.check.doubt === null && check.checkSpecialBlobs(received.check.special, new Map()) === null));
    for (const c of locked) {
      if (++n % 16 === 0) await new Promise((r) => setImmediate(r));
      c.error = (await validateTarget(c, store, sound ? null : check)) ?? undefined;
      if (c.error) tx.release(c.ref);
    }
    if (sound && locked.some((c) => c.error && c.new !== ZERO_OID)) {
      // A refused tip makes the pushed objects suspect after all (see keepOnly): walk the others to learn what they keep.
      for (const c of locked) if (!c.error && c.new !== ZERO_OID) c.error = (await check.check(c.new)) ?? undefined;
    }
    opts.log.debug('pushed objects checked', { walked: !sound, objects_read: check.objectsRead, kept: check.kept.size, pack_reads: packReads.calls - reads0.calls, pack_bytes_read: packReads.bytes - reads0.bytes });
    if (atomic && failAtomic(commands)) return;
    if (commands.every((c) => c.error)) return;
    const warnings = sound && received ? received.check.warnings : check.warnings;
    if (warnings.size > 0) {
      opts.log.info('pushed objects carry git fsck warnings (accepted, as git does)', Object.fromEntries(warnings));
    }
    // Only a refused ref makes pushed objects suspect; without one the pack stays as sent (as in
    // git, objects no ref reaches wait for gc), so no pack is rewritten on the event loop.
    if (received?.objectCount && commands.some((c) => c.error && c.new !== ZERO_OID)) {
      store.close();
      const dropped = await keepOnly(quarantine, received, check.kept, had, objectsDir);
      if (dropped > 0) opts.log.info('objects only refused refs reach were dropped', { objects: dropped });
    }

    // The checked objects join the repo before the callbacks (deploys) run: if the gateway dies
    // after a deploy switched, the commit that runs is in the repo and the ref can follow it.
    // An update a callback refuses leaves only unreferenced objects behind.
    quarantine.migrate(objectsDir);
    known.refresh();
    const accepted: Command[] = [];
    for (const c of commands) {
      if (c.error) continue;
      if (++n % 16 === 0) await new Promise((r) => setImmediate(r));
      const refusal = await opts.onRefUpdate({ change: c, store: known, progress });
      if (refusal) {
        c.error = refusal;
        tx.release(c.ref);
      } else accepted.push(c);
      if (atomic && failAtomic(commands)) {
        for (const a of accepted) await opts.onRefUpdateUndone({ change: a, store: known, progress });
        return;
      }
    }
    if (commands.every((c) => c.error)) return;
    if (clientGone()) {
      // It cannot learn the outcome: moving refs now would report failure for a push that landed.
      opts.log.info('client went away before report-status; no ref moved');
      for (const a of accepted) await opts.onRefUpdateUndone({ change: a, store: known, progress });
      for (const c of commands) c.error ??= 'client went away';
      return;
    }
    await tx.commitPausing(() => new Promise((r) => setImmediate(r)));
  } finally {
    store.close();
    known.close();
  }
}

/** When one ref of an atomic push fails, all fail. Returns true when that happened. */
function failAtomic(commands: Command[]): boolean {
  if (!commands.some((c) => c.error)) return false;
  for (const c of commands) c.error ??= 'atomic push failure';
  return true;
}

/** What is wrong with a ref's new tip; `check` walks what it brings, null when the pack is known sound. */
async function validateTarget(c: Command, store: ObjectStore, check: PushCheck | null): Promise<string | null> {
  if (c.new === ZERO_OID) return null;
  const type = store.typeOf(c.new);
  if (!type) return 'missing necessary objects';
  if (c.ref.startsWith('refs/heads/') && type !== 'commit') return `not a commit (${type}); branches must point at commits`;
  return check ? check.check(c.new) : null;
}
