/**
 * `work`, or a rejection with what `late` makes once `ms` have passed without it settling. The
 * timer is cleared either way; `work` is not stopped (abort it from `late` where it takes a signal).
 */
export function within<T>(work: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
