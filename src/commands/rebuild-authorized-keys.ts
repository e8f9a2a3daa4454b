import { defineCommand } from './types.ts';

/** pyPaaS rewrote ~/.ssh/authorized_keys from its keys; slipway reads keys/ itself, so there is nothing to rebuild. */
export const rebuildAuthorizedKeys = defineCommand({
  name: 'rebuild_authorized_keys',
  usage: '',
  summary: "pyPaaS's command: nothing to do, keys/ is read live",
  argCounts: [0],
  needs: null,
  async run(ctx) {
    ctx.out("nothing to rebuild: slipway checks keys itself against the config dir's keys/<user>.pub, read live at every config reload; there is no authorized_keys file\n");
    return 0;
  },
});
