// Command ferretdb runs an embedded FerretDB (MongoDB wire protocol) server
// backed by SQLite, for db-plugins' integration tests. Started and stopped by
// scripts/services.sh; it runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	host := flag.String("host", "127.0.0.1", "listen address")
	port := flag.Int("port", 27017, "listen TCP port")
	dataDir := flag.String("data-dir", os.Getenv("FERRETDB_DATA_DIR"), "directory for the SQLite files (must exist; env FERRETDB_DATA_DIR)")
	flag.Parse()

	if *dataDir == "" {
		log.Fatal("-data-dir (or FERRETDB_DATA_DIR) is required")
	}
	abs, err := filepath.Abs(*dataDir)
	if err != nil {
		log.Fatal(err)
	}
	// The sqlite handler wants a "file:" URI naming an existing directory,
	// with a trailing slash; one SQLite file per MongoDB database goes there.
	sqliteURL := (&url.URL{Scheme: "file", Path: abs + "/"}).String()

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: net.JoinHostPort(*host, strconv.Itoa(*port))},
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	log.Printf("ferretdb: listening on %s:%d, data in %s", *host, *port, sqliteURL)
	if err := f.Run(ctx); err != nil {
		log.Fatal(err)
	}
	log.Print("ferretdb: stopped")
}
