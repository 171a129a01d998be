// Command remediator receives Alertmanager webhooks, stores them durably
// and turns them into incidents. See README.md.
//
//	remediator serve [--config FILE] [--listen HOST:PORT] [--db PATH]
//	remediator check [--config FILE] [--at RFC3339]
//	remediator explain [--config FILE] --alert PAYLOAD.json [--at RFC3339] [--json]
//	remediator oncall --config FILE [--at RFC3339] [--schedule NAME]
//	remediator version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/remediator/remediator/app"
	"github.com/remediator/remediator/rules"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  remediator serve [--config FILE] [--listen HOST:PORT] [--db PATH]
  remediator check [--config FILE] [--at RFC3339]
  remediator explain [--config FILE] --alert PAYLOAD.json [--at RFC3339] [--json]
  remediator oncall --config FILE [--at RFC3339] [--schedule NAME]
  remediator compact --db FILE
  remediator version
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "check":
		return check(args[1:], stdout, stderr)
	case "explain":
		return explain(args[1:], stdout, stderr)
	case "oncall":
		return oncallCmd(args[1:], stdout, stderr)
	case "compact":
		return compact(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "remediator %s (%s)\n", versionString(), runtime.Version())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "remediator: unknown command %q\n%s", args[0], usage)
	return 2
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "config file (default: the embedded default config)")
	listen := fs.String("listen", "", "HOST:PORT to listen on (overrides server.listen)")
	db := fs.String("db", "", "bbolt file (overrides storage.path)")
	logFormat := fs.String("log.format", "logfmt", "log format: logfmt or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var handler slog.Handler
	switch *logFormat {
	case "logfmt":
		handler = slog.NewTextHandler(stderr, nil)
	case "json":
		handler = slog.NewJSONHandler(stderr, nil)
	default:
		fmt.Fprintf(stderr, "serve: --log.format must be logfmt or json, got %q\n", *logFormat)
		return 2
	}
	log := slog.New(handler)
	procs := app.AddSpareProc(os.LookupEnv)
	log.Info("starting", "version", versionString(), "go", runtime.Version(), "gomaxprocs", procs)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	a, err := app.New(ctx, app.Options{ConfigFile: *configFile, Listen: *listen, DBPath: *db, Logger: log})
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				_ = a.ReloadOnSignal(ctx) // logs and audits the outcome
			case <-ctx.Done():
				return
			}
		}
	}()
	if err := a.Run(ctx); err != nil {
		log.Error("stopped with an error", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "config file to check (default: the embedded default config)")
	atFlag := fs.String("at", "", "look for on-call gaps in the year from this RFC 3339 time (default: now)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	at, err := parseAt(*atFlag)
	if err != nil {
		fmt.Fprintf(stderr, "check: %v\n", err)
		return 2
	}
	cfg, err := app.LoadConfig(*configFile, "", "", nil)
	if err != nil {
		printConfigErrors(stderr, err)
		return 1
	}
	warnings, err := configWarnings(cfg, at)
	if err != nil {
		fmt.Fprintf(stderr, "check: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, cfg.Summary())
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning: "+w)
	}
	return 0
}

// printConfigErrors prints each config error on its own line(s).
func printConfigErrors(w io.Writer, err error) {
	var errs rules.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(w, e.Error())
		}
		return
	}
	fmt.Fprintln(w, err)
}
