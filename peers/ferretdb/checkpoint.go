package main

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	// Registers the "sqlite" driver, the same SQLite build that FerretDB's backend uses.
	_ "modernc.org/sqlite"
)

// checkpointInterval is how often the peer copies the write-ahead logs into the database files.
const checkpointInterval = 500 * time.Millisecond

// noAutoCheckpoint is the query of FerretDB's SQLite URL that stops commits from checkpointing.
//
// By default SQLite checkpoints inside the commit that grows the write-ahead log past 1,000
// pages, so that one insert copies the log into the database file and fsyncs it before it returns.
// In the listener's MLLP benchmark on 2 CPUs, this made one insert in a few hundred take 30 to
// 65 ms instead of about 2 ms. MongoDB's storage engine checkpoints in the background, so the peer does the
// same: commits never checkpoint, and runCheckpoints does it on a connection of its own.
// Durability does not change: every commit is still synced to the log before it returns.
// See https://www.sqlite.org/wal.html#automatic_checkpoint.
const noAutoCheckpoint = "?_pragma=wal_autocheckpoint(0)"

// runCheckpoints checkpoints every SQLite database in dir each checkpointInterval until ctx ends.
// A PASSIVE checkpoint waits for no reader or writer, so inserts go on while it runs.
func runCheckpoints(ctx context.Context, logger *slog.Logger, dir string) {
	ticker := time.NewTicker(checkpointInterval)
	defer ticker.Stop()

	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}

		files, err := filepath.Glob(filepath.Join(dir, "*.sqlite"))
		if err != nil {
			logger.Warn("Failed to list the SQLite files to checkpoint", "error", err)
			continue
		}
		for _, file := range files {
			err := checkpoint(ctx, file)
			if err == nil || ctx.Err() != nil {
				continue
			}

			// FerretDB deletes the file of a dropped database, possibly between the listing and
			// the checkpoint. Any other failure leaves the write-ahead log growing, so it is logged.
			if _, statErr := os.Stat(file); statErr != nil {
				logger.Debug("Checkpoint skipped: the database was dropped", "file", filepath.Base(file))
				continue
			}
			logger.Warn("Checkpoint failed, so the write-ahead log grows until one succeeds",
				"file", filepath.Base(file), "error", err)
		}
	}
}

// checkpoint runs one PASSIVE checkpoint of file. The connection is opened each time, because a
// connection kept open would hold on to the file of a database that FerretDB dropped.
func checkpoint(ctx context.Context, file string) error {
	// mode=rw: never create a database that FerretDB has just dropped.
	db, err := sql.Open("sqlite", "file:"+file+"?mode=rw")
	if err != nil {
		return err
	}
	defer db.Close()

	_, err = db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	return err
}
