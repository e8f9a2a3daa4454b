import type { Pusher } from '../deploy/report.ts';
import type { BranchInfo } from './model.ts';
import type { Overlay, OutputPane } from './overlays.ts';

/** Lines an action's pane keeps. */
const KEEP_OUTPUT = 1000;

/**
 * What an action key opens on a branch: the question for restart and rebuild, the list of kept
 * releases for rollback, of custom commands for `c`. Nothing runs before a `y`.
 */
export function actionOverlay(b: BranchInfo, key: string): Overlay | null {
  const where = `${b.repo}/${b.branch}`;
  switch (key) {
    case 'r':
      return { kind: 'confirm', question: `restart ${where}?`, argv: ['restart', b.repo, b.branch] };
    case 'b':
      return { kind: 'confirm', question: `rebuild ${where}?`, argv: ['rebuild', b.repo, b.branch] };
    case 'R': {
      const items = b.releases
        .filter((r) => r.id !== b.current)
        .reverse()
        .map((r) => ({ label: `${r.id}  ${r.commit.slice(0, 7)}  by ${r.user}`, argv: ['rollback', b.repo, b.branch, r.id], question: `roll ${where} back to ${r.id} (${r.commit.slice(0, 7)})?` }));
      return { kind: 'choose', title: `rollback ${where} to`, items, index: 0 };
    }
    case 'c': {
      const items = b.customCmds.map((c) => ({ label: c, argv: ['custom_cmds', b.repo, b.branch, c], question: `run '${c}' on ${where}?` }));
      return { kind: 'choose', title: `command on ${where}`, items, index: 0 };
    }
    default:
      return null;
  }
}

/**
 * Runs a confirmed command and streams its output, line by line, into a new pane; `changed` is
 * called after each line (`done: false`) and once when it has ended (`done: true`).
 */
export function runInPane(title: string, argv: string[], run: (argv: string[], out: Pusher) => Promise<number>, guard: <A extends unknown[]>(fn: (...args: A) => void) => (...args: A) => void, changed: (done: boolean) => void): OutputPane {
  const pane: OutputPane = { kind: 'output', title, lines: [], running: true };
  let partial = '';
  const out: Pusher = guard((text: string) => {
    const parts = (partial + text).split(/\r?\n/);
    partial = parts.pop() ?? '';
    for (const p of parts) pane.lines.push(cleanForPane(p));
    if (pane.lines.length > KEEP_OUTPUT) pane.lines.splice(0, pane.lines.length - KEEP_OUTPUT);
    changed(false);
  });
  out.backlog = () => 0;
  void run(argv, out)
    .then(
      (code) => (code === 0 ? 'done' : `exited ${code}`),
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    )
    .then(
      guard((end: string) => {
        if (partial) pane.lines.push(cleanForPane(partial));
        pane.lines.push('', `${end}; Enter or Esc closes this`);
        pane.running = false;
        changed(true);
      }),
    );
  return pane;
}

function cleanForPane(s: string): string {
  return s.replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '?');
}
