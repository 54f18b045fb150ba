import type { Pool } from 'pg';
import { inTransaction } from './pg-transaction.js';
import { type TemplateRow, templateFromRow } from './rows.js';
import type { TemplateStore } from './types.js';

/** Stored prompt templates: each save is a new version; nothing is ever overwritten. */
export function pgTemplates(pool: Pool): TemplateStore {
  return {
    async latest() {
      const { rows } = await pool.query<TemplateRow>(
        `SELECT t.* FROM templates t
         WHERE t.deleted_at IS NULL AND t.version = (SELECT MAX(version) FROM templates WHERE name = t.name)
         ORDER BY t.name`,
      );
      return rows.map(templateFromRow);
    },
    async versions(name) {
      const { rows } = await pool.query<TemplateRow>(
        'SELECT * FROM templates WHERE name = $1 ORDER BY version',
        [name],
      );
      return rows.map(templateFromRow);
    },
    async save(name, definition, createdBy, at) {
      return inTransaction(pool, async (client) => {
        // Two instances saving one name at once would both pick the same next version.
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`template:${name}`]);
        const { rows } = await client.query<TemplateRow>(
          `INSERT INTO templates (name, version, definition, created_by, created_at)
           VALUES ($1, (SELECT COALESCE(MAX(version), 0) + 1 FROM templates WHERE name = $1), $2, $3, $4)
           RETURNING *`,
          [name, JSON.stringify(definition), createdBy, at],
        );
        return templateFromRow(rows[0]!);
      });
    },
    async remove(name, at) {
      const result = await pool.query(
        'UPDATE templates SET deleted_at = $1 WHERE name = $2 AND deleted_at IS NULL',
        [at, name],
      );
      return (result.rowCount ?? 0) > 0;
    },
  };
}
