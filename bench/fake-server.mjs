// The benchmark's provider: the tests' fake OpenAI server in its own process.
import { startFakeOpenAI } from '../test/support/fake-openai.js';

const fake = await startFakeOpenAI({ keys: [process.env.BENCH_PROVIDER_KEY ?? ''] });
process.stdout.write(`${JSON.stringify({ url: fake.url })}\n`);
process.on('SIGTERM', () => fake.close().then(() => process.exit(0)));
