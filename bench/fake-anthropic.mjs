// The benchmark's Anthropic provider: answers POST /v1/messages at once with a fixed Message, or
// with Anthropic's event sequence when `"stream": true`. Checks the key and version headers like
// the real API; nothing else (the tests' fakes in test/support/fake-providers are the faithful ones).
import { createServer } from 'node:http';

const key = process.env.BENCH_PROVIDER_KEY ?? '';
const usage = {
  input_tokens: 9,
  output_tokens: 6,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
};
const message = (model) => ({
  id: 'msg_bench',
  type: 'message',
  role: 'assistant',
  model,
  content: [{ type: 'text', text: 'Hello! How can I help?' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage,
});
const event = (type, data) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
const stream = (model) =>
  event('message_start', {
    message: { ...message(model), content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } },
  }) +
  event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
  event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hello! ' } }) +
  event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'How can I help?' } }) +
  event('content_block_stop', { index: 0 }) +
  event('message_delta', {
    delta: { stop_reason: 'end_turn', stop_sequence: null },
    usage: { output_tokens: 6 },
  }) +
  event('message_stop', {});

const server = createServer((req, res) => {
  let raw = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => {
    raw += chunk;
  });
  req.on('end', () => {
    if (req.headers['x-api-key'] !== key || !req.headers['anthropic-version']) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}');
      return;
    }
    const body = JSON.parse(raw);
    if (body.stream === true) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(stream(body.model));
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(message(body.model)));
    }
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
