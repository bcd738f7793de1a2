// Command ferretdb-peer runs FerretDB v1.24 with the SQLite backend as the
// MongoDB-compatible test peer for MonitorMed.
//
// It embeds the github.com/FerretDB/FerretDB/ferretdb package instead of
// running FerretDB's own command, because the upstream command panics when
// built from the module proxy (its build/version/version.txt is not in the
// module zip). Embedded mode also forces telemetry off.
//
// Usage:
//
//	ferretdb-peer [-port 27017] [-data-dir DIR]   serve until SIGTERM or SIGINT
//	ferretdb-peer -ping [-port 27017]             exit 0 if the server replies to ping
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// host is fixed: the test peers listen on loopback only.
const host = "127.0.0.1"

func main() {
	port := flag.Int("port", envInt("FERRETDB_PORT", 27017), "TCP port to listen on (env FERRETDB_PORT)")
	dataDir := flag.String("data-dir", envString("FERRETDB_DATA_DIR", "data"), "directory for the SQLite files, created if missing (env FERRETDB_DATA_DIR)")
	ping := flag.Bool("ping", false, "send a ping command to the server on -port and exit 0 if it replies")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	addr := net.JoinHostPort(host, strconv.Itoa(*port))

	if *ping {
		if err := pingServer(addr); err != nil {
			fmt.Fprintf(os.Stderr, "ping %s failed: %v\n", addr, err)
			os.Exit(1)
		}
		return
	}

	if err := serve(logger, addr, *dataDir); err != nil {
		logger.Error("FerretDB peer failed", "error", err)
		os.Exit(1)
	}
}

// serve runs FerretDB on addr until SIGTERM or SIGINT cancels the context.
func serve(logger *slog.Logger, addr, dataDir string) error {
	absDir, err := filepath.Abs(dataDir)
	if err != nil {
		return fmt.Errorf("invalid data directory %q: %w", dataDir, err)
	}
	if err := os.MkdirAll(absDir, 0o755); err != nil {
		return fmt.Errorf("failed to create data directory: %w", err)
	}

	// The SQLite handler takes a directory URI whose path ends with a slash. Its query applies to
	// every database in the directory.
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + absDir + "/" + noAutoCheckpoint,
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	logger.Info("FerretDB peer starting", "addr", addr, "dataDir", absDir)

	go runCheckpoints(ctx, logger, absDir)

	// Run returns after the context is canceled and the listener, client
	// connections and SQLite backend are closed.
	if err := f.Run(ctx); err != nil {
		return err
	}

	logger.Info("FerretDB peer stopped")

	return nil
}

// pingServer connects to addr with the MongoDB Go driver and runs the ping command.
func pingServer(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()

	opts := options.Client().
		ApplyURI("mongodb://" + addr + "/").
		SetServerSelectionTimeout(2 * time.Second).
		SetDirect(true)

	client, err := mongo.Connect(ctx, opts)
	if err != nil {
		return err
	}
	defer client.Disconnect(context.Background())

	var reply bson.M
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Decode(&reply); err != nil {
		return err
	}
	if ok, _ := reply["ok"].(float64); ok != 1 {
		return errors.New("ping reply has ok != 1")
	}

	return nil
}

func envString(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func envInt(name string, fallback int) int {
	v := os.Getenv(name)
	if v == "" {
		return fallback
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "invalid %s=%q: expected an integer port\n", name, v)
		os.Exit(2)
	}
	return n
}
