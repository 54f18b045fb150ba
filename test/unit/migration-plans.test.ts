import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SQLITE_MIGRATIONS } from '../../src/store/migrations.js';

/**
 * A migration that reads one table per row of another finds each row by its key: matched on an
 * expression of the key (`'ses_' || sessions.id = usage.token_id`), the backfill of
 * `usage.session_creator` scanned every session for every session usage row, 22 s for 30,000 of
 * each, in the write transaction that holds every other instance's start.
 */
describe('the migrations that backfill from another table', () => {
  it("find each session by its key when giving its usage rows their session's creator", () => {
    const db = new Database(':memory:');
    const backfill = SQLITE_MIGRATIONS.findIndex((migration) => migration.includes('SET session_creator'));
    expect(backfill).toBeGreaterThan(0);
    for (const migration of SQLITE_MIGRATIONS.slice(0, backfill)) db.exec(migration);
    const [alter, update] = SQLITE_MIGRATIONS[backfill]!.split(';');
    db.exec(alter!);
    const plan = db
      .prepare(`EXPLAIN QUERY PLAN ${update}`)
      .all()
      .map((row) => (row as { detail: string }).detail);
    expect(plan.some((detail) => /^SEARCH sessions USING .*\(id=\?\)/.test(detail))).toBe(true);
    expect(plan).not.toContain('SCAN sessions');
    db.close();
  });
});
