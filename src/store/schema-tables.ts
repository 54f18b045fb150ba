import type { InstanceStore, UnmigratedStore } from './types.js';

/**
 * The tables a store's schema has, read from the migrations themselves so that the list cannot
 * drift from them. No migration drops or renames a table; one that does must be reflected here.
 */
export function tablesAt(migrations: readonly string[], version: number): string[] {
  return migrations
    .slice(0, version)
    .flatMap((sql) => [...sql.matchAll(/CREATE TABLE (?:IF NOT EXISTS )?(\w+)/g)].map((match) => match[1]!));
}

/**
 * A store as found at `state`, for a BeforeMigrate: `live` reads its instances, and is made only
 * where the schema has their table (none are recorded before it).
 */
export function unmigratedStore(
  migrations: readonly string[],
  state: SchemaState,
  live: () => InstanceStore['live'],
): UnmigratedStore {
  const recordsInstances = tablesAt(migrations, state.version).includes('instances');
  return { schema: state, instances: { live: recordsInstances ? live() : async () => [] } };
}

/** What a store holds against what its recorded version says it should. */
export interface SchemaState {
  /** The version the store records (0 when it records none). */
  version: number;
  /** The version this Keyward writes. */
  latest: number;
  /** Tables the recorded version has that the database lacks: the store is damaged. */
  missing: string[];
  /** Tables of later versions that the database holds already: a migration would collide with them. */
  foreign: string[];
}

/** A store at `version` holding the tables in `present`, against what that version has. */
export function schemaState(
  migrations: readonly string[],
  version: number,
  present: ReadonlySet<string>,
): SchemaState {
  const had = tablesAt(migrations, version);
  const later = tablesAt(migrations, migrations.length).filter((table) => !had.includes(table));
  return {
    version,
    latest: migrations.length,
    missing: had.filter((table) => !present.has(table)),
    foreign: later.filter((table) => present.has(table)),
  };
}

/** Why a store cannot be used as it stands, and what to do about it. */
export interface SchemaProblem {
  problem: string;
  fix: string;
}

/**
 * Why a store cannot be used as it stands, or undefined when it can (once migrated, for a version
 * behind). A recorded version is trusted only as far as the tables it names exist: a store whose
 * tables were dropped was served while every write to them failed.
 */
export function schemaProblem(state: SchemaState): SchemaProblem | undefined {
  const { version, latest, missing, foreign } = state;
  if (version > latest)
    return {
      problem: `the store is at schema version ${version}, newer than this Keyward (${latest})`,
      fix: 'upgrade Keyward',
    };
  if (missing.length > 0)
    return {
      problem: `the store is damaged: it records schema version ${version} but table(s) ${missing.join(', ')} are missing`,
      fix: 'restore the store from a backup',
    };
  if (foreign.length > 0)
    return {
      problem: `the database holds table(s) ${foreign.join(', ')} that Keyward would create, with no record of having made them`,
      fix: 'point the store at an empty database, or drop those tables',
    };
  return undefined;
}

/** Throws the store's problem, if it has one, as one message saying what to do. */
export function refuseUnusable(state: SchemaState): void {
  const found = schemaProblem(state);
  if (found) throw new Error(`${found.problem}; ${found.fix}`);
}
