// Holds the store's write lock for a while, as another program on the host might (a backup,
// an operator's sqlite3 shell): `node lock-db.mjs DB_FILE MS`. Prints "locked AT" (Date.now())
// once it holds the lock and "released" when it lets go.
import Database from 'better-sqlite3';

const [file, ms] = process.argv.slice(2);
const db = new Database(file, { fileMustExist: true });
// The manager may be writing at this moment: wait for it rather than fail.
db.pragma('busy_timeout = 5000');
db.exec('BEGIN EXCLUSIVE');
console.log(`locked ${Date.now()}`);
setTimeout(() => {
  db.exec('COMMIT');
  db.close();
  console.log('released');
}, Number(ms));
