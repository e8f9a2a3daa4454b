// The example app of a fresh slipway instance: answers every request with a greeting.
import http from 'node:http';

const port = Number(process.env.PORT || 8080);
const commit = (process.env.GIT_COMMIT || 'unknown').slice(0, 12);

http
  .createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`hello from slipway (commit ${commit})\n`);
  })
  .listen(port, '127.0.0.1', () => console.log(`hello listening on 127.0.0.1:${port}`));
