// Package app wires remediator together and owns its life cycle:
// New opens the store and binds the listener, Run serves until the context
// ends and then drains, Reload swaps the config, Close releases everything.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/remediator/remediator/api"
	"github.com/remediator/remediator/engine"
	appnotify "github.com/remediator/remediator/notifiers/app"
	"github.com/remediator/remediator/oncall"
	"github.com/remediator/remediator/report"
	"github.com/remediator/remediator/rules"
	"github.com/remediator/remediator/store/bolt"
	"github.com/remediator/remediator/web"
)

// Options are what the command line gives.
type Options struct {
	ConfigFile string // "" runs on the embedded default config
	Listen     string // overrides server.listen when set
	DBPath     string // overrides storage.path when set
	Logger     *slog.Logger
	LookupEnv  func(string) (string, bool) // nil: os.LookupEnv
	Clock      engine.Clock                // nil: the wall clock
	// Listener, when set, is used instead of listening on server.listen
	// (tests use it to serve on loopback a config that names another
	// address).
	Listener net.Listener
	// WrapStore, when set, wraps the bbolt store before the engine gets
	// it, and StoreNoSync turns off its fsync: cmd/loadgen -layers uses
	// them to measure each layer of ingest. remediator serve sets neither.
	WrapStore   func(engine.Store) engine.Store
	StoreNoSync bool
}

// App is one running remediator.
type App struct {
	opts     Options
	log      *slog.Logger
	store    *bolt.Store
	engine   *engine.Engine
	api      *api.Server
	http     *http.Server
	listener net.Listener
	registry *prometheus.Registry
	hub      *appnotify.Hub // the in-app event stream
	console  *web.Console   // the web console at /
	handler  *http.ServeMux // the API and the console
	// schedules are the on-call schedules, swapped on reload; reports
	// the periodic reports (nil: none).
	schedules *schedules
	reports   atomic.Pointer[report.Runner]
	reporting atomic.Bool // a report run is under way
	pruning   atomic.Bool // a prune is under way (prunes: its goroutine)
	prunes    sync.WaitGroup
	lastPrune time.Time
	shutdown  time.Duration
	// storePath is the store's path, fixed at start (a reload may not move it).
	storePath string

	ruleErrors    *prometheus.CounterVec
	reloadMu      sync.Mutex
	cfg           *rules.Config
	reloadOK      prometheus.Gauge
	reloadSuccess prometheus.Gauge

	closeOnce sync.Once
	closeErr  error
}

// LoadConfig loads the config file, or the embedded default when file is
// empty, and applies the command-line overrides. It validates with the
// same code as `remediator check`.
func LoadConfig(file, listen, dbPath string, lookupEnv func(string) (string, bool)) (*rules.Config, error) {
	var (
		cfg *rules.Config
		err error
	)
	if file == "" {
		cfg, err = rules.Parse("<embedded default>", rules.DefaultYAML, lookupEnv)
	} else {
		cfg, err = rules.Load(file, lookupEnv)
	}
	if err != nil {
		return nil, err
	}
	if listen != "" {
		cfg.Server.Listen = listen
	}
	if dbPath != "" {
		cfg.Storage.Path = dbPath
	}
	if listen != "" || dbPath != "" {
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("with command-line flags: %w", err)
		}
	}
	// The action packages check what only they know (a CA file that does
	// not read, a templated URL host); check reports that too.
	if _, err := buildActions(cfg); err != nil {
		return nil, err
	}
	set, err := buildSchedules(cfg, nil, time.Time{}, nil)
	if err != nil {
		return nil, err
	}
	if _, err := buildNotify(cfg, nil, set, nil); err != nil {
		return nil, err
	}
	return cfg, nil
}

