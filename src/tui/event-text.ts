import type { ServiceEvent } from '../service/events.ts';

/** One line of what slipway did, for the log pane. */
export function describeEvent(e: ServiceEvent): string {
  switch (e.type) {
    case 'deploy-started':
      return `deploy ${e.release} of ${e.commit.slice(0, 7)} started by ${e.user}`;
    case 'deploy-step':
      return `deploy ${e.release}: ${e.step}${e.detail ? ` ${e.detail}` : ''}`;
    case 'deploy-finished':
      return `deploy ${e.release} ${e.ok ? 'finished' : `failed: ${e.error ?? 'unknown'}`} (${(e.ms / 1000).toFixed(1)} s)`;
    case 'process-started':
      return `${e.process.runner}.${e.process.index} started (pid ${e.process.pid ?? '-'})`;
    case 'process-exited':
      return `${e.process.runner}.${e.process.index} exited; restarting`;
    case 'process-restarted':
      return `${e.process.runner}.${e.process.index} restarted (pid ${e.process.pid ?? '-'})`;
    case 'process-crash-loop':
      return `${e.process.runner}.${e.process.index} is crash-looping`;
    case 'operation':
      return `${e.what} by ${e.user} ${e.phase === 'started' ? 'started' : e.ok ? 'finished' : 'failed'}`;
    case 'process-stopped':
      return `${e.process.runner}.${e.process.index} stopped`;
    case 'config-applied':
      return 'config applied';
    case 'config-refused':
      return `config on disk refused: ${e.problems[0] ?? ''}`;
  }
}
