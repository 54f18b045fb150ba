/**
 * What the gateway holds open, released newest first: what started later may still use what
 * started before it (the usage recorder writes to the store), as Fastify's onClose hooks run child
 * before parent. One stack serves a start that fails half-way and a normal close().
 */
export class Resources {
  private readonly stack: { name: string; close: () => unknown }[] = [];

  add(name: string, close: () => unknown): void {
    this.stack.push({ name, close });
  }

  /** Releases everything, newest first; a failure does not stop the rest, and the first is thrown. */
  async closeAll(): Promise<void> {
    let failure: unknown;
    for (let entry = this.stack.pop(); entry; entry = this.stack.pop()) {
      try {
        await entry.close();
      } catch (error) {
        failure ??= new Error(`closing ${entry.name} failed: ${(error as Error).message}`, { cause: error });
      }
    }
    if (failure !== undefined) throw failure;
  }
}
