import { describe, expect, it } from 'vitest';
import { RoomHold, StoredRoom } from '../../src/conversations/stored-room.js';

/** A count read that answers when the test says, as a Postgres round trip does. */
function slowCount() {
  let answer: (count: number) => void = () => undefined;
  const read = new Promise<number>((resolve) => {
    answer = resolve;
  });
  return { read, answer: (count: number) => answer(count) };
}

describe('StoredRoom', () => {
  it('lets no release slip between a check’s count and its decision', async () => {
    const room = new StoredRoom();
    const limit = 2;
    // One record stored, one store admitted and in flight.
    const inFlight = await room.take('guest', async (held) => held < limit && 1 < limit - held);
    expect(inFlight).toBeDefined();
    const count = slowCount();
    const checking = room.take('guest', async (held) => held < limit && (await count.read) < limit - held);
    // The store in flight lands and gives its room back while the check is reading the count,
    // which it read before the store landed.
    inFlight!();
    count.answer(1);
    expect(await checking).toBeUndefined();
    // Once the release has gone through, the next check reads the record it became.
    expect(await room.take('guest', async (held) => held < limit && 2 < limit - held)).toBeUndefined();
  });

  it('gives room back once however often it is told, and once per hold however the request ends', async () => {
    const room = new StoredRoom();
    const fits = (limit: number) => async (held: number) => held < limit;
    const first = (await room.take('guest', fits(1)))!;
    first();
    first();
    const second = (await room.take('guest', fits(1)))!;
    expect(await room.take('guest', fits(1))).toBeUndefined();

    // Ended before its answer came: the room goes back, and the late answer is not stored.
    const late = new RoomHold(second);
    late.end();
    expect(late.save(async () => 'stored')).toBeUndefined();
    const third = (await room.take('guest', fits(1)))!;
    // Ended while its record is being written: the room goes back once the write has landed.
    const saving = new RoomHold(third);
    let land: () => void = () => undefined;
    saving.save(() => new Promise<void>((resolve) => (land = resolve)));
    saving.end();
    expect(await room.take('guest', fits(1))).toBeUndefined();
    land();
    await new Promise((resolve) => setImmediate(resolve));
    expect(await room.take('guest', fits(1))).toBeDefined();
  });
});
