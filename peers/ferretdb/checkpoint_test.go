package main

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeRows creates a database like FerretDB's, in WAL mode without automatic checkpoints, and
// commits rows one transaction each. It returns the size of the database file afterwards.
func writeRows(t *testing.T, file string, rows int) int64 {
	t.Helper()

	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=journal_mode(wal)&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	// One connection stays open, because closing the last connection would checkpoint the log.
	db.SetMaxOpenConns(1)

	if _, err := db.Exec("CREATE TABLE entries (id INTEGER PRIMARY KEY, body TEXT)"); err != nil {
		t.Fatal(err)
	}
	body := string(make([]byte, 1000))
	for i := 0; i < rows; i++ {
		if _, err := db.Exec("INSERT INTO entries (body) VALUES (?)", body); err != nil {
			t.Fatal(err)
		}
	}

	return fileSize(t, file)
}

func fileSize(t *testing.T, file string) int64 {
	t.Helper()

	info, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

func TestRunCheckpointsCopiesTheLog(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "monitormed.sqlite")
	before := writeRows(t, file, 500)
	orphan := filepath.Join(dir, "dropped-earlier.sqlite-wal")
	if err := os.WriteFile(orphan, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*checkpointInterval)
	defer cancel()
	runCheckpoints(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), dir)

	if _, err := os.Stat(orphan); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the log of a dropped database is still there (stat error %v)", err)
	}

	// 500 rows of 1,000 bytes reach the database file only through a checkpoint.
	after := fileSize(t, file)
	if after < before+400_000 {
		t.Fatalf("database file grew from %d to %d bytes, expected the log's 500 rows in it", before, after)
	}
}

func TestCheckpointOfMissingFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "dropped.sqlite")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := checkpoint(ctx, file); err == nil {
		t.Fatal("checkpoint of a missing database succeeded, expected an error")
	}

	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("checkpoint created %s (stat error %v), expected no file", file, err)
	}
}

func TestRemoveOrphanLogs(t *testing.T) {
	dir := t.TempDir()
	dropped := filepath.Join(dir, "dropped.sqlite")
	live := filepath.Join(dir, "live.sqlite")
	for _, name := range []string{dropped + "-wal", dropped + "-shm", live, live + "-wal", live + "-shm"} {
		if err := os.WriteFile(name, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	removeOrphanLogs(logger, dropped)
	removeOrphanLogs(logger, live)

	for _, name := range []string{dropped + "-wal", dropped + "-shm"} {
		if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s of a dropped database is still there (stat error %v)", filepath.Base(name), err)
		}
	}
	for _, name := range []string{live + "-wal", live + "-shm"} {
		if _, err := os.Stat(name); err != nil {
			t.Errorf("%s of a live database was removed: %v", filepath.Base(name), err)
		}
	}
}