// New loads the config, opens the store, rebuilds the engine's state and
// binds the listen address. Nothing is served until Run.
func New(ctx context.Context, o Options) (*App, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = engine.SystemClock{}
	}
	cfg, err := LoadConfig(o.ConfigFile, o.Listen, o.DBPath, o.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	if err := cfg.CheckExposedPlaceholders(); err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	// storage.path is relative to the working directory: the log says
	// where the file really is.
	storePath, err := filepath.Abs(cfg.Storage.Path)
	if err != nil {
		return nil, fmt.Errorf("storage.path: %w", err)
	}
	a := &App{opts: o, log: o.Logger, cfg: cfg, registry: prometheus.NewRegistry(), shutdown: cfg.Server.ShutdownTimeout.D(), storePath: storePath}
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{Name: "remediator_config_last_reload_successful", Help: "Whether the last configuration reload succeeded."})
	a.reloadSuccess = prometheus.NewGauge(prometheus.GaugeOpts{Name: "remediator_config_last_reload_success_timestamp_seconds", Help: "Time of the last successful configuration reload."})
	a.registry.MustRegister(a.reloadOK, a.reloadSuccess)
	a.reloadOK.Set(1)
	a.reloadSuccess.SetToCurrentTime()

	ok := false
	defer func() {
		if !ok {
			_ = a.Close()
		}
	}()
	a.store, err = bolt.Open(cfg.Storage.Path, bolt.Options{
		LockTimeout: cfg.Storage.LockTimeout.D(),
		Registerer:  a.registry,
		NoSync:      o.StoreNoSync,
	})
	if err != nil {
		return nil, err
	}
	a.log.Info("store opened", "path", a.storePath)
	a.ruleErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "remediator_rule_errors_total",
		Help: "Rule expressions that failed at run time on one alert (counted as no match), by rule.",
	}, []string{"rule"})
	a.registry.MustRegister(a.ruleErrors)
	b, err := build(cfg, a.log, a.ruleErrors)
	if err != nil {
		return nil, err
	}
	var store engine.Store = a.store
	if o.WrapStore != nil {
		store = o.WrapStore(store)
	}
	a.engine, err = engine.New(ctx, engine.Options{
		Store: store, Clock: o.Clock, Classifier: b.policy,
		Logger: a.log.With("component", "engine"), Registerer: a.registry, MaxBatch: cfg.Storage.MaxBatchSize,
		MaxConcurrentActions: cfg.Remediation.MaxConcurrent, Retention: retention(cfg),
	})
	if err != nil {
		return nil, err
	}
	b.install(a.engine)
	a.hub = appnotify.NewHub(appnotify.HubOptions{})
	a.schedules = &schedules{engine: a.engine, log: a.log}
	set, err := buildSchedules(cfg, a.engine, o.Clock.Now(), a.log)
	if err != nil {
		return nil, err
	}
	a.schedules.install(set, cfg)
	a.logWarnings(cfg, set)
	notify, err := buildNotify(cfg, a.hub, set, a.log)
	if err != nil {
		return nil, err
	}
	a.engine.SetNotify(notify.cfg)
	a.engine.SetRetention(retention(cfg))
	runner, err := buildReports(cfg, notify, a.engine, a.registry, a.log, o.Clock.Now())
	if err != nil {
		return nil, err
	}
	a.reports.Store(runner)
	a.console, err = web.New(web.Options{
		Tokens: consoleTokens(cfg), Data: a.engine, OnCall: a.schedules, Clock: o.Clock,
		Logger: a.log.With("component", "console"), ExternalURL: cfg.Server.ExternalURL,
	})
	if err != nil {
		return nil, err
	}
	a.api, err = api.New(api.Options{
		Engine: a.engine, Settings: a.apiSettings(cfg, notify), Ready: a.ready, Reload: a.Reload,
		Logger: a.log.With("component", "api"), Registerer: a.registry, Gatherer: a.registry, Events: a.hub,
		OnCall: a.schedules, Clock: o.Clock,
		Auditor: a.engine, Sessions: a.console.Sessions(),
	})
	if err != nil {
		return nil, err
	}
	// The API owns /api/, /-/ and /metrics; the console everything else.
	a.handler = http.NewServeMux()
	a.handler.Handle("/api/", a.api)
	a.handler.Handle("/-/", a.api)
	a.handler.Handle("/metrics", a.api)
	a.handler.Handle("/", a.console)
	if a.listener = o.Listener; a.listener == nil {
		if a.listener, err = net.Listen("tcp", cfg.Server.Listen); err != nil {
			return nil, fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err)
		}
	}
	a.http = &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.D(),
		ReadTimeout:       cfg.Server.ReadTimeout.D(),
		WriteTimeout:      cfg.Server.WriteTimeout.D(),
		IdleTimeout:       cfg.Server.IdleTimeout.D(),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	// Event streams never end on their own: shutdown ends them, so the
	// drain does not wait for them.
	a.http.RegisterOnShutdown(a.hub.Close)
	ok = true
	return a, nil
}

