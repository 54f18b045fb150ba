import type { Script } from './fake-providers/script.js';

/** What the fakes say in the SDK conformance suites: a greeting, a weather tool loop, a JSON answer. */
export const GREETING: Script = {
  blocks: [{ type: 'text', text: 'Hello there, how can I help you today?' }],
  stop: 'end',
  usage: { input: 21, output: 9 },
};
export const WEATHER_CALL: Script = {
  blocks: [
    { type: 'text', text: 'Let me check.' },
    { type: 'tool_call', id: 'call_weather_1', name: 'get_weather', arguments: { city: 'Paris' } },
  ],
  stop: 'tool_use',
  usage: { input: 60, output: 20 },
};
export const WEATHER_ANSWER: Script = {
  blocks: [{ type: 'text', text: 'It is 21 degrees in Paris.' }],
  stop: 'end',
  usage: { input: 90, output: 12 },
};
export const WEATHER_JSON: Script = {
  blocks: [{ type: 'text', text: '{"city":"Paris","temperature":21}' }],
  stop: 'end',
  usage: { input: 30, output: 11 },
};
