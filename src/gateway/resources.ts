/**
 * What the gateway holds open, released newest first: what started later may still use what
 * started before it (the usage recorder writes to the store), as Fastify's onClose hooks run child
 * before parent. One stack serves a start that fails half-way and a normal close().
 */
export class Resources {
  private readonly stack: { name: string; close: (deadline: number) => unknown }[] = [];

  /** `close` gets the epoch ms by which the shutdown should be over, for waits worth making. */
  add(name: string, close: (deadline: number) => unknown): void {
    this.stack.push({ name, close });
  }

  /**
   * Releases everything, newest first, by `deadline` (default: now, nothing to wait for); a failure
   * does not stop the rest, and every failure is named in the one error thrown.
   */
  async closeAll(deadline = Date.now()): Promise<void> {
    const failures: string[] = [];
    let first: unknown;
    for (let entry = this.stack.pop(); entry; entry = this.stack.pop()) {
      try {
        await entry.close(deadline);
      } catch (error) {
        first ??= error;
        failures.push(`closing ${entry.name} failed: ${(error as Error).message}`);
      }
    }
    if (failures.length > 0) throw new Error(failures.join('; '), { cause: first });
  }
}
