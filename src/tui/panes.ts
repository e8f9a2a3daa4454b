import blessed from 'blessed';

const TREE_WIDTH = '38%';
const POP_HEIGHT = '70%';

/** How the screen is divided: the log pane takes 40 % of the body (at least 5 rows), or all of it full-screen. */
function splitBody(rows: number, fullLog: boolean): { topHeight: number; logHeight: number } {
  const body = rows - 2;
  const logHeight = fullLog ? body : Math.max(5, Math.floor(body * 0.4));
  return { topHeight: body - logHeight, logHeight };
}

/**
 * The dashboard's widgets (header, tree, details, log pane, footer and a pop-up) and the only
 * way to change them: each setter compares with what was set last, and `render` draws only when
 * something differs, so a refresh that changes nothing sends nothing to the client.
 */
export class Panes {
  readonly head: blessed.Widgets.BoxElement;
  readonly tree: blessed.Widgets.BoxElement;
  readonly details: blessed.Widgets.BoxElement;
  readonly log: blessed.Widgets.BoxElement;
  readonly foot: blessed.Widgets.BoxElement;
  readonly pop: blessed.Widgets.BoxElement;

  private dirty = true;
  private readonly labels = new Map<blessed.Widgets.BoxElement, string>();
  private readonly contents = new Map<blessed.Widgets.BoxElement, string>();

  constructor(private readonly screen: blessed.Widgets.Screen) {
    const box = (opts: blessed.Widgets.BoxOptions) => blessed.box({ parent: screen, tags: true, wrap: false, ...opts });
    this.head = box({ top: 0, left: 0, width: '100%', height: 1, style: { bg: 'blue', fg: 'white' } });
    this.tree = box({ top: 1, left: 0, width: TREE_WIDTH, border: { type: 'line' }, label: ' apps ' });
    this.details = box({ top: 1, left: TREE_WIDTH, width: `${100 - parseInt(TREE_WIDTH)}%`, border: { type: 'line' }, label: ' details ' });
    this.log = box({ left: 0, width: '100%', border: { type: 'line' }, label: ' logs ' });
    this.foot = box({ bottom: 0, left: 0, width: '100%', height: 1, style: { bg: 'black', fg: 'white' } });
    this.pop = box({ top: 'center', left: 'center', width: '80%', height: POP_HEIGHT, border: { type: 'line' }, hidden: true, style: { bg: 'black', border: { fg: 'cyan' } } });
  }

  get cols(): number {
    return this.screen.width as number;
  }

  get rows(): number {
    return this.screen.height as number;
  }

  /** The rows and columns inside a pane's border. */
  inner(el: blessed.Widgets.BoxElement): { width: number; height: number } {
    return { width: Math.max(1, (el.width as number) - 2), height: Math.max(1, (el.height as number) - 2) };
  }

  /** The next render draws everything (after a resize, blessed has cleared the screen). */
  invalidate(): void {
    this.dirty = true;
  }

  /** Tree and details over the log pane, or the log pane alone under the header. */
  arrange(fullLog: boolean): void {
    const { topHeight, logHeight } = splitBody(this.rows, fullLog);
    for (const el of [this.tree, this.details]) {
      this.visible(el, !fullLog);
      if (!fullLog) this.layout(el, 'height', topHeight);
    }
    this.layout(this.log, 'top', 1 + (fullLog ? 0 : topHeight));
    this.layout(this.log, 'height', logHeight);
  }

  put(el: blessed.Widgets.BoxElement, content: string): void {
    if (this.contents.get(el) === content) return;
    this.contents.set(el, content);
    el.setContent(content);
    this.dirty = true;
  }

  label(el: blessed.Widgets.BoxElement, text: string): void {
    if (this.labels.get(el) === text) return;
    this.labels.set(el, text);
    el.setLabel(text);
    this.dirty = true;
  }

  visible(el: blessed.Widgets.BoxElement, shown: boolean): void {
    if (el.visible === shown) return;
    if (shown) el.show();
    else el.hide();
    this.dirty = true;
  }

  /** the pop-up's height as last set: a number of rows, or the default share of the screen */
  private popHeight: number | string = POP_HEIGHT;

  /** Shows the pop-up in front of everything, `rows` tall (at most the body) or of the default size. */
  popUp(shown: boolean, rows?: number): void {
    if (shown && !this.pop.visible) this.pop.setFront();
    this.visible(this.pop, shown);
    const height = rows === undefined ? POP_HEIGHT : Math.min(rows, this.rows - 2);
    if (!shown || height === this.popHeight) return;
    this.popHeight = height;
    this.pop.height = height;
    this.dirty = true;
  }

  render(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.screen.render();
  }

  private layout(el: blessed.Widgets.BoxElement, key: 'top' | 'height', value: number): void {
    if (el[key] === value) return;
    el[key] = value;
    this.dirty = true;
  }
}
