const HOUR_MS = 3_600_000;
const pacificHour = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/Los_Angeles',
  hour: 'numeric',
  hourCycle: 'h23',
});

/**
 * The next midnight in Pacific time after `now`, found apart from the gateway's arithmetic: the
 * first whole UTC hour (Pacific's offsets are whole hours) at which Pacific's clock reads 0 h.
 */
export function nextPacificMidnight(now: number): number {
  let at = Math.floor(now / HOUR_MS) * HOUR_MS + HOUR_MS;
  while (Number(pacificHour.format(at)) !== 0) at += HOUR_MS;
  return at;
}
