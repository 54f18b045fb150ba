import type Database from 'better-sqlite3';
import { type TemplateRow, templateFromRow } from './rows.js';
import type { TemplateStore } from './types.js';

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
      return latest.all().map(templateFromRow);
    },
    async versions(name) {
      return versions.all(name).map(templateFromRow);
    },
    async save(name, definition, createdBy, at) {
      const row = insert.get({ name, definition: JSON.stringify(definition), createdBy, createdAt: at });
      return templateFromRow(row as TemplateRow);
    },
    async remove(name, at) {
      return remove.run(at, name).changes > 0;
    },
  };
}
