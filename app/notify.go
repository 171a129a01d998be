package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"time"

	"github.com/remediator/remediator/engine"
	appnotify "github.com/remediator/remediator/notifiers/app"
	"github.com/remediator/remediator/notifiers/dingtalk"
	"github.com/remediator/remediator/notifiers/email"
	"github.com/remediator/remediator/notifiers/feishu"
	"github.com/remediator/remediator/notifiers/slack"
	"github.com/remediator/remediator/notifiers/twilio"
	"github.com/remediator/remediator/notifiers/webhook"
	"github.com/remediator/remediator/notifiers/wecom"
	"github.com/remediator/remediator/oncall"
	"github.com/remediator/remediator/report"
	"github.com/remediator/remediator/rules"
)

// notifications is what the notification config turns into.
type notifications struct {
	cfg    *engine.NotifyConfig
	twilio *twilio.Twilio  // nil without notifiers.twilio
	email  *email.Notifier // nil without notifiers.email; reports mail through it
	// byPhone maps a person's phone number to their id, for SMS replies.
	byPhone map[string]string
}

// buildNotify constructs every notifier from the config, joining every
// construction error, and the engine's routes and escalation chains,
// whose schedule targets schedules resolves. hub is the in-app event
// stream, which outlives reloads.
func buildNotify(cfg *rules.Config, hub *appnotify.Hub, schedules *oncall.Set, log *slog.Logger) (*notifications, error) {
	nc := &cfg.Notifiers
	loc := cfg.NotifyLocation()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	out := &notifications{byPhone: map[string]string{}, cfg: &engine.NotifyConfig{
		Notifiers: map[string]engine.Notifier{}, People: map[string]engine.Person{}, Routes: map[engine.Level]engine.Route{},
		MaxAttempts: nc.Retry.MaxAttempts, Initial: nc.Retry.Initial.D(), Max: nc.Retry.Max.D(), Timeout: nc.Retry.Timeout.D(),
		ConsoleURL: nc.ConsoleURL, ExternalURL: cfg.Server.ExternalURL,
	}}
	if out.cfg.ConsoleURL == "" {
		out.cfg.ConsoleURL = cfg.Server.ExternalURL
	}
	if out.cfg.ConsoleURL == "" {
		out.cfg.ConsoleURL = "http://" + cfg.Server.Listen
	}
	var errs []error
	add := func(where, name string, n engine.Notifier, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("notifiers.%s: %w", where, err))
			return
		}
		out.cfg.Notifiers[name] = n
	}
	if hub != nil {
		critical := engine.Level("")
		if len(cfg.Levels) > 0 {
			critical = engine.Level(cfg.Levels[0].Name)
		}
		n, err := appnotify.NewNotifier(hub, &nc.App, appnotify.Options{
			Location: loc, IsCritical: func(l engine.Level) bool { return l == critical }, Logger: log.With("notifier", "app"),
		})
		add("app", engine.ChannelApp, n, err)
	}
	if t := nc.Twilio; t != nil {
		tw, err := twilio.New(t, twilio.Options{Location: loc, ExternalURL: cfg.Server.ExternalURL, Logger: log.With("notifier", "twilio")})
		if err != nil {
			errs = append(errs, fmt.Errorf("notifiers.twilio: %w", err))
		} else {
			out.twilio = tw
			out.cfg.Notifiers[engine.ChannelPhone] = tw.Voice()
			out.cfg.Notifiers[engine.ChannelSMS] = tw.SMS()
			out.cfg.CallAttempts, out.cfg.CallRetryAfter = t.Voice.Attempts, t.Voice.RetryAfter.D()
		}
	}
	if e := nc.Email; e != nil {
		n, err := email.New(e, email.Options{Location: loc, Logger: log.With("notifier", "email")})
		add("email", engine.ChannelEmail, n, err)
		out.email = n
	}
	for i := range nc.IM {
		im := &nc.IM[i]
		n, err := buildIM(im, loc, log.With("notifier", im.Name))
		add(fmt.Sprintf("im[%d] (%s)", i, im.Name), im.Name, n, err)
	}
	for _, p := range cfg.People {
		ep := engine.Person{ID: p.ID, Name: p.Name, Addresses: map[string]string{engine.ChannelApp: p.ID}}
		if p.Phone != "" {
			ep.Addresses[engine.ChannelPhone], ep.Addresses[engine.ChannelSMS] = p.Phone, p.Phone
			out.byPhone[p.Phone] = p.ID
		}
		if p.Email != "" {
			ep.Addresses[engine.ChannelEmail] = p.Email
		}
		if p.IM != nil {
			ep.Addresses[engine.ChannelIM], ep.IMNotifier = p.IM.ID, p.IM.Notifier
		}
		out.cfg.People[p.ID] = ep
	}
	out.cfg.Chains = map[engine.Level]engine.Chain{}
	for _, l := range cfg.Levels {
		if l.NotifyWithin.Report {
			continue
		}
		out.cfg.Routes[engine.Level(l.Name)] = engine.Route{
			People: l.Notify.People, Via: l.Notify.Via, Rooms: l.Notify.Rooms, Delay: l.NotifyWithin.Within,
		}
		if esc, ok := cfg.Escalations[l.Escalation]; ok && l.Escalation != "" {
			out.cfg.Chains[engine.Level(l.Name)] = chainOf(l.Escalation, esc, l.RespondWithin.Wall)
		}
	}
	teams := map[string][]string{}
	for _, t := range cfg.Teams {
		teams[t.Name] = t.Members
	}
	out.cfg.Resolve = resolver(schedules, teams)
	return out, errors.Join(errs...)
}

