/**
 * What a checkout holds and what a deploy reports beyond the pusher's terminal: executable bits
 * and symlinks kept, submodules warned about, hostile tree entries refused, and every line of
 * the report also in the release's deploy log and in pyPaaS's deploy_logger_cmd.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { branchState, checkoutsOf, commitApp, logDir, newMarker, portRange, remoteLines, stopAll } from './helpers/deploy.ts';
import { assertFsckClean, gitEnv, run, serverRef, startInstance, tempDir, type Instance } from './helpers/instance.ts';

const marker = newMarker();
const ports = portRange();

describe('checkouts and deploy reports', () => {
  let inst: Instance;
  let work: string;
  let loggerFile: string;
  const url = () => `${inst.url}/hello`;
  const git = (args: string[], input?: string) => run('git', args, { cwd: work, env: gitEnv(inst.home), input });

  before(async () => {
    loggerFile = path.join(tempDir(), 'deploy-logger.txt');
    inst = await startInstance({
      slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\ndeploy_logger_cmd: cat >> ${loggerFile}\n`,
      repos: {
        hello: `branches:
  main:
    runners:
      web: {type: NginxBackend, cmd: node server.js}
    hooks: {build: ["sh build.sh", "./tool.sh", "test -L link && test \\"$(cat link)\\" = \\"$(cat version.txt)\\""]}
    env: {SLIPWAY_TEST_ID: ${marker}}
`,
      },
    });
    work = path.join(tempDir(), 'work');
    await commitApp(work, inst, 'v1');
  });
  after(() => stopAll(inst, marker));

  test('executable bits and symlinks inside are kept, links out are not written; submodules are not fetched and the pusher is told', async () => {
    fs.writeFileSync(path.join(work, 'tool.sh'), '#!/bin/sh\necho tool ran\n', { mode: 0o755 });
    fs.symlinkSync('version.txt', path.join(work, 'link'));
    fs.mkdirSync(path.join(work, 'sub'));
    fs.symlinkSync('../version.txt', path.join(work, 'sub', 'up'));
    fs.symlinkSync('/etc/passwd', path.join(work, 'passwd'));
    fs.symlinkSync('../../../../../../../etc', path.join(work, 'sub', 'etc'));
    await git(['add', '-A']);
    const sub = (await git(['rev-parse', 'HEAD'])).stdout.trim();
    await git(['update-index', '--add', '--cacheinfo', `160000,${sub},vendor/lib`]);
    await git(['commit', '-qm', 'tool, link and a submodule']);
    const r = await inst.git(['push', url(), 'main'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    const lines = remoteLines(r.stderr);
    assert.ok(lines.some((l) => l.includes("warning: submodule 'vendor/lib' is not fetched")), lines.join('\n'));
    assert.ok(lines.some((l) => l.includes('warning: symlink passwd -> /etc/passwd points outside the checkout: not written')), lines.join('\n'));
    assert.ok(lines.some((l) => l.includes('warning: symlink sub/etc -> ../../../../../../../etc points outside the checkout: not written')), lines.join('\n'));
    assert.ok(lines.some((l) => l.trim() === 'tool ran'), lines.join('\n'));
    const [checkout] = checkoutsOf(inst, 'hello', 'main');
    const dir = path.join(inst.dataDir, 'checkouts', 'hello', 'main', checkout!);
    assert.equal(fs.statSync(path.join(dir, 'tool.sh')).mode & 0o777, 0o755);
    assert.equal(fs.statSync(path.join(dir, 'server.js')).mode & 0o777, 0o644);
    assert.equal(fs.readlinkSync(path.join(dir, 'link')), 'version.txt');
    assert.equal(fs.readlinkSync(path.join(dir, 'sub', 'up')), '../version.txt');
    assert.equal(fs.lstatSync(path.join(dir, 'passwd'), { throwIfNoEntry: false }), undefined);
    assert.equal(fs.lstatSync(path.join(dir, 'sub', 'etc'), { throwIfNoEntry: false }), undefined);
    assert.equal(fs.existsSync(path.join(dir, '.git')), false);
  });

  test('the deploy report also lands in the release deploy log and in deploy_logger_cmd', async () => {
    const release = branchState(inst, 'hello', 'main').current!;
    const log = fs.readFileSync(path.join(logDir(inst, 'hello', 'main'), `deploy-${release}.log`), 'utf8');
    assert.match(log, /^-----> Checkout [0-9a-f]{12} of hello\/main as release r1$/m);
    assert.match(log, /^ +tool ran$/m);
    assert.match(log, /^hello\/main [0-9a-f]{8}: web 1\/1 on port \d+ \(/m);
    // The logger command gets the text on stdin; it may finish a moment after the push.
    for (let i = 0; i < 100 && !(fs.existsSync(loggerFile) && fs.readFileSync(loggerFile, 'utf8').includes('web 1/1')); i++) await new Promise((res) => setTimeout(res, 50));
    assert.equal(fs.readFileSync(loggerFile, 'utf8'), log);
  });

  test('a tree entry git refuses (..) is refused at the push, before anything is stored or deployed', async () => {
    const before = await serverRef(inst, 'hello', 'refs/heads/main');
    const blob = (await git(['hash-object', '-w', '--stdin'], 'owned\n')).stdout.trim();
    // git's own tools refuse to build this tree, so it is written byte by byte.
    const entry = Buffer.concat([Buffer.from('100644 ..\0'), Buffer.from(blob, 'hex')]);
    const treeFile = path.join(tempDir(), 'tree');
    fs.writeFileSync(treeFile, entry);
    const tree = (await git(['hash-object', '-w', '-t', 'tree', '--literally', treeFile])).stdout.trim();
    const commit = (await git(['commit-tree', tree, '-p', 'HEAD', '-m', 'hostile'])).stdout.trim();
    const r = await inst.git(['push', url(), `${commit}:refs/heads/main`], { cwd: work });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`\\[remote rejected\\] [0-9a-f]+ -> main \\(tree ${tree.slice(0, 12)} is malformed: hasDotdot: contains '\\.\\.' \\(entry '\\.\\.'\\)\\)`));
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/main'), before);
    assert.equal(checkoutsOf(inst, 'hello', 'main').length, 1, 'no checkout was started');
    // The hostile objects never left the quarantine: native fsck finds nothing to complain about.
    await assertFsckClean(inst, 'hello');
  });
});