func (a *App) apiSettings(cfg *rules.Config, n *notifications) api.Settings {
	s := api.Settings{WebhookToken: cfg.Server.WebhookToken.Value(), MaxBodyBytes: cfg.Server.MaxBodyBytes,
		ExternalURL: cfg.Server.ExternalURL, Twilio: n.handler(a.engine, a.log), LoopbackOnly: cfg.IsLoopback()}
	for _, t := range cfg.Auth.Tokens {
		s.Tokens = append(s.Tokens, api.Token{Name: t.Name, Role: api.ParseRole(t.Role), Value: t.Token.Value()})
	}
	return s
}

// consoleTokens are the config's API tokens, for logging in to the console.
func consoleTokens(cfg *rules.Config) []web.Token {
	out := make([]web.Token, 0, len(cfg.Auth.Tokens))
	for _, t := range cfg.Auth.Tokens {
		out = append(out, web.Token{Name: t.Name, Role: t.Role, Value: t.Token.Value()})
	}
	return out
}

// logWarnings logs what `remediator check` warns of: identical schedule
// layers, and gaps (nobody on call) within the coming year.
func (a *App) logWarnings(cfg *rules.Config, set *oncall.Set) {
	for _, w := range append(cfg.Warnings(), set.Warnings(a.opts.Clock.Now())...) {
		a.log.Warn("config: " + w)
	}
}

// Addr is the address the server listens on (useful with port 0).
func (a *App) Addr() string { return a.listener.Addr().String() }

// Handler is the HTTP handler, for tests that do not need the network.
func (a *App) Handler() http.Handler { return a.handler }

func (a *App) ready() error {
	if err := a.store.Ping(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Run serves until ctx is done, then stops taking new connections, lets
// in-flight requests finish (up to server.shutdown_timeout) and closes the
// store.
func (a *App) Run(ctx context.Context) error {
	a.log.Info("remediator listening", "addr", a.Addr(), "store", a.storePath)
	a.engine.ResumeRemediation()
	a.engine.ResumeNotifications()
	ticking := make(chan struct{})
	go func() { a.tick(ctx); close(ticking) }()
	errc := make(chan error, 1)
	go func() { errc <- a.http.Serve(a.listener) }()
	var serveErr error
	select {
	case err := <-errc:
		serveErr = fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		a.log.Info("shutting down: draining in-flight requests", "timeout", a.shutdown)
		sctx, cancel := context.WithTimeout(context.Background(), a.shutdown)
		defer cancel()
		if err := a.http.Shutdown(sctx); err != nil {
			// Requests still running after the drain timeout are cut off.
			serveErr = fmt.Errorf("drain: %w", errors.Join(err, a.http.Close()))
		}
		<-errc
	}
	if ctx.Err() != nil {
		<-ticking // Tick writes to the store: done before it closes
	}
	return errors.Join(serveErr, a.Close())
}

// pruneEvery is how often the history past its retention is deleted.
const pruneEvery = 10 * time.Minute

// retention is the engine's retention from the config.
func retention(cfg *rules.Config) engine.Retention {
	r := cfg.Retention
	return engine.Retention{InMemory: r.ResolvedInMemory.D(), Keep: r.Keep.D(), Audit: r.Audit.D()}
}

// tick fires the engine's verification deadlines once a second.
func (a *App) tick(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := a.opts.Clock.Now()
			a.engine.Tick(now)
			// Reports mail on their own goroutine: a slow SMTP server
			// must not hold up escalation (one run at a time).
			// History past its retention is deleted on its own
			// goroutine too, in small transactions, every pruneEvery.
			if now.Sub(a.lastPrune) >= pruneEvery && a.pruning.CompareAndSwap(false, true) {
				a.lastPrune = now
				a.prunes.Add(1)
				go func() {
					defer a.prunes.Done()
					defer a.pruning.Store(false)
					res, err := a.engine.Prune(ctx)
					if err != nil {
						a.log.Error("history past its retention not deleted", "err", err)
					} else if res != (engine.PruneResult{}) {
						a.log.Info("history past its retention deleted", "incidents", res.Incidents, "alerts", res.Alerts,
							"events", res.Events, "actions", res.Actions, "notifications", res.Notifications, "audit", res.Audit)
					}
				}()
			}
			if r := a.reports.Load(); r != nil && a.reporting.CompareAndSwap(false, true) {
				go func() {
					defer a.reporting.Store(false)
					r.Tick(ctx, now)
				}()
			}
		}
	}
}

