import type Database from 'better-sqlite3';
import type { TemplateRecord, TemplateStore } from './types.js';

interface TemplateRow {
  name: string;
  version: number;
  definition: string;
  created_by: string;
  created_at: number;
  deleted_at: number | null;
}

const toRecord = (row: TemplateRow): TemplateRecord => ({
  name: row.name,
  version: row.version,
  definition: JSON.parse(row.definition),
  createdBy: row.created_by,
  createdAt: row.created_at,
  deletedAt: row.deleted_at,
});

/** Stored prompt templates: each save is a new version; nothing is ever overwritten. */
export function sqliteTemplates(db: Database.Database): TemplateStore {
  const latest = db.prepare<[], TemplateRow>(
    `SELECT t.* FROM templates t
     WHERE t.deleted_at IS NULL AND t.version = (SELECT MAX(version) FROM templates WHERE name = t.name)
     ORDER BY t.name`,
  );
  const versions = db.prepare<[string], TemplateRow>(
    'SELECT * FROM templates WHERE name = ? ORDER BY version',
  );
  const insert = db.prepare(
    `INSERT INTO templates (name, version, definition, created_by, created_at)
     VALUES (@name, (SELECT COALESCE(MAX(version), 0) + 1 FROM templates WHERE name = @name), @definition, @createdBy, @createdAt)
     RETURNING *`,
  );
  const remove = db.prepare('UPDATE templates SET deleted_at = ? WHERE name = ? AND deleted_at IS NULL');
  return {
    async latest() {
      return latest.all().map(toRecord);
    },
    async versions(name) {
      return versions.all(name).map(toRecord);
    },
    async save(name, definition, createdBy, at) {
      const row = insert.get({ name, definition: JSON.stringify(definition), createdBy, createdAt: at });
      return toRecord(row as TemplateRow);
    },
    async remove(name, at) {
      return remove.run(at, name).changes > 0;
    },
  };
}
