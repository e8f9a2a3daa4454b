import { fsckObject, type SpecialBlob } from './fsck.ts';
import type { ObjectType } from './objects.ts';
import { OidTable } from './oid-table.ts';
import { typeCode, typeName } from './pack-format.ts';
import { messageBytes, type PushLimits } from './push-limits.ts';

/** What a link says its target must be (flags of `ids`): one bit per type code 1-4, as the connectivity walk expects. */
const mustBe = (code: number) => 1 << (code - 1);
const NAMED = 16; // named by some link, whatever it must be

/**
 * The fsck and link checks of a pushed pack, made while the indexer holds each object it has
 * just resolved, so a sound push needs no second pass over its history (which re-inflated every
 * commit and tree through its delta chain: half the time of a whole-history push).
 *
 * It only answers "all sound" or "look closer": a pack with any object git would refuse, a link
 * to an object neither the pack nor the repo has, a link to an object of the wrong type, a
 * bound crossed, or an object too large to have been checked here is not `sound`, and the push
 * is then judged ref by ref by the walk (PushCheck), which names the problem and the refs it
 * touches.
 */
export class PackObjectCheck {
  /**
   * Every id a pushed object names, flagged with what it must be. The indexer keeps the pack's
   * own ids in it too (its values), since they are mostly the same ids.
   */
  readonly ids = new OidTable();
  /** git fsck warnings (message id → objects) among the pushed objects */
  readonly warnings = new Map<string, number>();
  /** blobs pushed trees name `.gitmodules` or `.gitattributes`: checked once every object is in */
  readonly special: SpecialBlob[] = [];
  /** why the pack needs the closer look, while sound so far: null */
  doubt: string | null = null;
  private readonly hexLink = Buffer.allocUnsafe(20);

  constructor(private readonly limits?: PushLimits) {}

  /** One pushed object, resolved (`code` 1-4: commit, tree, blob, tag). */
  object(code: number, data: Buffer): void {
    if (this.doubt || code === 3) return;
    if ((code === 1 || code === 4) && this.limits && messageBytes(data) > this.limits.maxMessageBytes) return this.doubt_('a message above its bound');
    let entries = 0;
    const report = fsckObject(typeName(code)!, data, (mode, at) => {
      entries++;
      const kind = mode & 0o170000;
      if (kind === 0o040000) this.link(data, at, mustBe(2));
      else if (kind === 0o100000 || kind === 0o120000) this.link(data, at, 0);
      // anything else is a submodule commit, which lives in another repo
    });
    if (report.error) return this.doubt_('an object git fsck refuses');
    if (this.limits && entries > this.limits.maxTreeEntries) return this.doubt_('a tree above its bound');
    for (const id of report.warnings) this.warnings.set(id, (this.warnings.get(id) ?? 0) + 1);
    for (const s of report.special) this.special.push(s);
    if (code === 1) this.commitLinks(data);
    else if (code === 4) this.tagLinks(data);
  }

  /** A pushed commit, tree or tag the indexer could not hand over whole (a large one). */
  unchecked(): void {
    this.doubt_('an object too large to check while indexing');
  }

  /**
   * Once every pushed object is indexed: each link must reach an object of the pack (of the
   * type the link names) or one the repo had. `typeInPack` gives the type code in the pack of
   * the id at index `k` of `ids`, 0 when the pack lacks it.
   */
  verifyLinks(typeInPack: (k: number) => number, had: (oid: string) => boolean): void {
    for (let k = 0; k < this.ids.size && !this.doubt; k++) {
      if (!(this.ids.flags[k]! & NAMED)) continue;
      const code = typeInPack(k);
      const must = this.ids.flags[k]! & ~NAMED;
      if (code === 0) {
        if (!had(this.ids.hex(k))) this.doubt_('a link to a missing object');
      } else if (must !== 0 && must !== mustBe(code)) this.doubt_('a link to an object of another type');
    }
  }

  private doubt_(why: string): void {
    this.doubt ??= why;
  }

  private link(src: Buffer, at: number, must: number): void {
    const k = this.ids.insert(src, at);
    this.ids.flags[k]! |= must | NAMED;
  }

  private linkHex(hex: string, must: number): void {
    this.hexLink.write(hex, 0, 20, 'hex');
    this.link(this.hexLink, 0, must);
  }

  /** fsck has checked the header: `tree <hex>` then `parent <hex>` lines. */
  private commitLinks(data: Buffer): void {
    this.linkHex(data.toString('latin1', 5, 45), mustBe(2));
    for (let p = 46; data.toString('latin1', p, p + 7) === 'parent '; p += 48) this.linkHex(data.toString('latin1', p + 7, p + 47), mustBe(1));
  }

  /** fsck has checked the header: `object <hex>` then `type <name>`, a name of the four. */
  private tagLinks(data: Buffer): void {
    const eol = data.indexOf(0x0a, 53);
    this.linkHex(data.toString('latin1', 7, 47), mustBe(typeCode(data.toString('latin1', 53, eol) as ObjectType)));
  }
}
