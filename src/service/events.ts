import { EventEmitter } from 'node:events';
import type { DeployEvent } from '../deploy/context.ts';
import { reportInternal } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { ProcessStatus } from '../runners/supervisor.ts';

/**
 * What slipway itself does, as it happens: `logs -f` and the dashboard subscribe instead of
 * polling files. Log files stay the record; these are for whoever watches now.
 */
export type ServiceEvent =
  | DeployEvent
  | { type: 'process-started' | 'process-exited' | 'process-restarted' | 'process-crash-loop' | 'process-stopped'; process: ProcessStatus }
  | { type: 'operation'; repo: string; branch: string; what: string; user: string; phase: 'started' | 'finished'; ok?: boolean }
  | { type: 'config-applied'; repos: number; keys: number }
  | { type: 'config-refused'; problems: string[] };

export type EventType = ServiceEvent['type'];

/** A typed emitter: one listener gets every event, or only the types it names. */
export class ServiceEvents {
  private readonly ee = new EventEmitter();

  constructor(private readonly log: Logger) {
    // Every session of `logs -f` and every dashboard is one listener.
    this.ee.setMaxListeners(0);
  }

  /** Returns the function that unsubscribes. */
  on(listener: (event: ServiceEvent) => void, types?: EventType[]): () => void {
    const fn = (e: ServiceEvent) => {
      if (types && !types.includes(e.type)) return;
      // A broken listener is a bug of its own: it must not break the deploy that emitted.
      try {
        listener(e);
      } catch (err) {
        reportInternal(this.log, err, { event: e.type });
      }
    };
    this.ee.on('event', fn);
    return () => this.ee.off('event', fn);
  }

  emit(event: ServiceEvent): void {
    this.ee.emit('event', event);
  }
}