// chainOf is a chain for the engine; a first step without a wait waits
// the level's respond time.
func chainOf(name string, esc rules.EscalationConfig, respond time.Duration) engine.Chain {
	ch := engine.Chain{Name: name, Repeat: esc.Repeat, AckTimeout: esc.AckTimeout.D()}
	for i, st := range esc.Steps {
		wait := st.Wait.D()
		if i == 0 && wait == 0 {
			wait = respond
		}
		ch.Steps = append(ch.Steps, engine.ChainStep{Targets: st.Notify, Via: st.Via, Wait: wait})
	}
	return ch
}

// buildReports builds the runner of cfg's reports, mailing through the
// email notifier, from start on; nil when there are none.
func buildReports(cfg *rules.Config, n *notifications, src report.Source, reg prometheus.Registerer, log *slog.Logger, start time.Time) (*report.Runner, error) {
	if len(cfg.Reports) == 0 || n.email == nil {
		return nil, nil // validation requires notifiers.email with reports
	}
	emails := map[string]string{}
	for _, p := range cfg.People {
		if p.Email != "" {
			emails[p.ID] = p.Email
		}
	}
	return report.NewRunner(cfg.Reports, report.Options{
		Source: src, Mailer: n.email, Location: cfg.NotifyLocation(), ConsoleURL: n.cfg.ConsoleURL,
		Emails: emails, Logger: log.With("component", "reports"), Registerer: reg,
	}, start)
}

// resolver turns step targets into people: person:ID, team:NAME,
// schedule:NAME (on call at t) and schedule-next:NAME (on call in the
// shift after the one at t).
func resolver(schedules *oncall.Set, teams map[string][]string) func(string, time.Time) []string {
	return func(target string, t time.Time) []string {
		kind, name, _ := strings.Cut(target, ":")
		switch kind {
		case rules.TargetPerson:
			return []string{name}
		case rules.TargetTeam:
			return teams[name]
		case rules.TargetSchedule:
			if schedules == nil {
				return nil
			}
			sh, err := schedules.At(name, t)
			if err != nil {
				return nil
			}
			return sh.People
		case rules.TargetScheduleNext:
			if schedules == nil {
				return nil
			}
			sc, err := schedules.Schedule(name)
			if err != nil {
				return nil
			}
			if next, ok := sc.Next(t); ok {
				return next.People
			}
		}
		return nil
	}
}

// buildIM constructs one IM notifier by its type.
func buildIM(im *rules.IMConfig, loc *time.Location, log *slog.Logger) (engine.Notifier, error) {
	switch im.Type {
	case rules.IMDingTalk:
		return dingtalk.New(im, dingtalk.Options{Location: loc, Logger: log})
	case rules.IMWeCom:
		return wecom.New(im, wecom.Options{Location: loc, Logger: log})
	case rules.IMFeishu:
		return feishu.New(im, feishu.Options{Location: loc, Logger: log})
	case rules.IMSlack:
		return slack.New(im, slack.Options{Location: loc, Logger: log})
	case rules.IMWebhook:
		return webhook.New(im, webhook.Options{Location: loc, Logger: log})
	}
	return nil, fmt.Errorf("unknown type %q", im.Type) // validation prevents it
}

// handler is Twilio's callback handler, or nil.
func (n *notifications) handler(e *engine.Engine, log *slog.Logger) http.Handler {
	if n.twilio == nil {
		return nil
	}
	return n.twilio.Handler(&twilioResponder{e: e, byPhone: n.byPhone, log: log}, log.With("component", "twilio"))
}

// twilioResponder carries out what a person asked for by phone or SMS.
type twilioResponder struct {
	e       *engine.Engine
	byPhone map[string]string
	log     *slog.Logger
}

var _ twilio.Responder = (*twilioResponder)(nil)

// Keypress is the engine's: the key, what it did and its audit entries
// are written together.
func (t *twilioResponder) Keypress(ctx context.Context, k engine.CallResponse) (string, error) {
	return t.e.RespondToCall(ctx, k)
}

func (t *twilioResponder) Reply(ctx context.Context, r engine.SMSReply) error {
	return t.e.RespondToSMS(ctx, r)
}

// Refused audits a callback refused before it could change anything.
// Without an actor, the engine rate-limits these per address.
func (t *twilioResponder) Refused(ctx context.Context, r twilio.Refusal) {
	a := engine.AuditEntry{Addr: r.Addr, Action: r.Action, Target: r.Target, Outcome: engine.AuditDenied, Detail: r.Detail}
	if err := t.e.Audit(ctx, a); err != nil {
		t.log.Error("audit entry not stored", "action", r.Action, "target", r.Target, "err", err)
	}
}

func (t *twilioResponder) DeliveryStatus(ctx context.Context, id uint64, providerID, status, detail string) error {
	return t.e.DeliveryStatus(ctx, id, providerID, status, detail)
}

func (t *twilioResponder) PersonByPhone(phone string) (string, bool) {
	id, ok := t.byPhone[phone]
	return id, ok
}
