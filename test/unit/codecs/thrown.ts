import { StreamFailure, UnsupportedFeature } from '../../../src/canonical/model.js';

/** What a codec refused, for exact assertions: its message and the field it named. */
export function refusal(run: () => unknown): { message: string; param: string | undefined } {
  try {
    run();
  } catch (error) {
    if (error instanceof UnsupportedFeature) return { message: error.message, param: error.param };
    throw error;
  }
  throw new Error('expected an UnsupportedFeature');
}

/** How a stream decoder failed, for exact assertions. */
export function streamFailure(run: () => unknown): {
  reason: string;
  message: string;
  status: number | undefined;
} {
  try {
    run();
  } catch (error) {
    if (error instanceof StreamFailure)
      return { reason: error.reason, message: error.message, status: error.status };
    throw error;
  }
  throw new Error('expected a StreamFailure');
}