// Reload re-reads the config file with the same loader and validator as
// start-up. On error the running config stays and the error says why.
// Listen address and store path need a restart; a change to them is logged.
// ReloadOnSignal is Reload for SIGHUP, audited (the API audits its own
// /-/reload) with the signal as the actor.
func (a *App) ReloadOnSignal(ctx context.Context) error {
	err := a.Reload(ctx)
	entry := engine.AuditEntry{Actor: "signal:SIGHUP", Addr: "local", Action: "config.reload", Outcome: engine.AuditOK}
	if err != nil {
		entry.Outcome, entry.Detail = engine.AuditFailed, err.Error()
	}
	if aerr := a.engine.Audit(ctx, entry); aerr != nil {
		a.log.Error("audit entry not stored", "action", entry.Action, "err", aerr)
	}
	return err
}

func (a *App) Reload(_ context.Context) error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	fail := func(err error) error {
		a.reloadOK.Set(0)
		a.log.Error("config reload failed; keeping the running config", "err", err)
		return err
	}
	cfg, err := LoadConfig(a.opts.ConfigFile, a.opts.Listen, a.opts.DBPath, a.opts.LookupEnv)
	if err != nil {
		return fail(err)
	}
	if cfg.Server.Listen != a.cfg.Server.Listen || cfg.Storage.Path != a.cfg.Storage.Path {
		a.log.Warn("server.listen and storage.path changes take effect at the next restart")
	}
	// The socket stays where it is: check the new tokens against the
	// address actually bound, so a reload cannot open the API on a
	// public address.
	bound := *cfg
	bound.Server.Listen = a.cfg.Server.Listen
	if err := bound.Validate(); err != nil {
		return fail(fmt.Errorf("for the running listen address %s: %w", a.cfg.Server.Listen, err))
	}
	if err := bound.CheckExposedPlaceholders(); err != nil {
		return fail(fmt.Errorf("for the running listen address %s: %w", a.cfg.Server.Listen, err))
	}
	b, err := build(cfg, a.log, a.ruleErrors)
	if err != nil {
		return fail(err)
	}
	set, err := buildSchedules(cfg, a.engine, a.opts.Clock.Now(), a.log)
	if err != nil {
		return fail(err)
	}
	notify, err := buildNotify(cfg, a.hub, set, a.log)
	if err != nil {
		return fail(err)
	}
	runner, err := buildReports(cfg, notify, a.engine, a.registry, a.log, a.opts.Clock.Now())
	if err != nil {
		return fail(err)
	}
	// The console's tokens first: if they are refused, nothing is
	// installed and the running config stays whole.
	if err := a.console.Apply(consoleTokens(cfg)); err != nil {
		return fail(err)
	}
	b.install(a.engine)
	a.schedules.install(set, cfg)
	a.logWarnings(cfg, set)
	a.reports.Store(runner)
	a.engine.SetNotify(notify.cfg)
	a.api.Apply(a.apiSettings(cfg, notify))
	a.cfg = cfg
	a.reloadOK.Set(1)
	a.reloadSuccess.SetToCurrentTime()
	a.log.Info("config reloaded", "summary", cfg.Summary())
	return nil
}

// Close releases the listener and the store. It is safe to call twice.
func (a *App) Close() error {
	a.closeOnce.Do(func() {
		var errs []error
		if a.listener != nil {
			if err := a.listener.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		if a.engine != nil {
			// Running actions are cancelled (and recorded so); then what a
			// failed write left in memory is written, if the disk lets us.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := a.engine.StopActions(ctx); err != nil {
				errs = append(errs, err)
			}
			if err := a.engine.Flush(ctx); err != nil {
				errs = append(errs, fmt.Errorf("flush unsynced changes: %w", err))
			}
			cancel()
		}
		if a.hub != nil {
			a.hub.Close()
		}
		a.prunes.Wait() // it stops between transactions once Run's ctx ends
		if a.store != nil {
			errs = append(errs, a.store.Close())
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}
