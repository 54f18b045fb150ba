// Another process holding a SQLite store's write lock (as a backup tool or a long migration
// would): takes it, says "locked", and keeps it until a line arrives on stdin.
const Database = require('better-sqlite3');

const db = new Database(process.argv[2]);
db.pragma('busy_timeout = 10000');
db.exec('BEGIN IMMEDIATE');
db.prepare("INSERT OR REPLACE INTO meta (name, value) VALUES ('fault-test-lock', 'held')").run();
process.stdout.write('locked\n');
process.stdin.once('data', () => {
  db.exec('COMMIT');
  db.close();
  process.stdout.write('released\n');
  process.exit(0);
});
