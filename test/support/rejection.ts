import { expect } from 'vitest';
import { GatewayError } from '../../src/errors/gateway-error.js';

export interface Rejection {
  status: number;
  type: string;
  message: string;
  param: string | null;
  code: string | null;
}

/** The full client-facing error a validator threw, for exact assertions. */
export function rejection(fn: () => unknown): Rejection {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    const e = error as GatewayError;
    return { status: e.status, type: e.type, message: e.message, param: e.param, code: e.code };
  }
  throw new Error('expected a rejection');
}
