import Fastify from 'fastify';
import { Pool } from 'undici';
const upstream = process.env.BENCH_UPSTREAM;
const key = process.env.BENCH_PROVIDER_KEY;
const pool = new Pool(upstream, { connections: 128, pipelining: 1 });
const app = Fastify({ logger: false });
app.post('/v1/chat/completions', async (request, reply) => {
  const answer = await pool.request({
    method: 'POST',
    path: '/v1/chat/completions',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(request.body),
  });
  const text = await answer.body.text();
  JSON.parse(text);
  return reply.code(answer.statusCode).header('content-type', 'application/json').send(text);
});
await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${app.server.address().port}` })}\n`);
process.on('SIGTERM', () => process.exit(0));
