// The Node floor: the least a proxy can do — forward every request to the provider through an
// undici Pool with the provider key, piping bodies both ways. No parsing, no checks.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const upstream = process.env.BENCH_UPSTREAM;
const key = process.env.BENCH_PROVIDER_KEY;
// In front of the fake Anthropic provider the key travels as Anthropic's SDK sends it.
const auth =
  process.env.BENCH_KEY_HEADER === 'x-api-key'
    ? { 'x-api-key': key, 'anthropic-version': '2023-06-01' }
    : { authorization: `Bearer ${key}` };
const pool = new Pool(upstream, { connections: 128, pipelining: 1 });

const server = createServer(async (req, res) => {
  try {
    const answer = await pool.request({
      method: req.method,
      path: req.url,
      headers: { 'content-type': 'application/json', ...auth },
      body: req,
    });
    res.writeHead(answer.statusCode, {
      'content-type': answer.headers['content-type'] ?? 'application/json',
    });
    for await (const chunk of answer.body) res.write(chunk);
    res.end();
  } catch {
    res.writeHead(502).end();
  }
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
