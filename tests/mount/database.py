#!/usr/bin/env python3
"""A real database on the mount: SQLite, through Python's sqlite3.

    database.py run DB MODE SEED N LOG   N transactions (forever if N is 0);
                                         the number of each one committed is
                                         appended to LOG once COMMIT returned
    database.py check DB MODE SEED       integrity_check, then the tables must
                                         be what transactions 1..K make, where
                                         K is the last one the table says
                                         committed; prints K

Transaction i inserts, updates and deletes rows of random sizes (10 bytes to
3,000, so records span pages and overflow pages), drawn from a generator
seeded by SEED and i alone: the model of the tables after K transactions is
computed again without the database.  A transaction whose COMMIT returned
survives a crash: in WAL mode with synchronous=FULL (the WAL is fsync'd);
in rollback-journal mode only with synchronous=EXTRA, which also fsyncs the
directory once the journal is unlinked, the commit point (with FULL, the
last transaction may come back as a hot journal and be rolled back, as on
any file system after a power cut).
"""
import hashlib
import os
import random
import sqlite3
import sys


def ops_of(seed, i):
    """The changes of transaction i: ("put", key, bytes) or ("del", key)."""
    rng = random.Random(seed * 1_000_003 + i)
    ops = []
    for _ in range(rng.randint(1, 20)):
        key = rng.randrange(2000)
        if rng.random() < 0.2:
            ops.append(("del", key))
        else:
            ops.append(("put", key, rng.randbytes(rng.randint(10, 3000))))
    return ops


def model(seed, k):
    rows = {}
    for i in range(1, k + 1):
        for op in ops_of(seed, i):
            if op[0] == "del":
                rows.pop(op[1], None)
            else:
                rows[op[1]] = op[2]
    return rows


def digest(rows):
    h = hashlib.sha256()
    for key in sorted(rows):
        h.update(key.to_bytes(8, "little") + hashlib.sha256(rows[key]).digest())
    return h.hexdigest()


def connect(path, mode):
    db = sqlite3.connect(path, isolation_level=None, timeout=60)
    got = db.execute(f"PRAGMA journal_mode={mode}").fetchone()[0]
    if got != mode:
        sys.exit(f"journal_mode={mode} refused: the database says {got}")
    db.execute("PRAGMA synchronous=" + ("FULL" if mode == "wal" else "EXTRA"))
    db.execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS done (i INTEGER PRIMARY KEY)")
    return db


def run(path, mode, seed, n, log):
    db = connect(path, mode)
    i = db.execute("SELECT coalesce(max(i), 0) FROM done").fetchone()[0]
    with open(log, "a", buffering=1) as out:
        while n == 0 or i < n:
            i += 1
            try:
                db.execute("BEGIN")
                for op in ops_of(seed, i):
                    if op[0] == "del":
                        db.execute("DELETE FROM t WHERE k = ?", (op[1],))
                    else:
                        db.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", (op[1], op[2]))
                db.execute("INSERT INTO done VALUES (?)", (i,))
                db.execute("COMMIT")
                # SQLite takes a directory it cannot open after unlinking the
                # journal for one it need not sync, and reports the COMMIT as
                # done: so a commit counts once this fsync of the directory,
                # too, has returned
                fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except (sqlite3.Error, OSError) as e:
                # the file system went away (its daemon was killed): stop here
                print(f"transaction {i}: {e}", file=sys.stderr)
                return 3
            out.write(f"{i}\n")
    db.close()
    return 0


def check(path, mode, seed):
    db = connect(path, mode)
    result = db.execute("PRAGMA integrity_check").fetchall()
    if result != [("ok",)]:
        sys.exit(f"{path}: integrity_check says {result}")
    k = db.execute("SELECT coalesce(max(i), 0) FROM done").fetchone()[0]
    count = db.execute("SELECT count(*) FROM done").fetchone()[0]
    if count != k:
        sys.exit(f"{path}: transactions 1..{k} committed, but {count} are recorded")
    rows = dict(db.execute("SELECT k, v FROM t"))
    db.close()
    want = model(seed, k)
    if digest(rows) != digest(want):
        diff = sorted(set(rows.items()) ^ set(want.items()))[:3]
        sys.exit(f"{path}: after {k} transactions the table is not what they make "
                 f"({len(rows)} rows, want {len(want)}; first differences by key: "
                 f"{[d[0] for d in diff]})")
    print(k)
    return 0


def main(argv):
    if len(argv) == 7 and argv[1] == "run":
        return run(argv[2], argv[3], int(argv[4]), int(argv[5]), argv[6])
    if len(argv) == 5 and argv[1] == "check":
        return check(argv[2], argv[3], int(argv[4]))
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
