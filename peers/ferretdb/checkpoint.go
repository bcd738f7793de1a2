package main

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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

		// Logs left by a drop in an earlier run, or in a race this loop did not see, go too.
		walFiles, _ := filepath.Glob(filepath.Join(dir, "*.sqlite-wal"))
		for _, walFile := range walFiles {
			removeOrphanLogs(logger, strings.TrimSuffix(walFile, "-wal"))
		}

		for _, file := range files {
			err := checkpoint(ctx, file)
			if ctx.Err() != nil {
				continue
			}
			if err == nil {
				// A drop during the checkpoint can leave the log and index files behind.
				removeOrphanLogs(logger, file)
				continue
			}

			// FerretDB deletes the file of a dropped database, possibly between the listing and
			// the checkpoint. Any other failure leaves the write-ahead log growing, so it is logged.
			if _, statErr := os.Stat(file); statErr != nil {
				logger.Debug("Checkpoint skipped: the database was dropped", "file", filepath.Base(file))
				removeOrphanLogs(logger, file)
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

// removeOrphanLogs deletes the write-ahead log and shared-memory index of file when file itself is
// gone. A checkpoint connection that was open while FerretDB dropped the database can leave them
// behind, and one such log here was 225 MB. SQLite creates both only beside an existing
// database file, so without it they belong to no database.
func removeOrphanLogs(logger *slog.Logger, file string) {
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		return
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		err := os.Remove(file + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			logger.Warn("Failed to remove a file of a dropped database", "file", filepath.Base(file+suffix), "error", err)
		}
	}
}
