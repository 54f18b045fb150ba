const ignore = (): void => undefined;

/** One owner's stores admitted and not yet landed, and the checks and releases queued on it. */
interface OwnerRoom {
  held: number;
  queued: number;
  last: Promise<void>;
}

/**
 * Stores admitted against owners' limits (a guest's `auth.guest.maxStored`) and not yet in the
 * store. A stored response is written after the provider has answered, seconds after its request
 * was checked: counting only the records stored let every request checked meanwhile through (ten
 * at once against a limit of two stored ten). Each admitted store is held here from its check
 * until it has landed, or its request ended without one, and every check counts them.
 *
 * An owner's checks and releases run one at a time, in order: a release waits for the checks under
 * way, so that one that counted the records before the store landed still counts it as held.
 */
export class StoredRoom {
  private readonly owners = new Map<string, OwnerRoom>();

  /**
   * Holds room for one store of `owner` when `fits` (told how many are held) says so: the function
   * that gives it back (once, however often it is called); undefined when it does not fit.
   */
  take(owner: string, fits: (held: number) => Promise<boolean>): Promise<(() => void) | undefined> {
    return this.queue(owner, async (room) => {
      if (!(await fits(room.held))) return undefined;
      room.held++;
      let held = true;
      return () => {
        if (!held) return;
        held = false;
        void this.queue(owner, (room) => {
          room.held--;
        });
      };
    });
  }

  private queue<T>(owner: string, step: (room: OwnerRoom) => T | Promise<T>): Promise<T> {
    let room = this.owners.get(owner);
    if (!room) {
      room = { held: 0, queued: 0, last: Promise.resolve() };
      this.owners.set(owner, room);
    }
    const current = room;
    current.queued++;
    const result = current.last.then(() => step(current));
    current.last = result.then(ignore, ignore).then(() => {
      if (--current.queued === 0 && current.held === 0) this.owners.delete(owner);
    });
    return result;
  }
}

/**
 * Room held for one stored record: given back once the record has landed, or once the request is
 * over without one.
 */
export class RoomHold {
  private saved = false;
  private ended = false;

  constructor(private readonly release: () => void) {}

  /**
   * Starts the store with `save` while the request is still on, and gives the room back once it
   * has landed or failed. A response finished after its request ended (the client gone) is not
   * stored: its room was given back, and the client never learnt its id. Undefined then.
   */
  save<T>(save: () => Promise<T>): Promise<T> | undefined {
    if (this.ended) return undefined;
    this.saved = true;
    const write = save();
    write.then(this.release, this.release);
    return write;
  }

  /** The request is over: the room goes back now, unless its record is being stored. */
  end(): void {
    this.ended = true;
    if (!this.saved) this.release();
  }
}
