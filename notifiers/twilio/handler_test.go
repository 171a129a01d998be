package twilio

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/twilio/twiliotest"
)

// sign is twiliotest.Sign: the signature as Twilio documents it.
func sign(token, fullURL string, form url.Values) string {
	return twiliotest.Sign(token, fullURL, form)
}

// call is one call the handler made to the Responder.
type call struct {
	Method   string
	ID       uint64 // incident or notification
	Incident uint64 // a keypress's
	Key      engine.CallKey
	By       string
	D        time.Duration
	Provider string // a keypress's CallSid, a status callback's id
	Status   string
	Detail   string
	Addr     string
	Action   string // a refusal's
	Target   string
}

// fakeResponder records what the handler asks for.
type fakeResponder struct {
	people map[string]string // phone → person
	err    error             // returned by every change

	mu    sync.Mutex
	calls []call
}

var _ Responder = (*fakeResponder)(nil)

func (f *fakeResponder) record(c call) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	return f.err
}

func (f *fakeResponder) Keypress(_ context.Context, k engine.CallResponse) (string, error) {
	return "alice", f.record(call{Method: "Keypress", ID: k.Notification, Incident: k.Incident, Key: k.Key, Provider: k.Call, D: k.SilenceFor, Addr: k.Addr})
}

func (f *fakeResponder) Reply(_ context.Context, r engine.SMSReply) error {
	m := "Acknowledge"
	if r.Resolve {
		m = "Resolve"
	}
	if r.Message != "SM"+strings.Repeat("c3", 16) {
		return fmt.Errorf("the reply's message id is %q", r.Message)
	}
	return f.record(call{Method: m, ID: r.Incident, By: r.Person, Addr: r.Addr})
}

func (f *fakeResponder) DeliveryStatus(_ context.Context, id uint64, provider, status, detail string) error {
	return f.record(call{Method: "DeliveryStatus", ID: id, Provider: provider, Status: status, Detail: detail})
}

func (f *fakeResponder) PersonByPhone(phone string) (string, bool) {
	p, ok := f.people[phone]
	return p, ok
}

func (f *fakeResponder) Refused(_ context.Context, r Refusal) {
	_ = f.record(call{Method: "Refused", Action: r.Action, Target: r.Target, Addr: r.Addr, Detail: r.Detail})
}

func (f *fakeResponder) seen() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func newResponder() *fakeResponder {
	return &fakeResponder{people: map[string]string{testTo: "alice"}}
}

// callback is a request as Twilio sends it.
type callback struct {
	method string
	uri    string // path and query
	form   url.Values
	sig    string // X-Twilio-Signature; "" none
}

// signed is a callback to uri with form, signed by Twilio.
func signed(uri string, form url.Values) callback {
	return callback{method: http.MethodPost, uri: uri, form: form, sig: sign(testToken, testExternal+uri, form)}
}

// serve sends cb to a Handler over HTTP and returns the response and its
// body.
func serve(t *testing.T, h http.Handler, cb callback) (*http.Response, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	req, err := http.NewRequest(cb.method, srv.URL+cb.uri, strings.NewReader(cb.form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cb.sig != "" {
		req.Header.Set("X-Twilio-Signature", cb.sig)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.String()
}

// twimlReply checks that resp is TwiML and parses it.
func twimlReply(t *testing.T, resp *http.Response, body string) tResponse {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "text/xml" {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	return parseTwiML(t, body)
}

const (
	voiceURI  = PathVoice + "?incident=12&notification=34"
	statusURI = PathStatus + "?notification=34"
)

// testCallSid is the CallSid of callForm.
var testCallSid = "CA" + strings.Repeat("a1", 16)

// callForm is what Twilio posts with a key pressed.
func callForm(digits string) url.Values {
	return url.Values{"AccountSid": {testSID}, "CallSid": {testCallSid}, "CallStatus": {"in-progress"},
		"Digits": {digits}, "From": {testFrom}, "To": {testTo}, "Direction": {"outbound-api"}, "FinishedOnKey": {""}}
}

func smsForm(from, body string) url.Values {
	return url.Values{"AccountSid": {testSID}, "MessageSid": {"SM" + strings.Repeat("c3", 16)}, "SmsSid": {"SM" + strings.Repeat("c3", 16)},
		"From": {from}, "To": {testFrom}, "Body": {body}, "NumMedia": {"0"}}
}

// TestSignature: each endpoint refuses a request unless Twilio signed its
// URL and parameters, and then changes nothing.
func TestSignature(t *testing.T) {
	endpoints := []struct {
		name string
		uri  string
		form url.Values
		want int // status of a valid request
	}{
		{"voice", voiceURI, callForm("1"), http.StatusOK},
		{"status", statusURI, url.Values{"CallSid": {"CA1"}, "CallStatus": {"completed"}}, http.StatusNoContent},
		{"sms", PathSMS, smsForm(testTo, "ACK 12"), http.StatusOK},
	}
	for _, ep := range endpoints {
		other := url.Values{}
		for k, v := range ep.form {
			other[k] = slices.Clone(v)
		}
		other.Set("From", "+15550001111")
		cases := []struct {
			name string
			cb   callback
			want int
		}{
			// No signature at all.
			{"unsigned", callback{method: http.MethodPost, uri: ep.uri, form: ep.form}, http.StatusForbidden},
			// Signed with another key.
			{"wrong key", callback{method: http.MethodPost, uri: ep.uri, form: ep.form, sig: sign("0123456789abcdef0123456789abcdef", testExternal+ep.uri, ep.form)}, http.StatusForbidden},
			// Signed for another host.
			{"another host", callback{method: http.MethodPost, uri: ep.uri, form: ep.form, sig: sign(testToken, "https://evil.example.com"+ep.uri, ep.form)}, http.StatusForbidden},
			// Signed for another query (another notification).
			{"another query", callback{method: http.MethodPost, uri: ep.uri, form: ep.form, sig: sign(testToken, testExternal+ep.uri+"9", ep.form)}, http.StatusForbidden},
			// A parameter changed after signing.
			{"tampered form", callback{method: http.MethodPost, uri: ep.uri, form: other, sig: sign(testToken, testExternal+ep.uri, ep.form)}, http.StatusForbidden},
			// Not base64 at all.
			{"garbage", callback{method: http.MethodPost, uri: ep.uri, form: ep.form, sig: "not a signature"}, http.StatusForbidden},
			// Twilio's signature.
			{"valid", signed(ep.uri, ep.form), ep.want},
		}
		for _, tc := range cases {
			t.Run(ep.name+"/"+tc.name, func(t *testing.T) {
				tw := newTwilio(t, config(""), nil)
				r := newResponder()
				resp, body := serve(t, tw.Handler(r, nil), tc.cb)
				if resp.StatusCode != tc.want {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
				}
				got := r.seen()
				if tc.want != http.StatusForbidden {
					if len(got) != 1 || got[0].Method == "Refused" {
						t.Errorf("the responder saw %+v", got)
					}
					return
				}
				// Refused, and audited as such: nothing else.
				want := call{Method: "Refused", Action: engine.AuditCallback, Target: ep.uri, Addr: "127.0.0.1",
					Detail: "twilio callback refused: missing or wrong signature (X-Twilio-Signature)"}
				if len(got) != 1 || got[0] != want {
					t.Errorf("the responder saw %+v, want %+v", got, want)
				}
			})
		}
	}
}

// TestSignatureBehindPrefix: an external URL with a path is what is
// signed, with the request URI after it.
func TestSignatureBehindPrefix(t *testing.T) {
	tw, err := New(config(""), Options{ExternalURL: "https://ops.example.com:8443/remediator"})
	if err != nil {
		t.Fatal(err)
	}
	r := newResponder()
	form := callForm("2")
	cb := callback{method: http.MethodPost, uri: voiceURI, form: form, sig: sign(testToken, "https://ops.example.com:8443/remediator"+voiceURI, form)}
	resp, body := serve(t, tw.Handler(r, nil), cb)
	twimlReply(t, resp, body)
	if got := r.seen(); len(got) != 1 || got[0].Method != "Keypress" || got[0].Key != engine.CallResolve {
		t.Errorf("responder saw %+v", got)
	}
}

// press is what the Responder sees of key pressed on voiceURI's call.
func press(key engine.CallKey) call {
	return call{Method: "Keypress", ID: 34, Incident: 12, Key: key, Provider: testCallSid, D: 2 * time.Hour, Addr: "127.0.0.1"}
}

func TestVoiceCallback(t *testing.T) {
	tests := []struct {
		name   string
		uri    string
		digits string
		err    error
		want   []call // what the responder sees
		say    string // the reply's first Say
		gather bool   // the reply asks again
		status int    // 0: 200 with TwiML
	}{
		// 1 acknowledges, from the call the CallSid names.
		{"acknowledge", voiceURI, "1", nil, []call{press(engine.CallAcknowledge)}, DefaultAcknowledged, false, 0},
		// 2 resolves.
		{"resolve", voiceURI, "2", nil, []call{press(engine.CallResolve)}, DefaultResolved, false, 0},
		// 3 silences for voice.silence_for.
		{"silence", voiceURI, "3", nil, []call{press(engine.CallSilence)}, DefaultSilenced, false, 0},
		// Another key: sorry, and the menu again.
		{"unknown key", voiceURI, "9", nil, nil, DefaultInvalid, true, 0},
		// No key (a Gather without input posts none).
		{"no key", voiceURI, "", nil, nil, DefaultInvalid, true, 0},
		// Already resolved: the person hears it did not work.
		{"conflict", voiceURI, "1", fmt.Errorf("incident 12 is already resolved: %w", engine.ErrConflict),
			[]call{press(engine.CallAcknowledge)}, DefaultInvalid, false, 0},
		// An unknown notification or incident likewise.
		{"not found", voiceURI, "2", fmt.Errorf("notification 34: %w", engine.ErrNotFound),
			[]call{press(engine.CallResolve)}, DefaultInvalid, false, 0},
		// A replay, or a key of a call that is not live: no menu again.
		{"denied", voiceURI, "3", fmt.Errorf("a key of call CA1 was already taken: %w", engine.ErrDenied),
			[]call{press(engine.CallSilence)}, DefaultInvalid, false, 0},
		// Both ids are needed.
		{"no ids", PathVoice, "1", nil, nil, "", false, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config("")
			c.Voice.SilenceFor = 7200_000_000_000
			tw := newTwilio(t, c, nil)
			r := newResponder()
			r.err = tt.err
			resp, body := serve(t, tw.Handler(r, nil), signed(tt.uri, callForm(tt.digits)))
			if got := r.seen(); !slices.Equal(got, tt.want) {
				t.Errorf("responder saw %+v, want %+v", got, tt.want)
			}
			if tt.status != 0 {
				if resp.StatusCode != tt.status {
					t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
				}
				return
			}
			doc := twimlReply(t, resp, body)
			says := doc.Says
			if tt.gather {
				if len(doc.Gathers) != 1 {
					t.Fatalf("no Gather: %s", body)
				}
				g := doc.Gathers[0]
				if g.Action != testExternal+tt.uri || g.NumDigits != "1" || g.Method != "POST" {
					t.Errorf("Gather action %q numDigits %q method %q", g.Action, g.NumDigits, g.Method)
				}
				says = g.Says
			} else if len(doc.Gathers) != 0 {
				t.Errorf("unexpected Gather: %s", body)
			}
			if len(says) == 0 || says[0].Text != tt.say || says[0].Language != "en-US" || says[0].Voice != "alice" {
				t.Errorf("reply %s, want it to say %q", body, tt.say)
			}
		})
	}
}

// TestVoiceRoundTrip: the Gather action of a real call, posted back as
// Twilio signs it, acknowledges the incident.
func TestVoiceRoundTrip(t *testing.T) {
	f := newFakeTwilio(t)
	tw := newTwilio(t, config(f.URL), nil)
	if _, err := tw.Voice().Notify(context.Background(), notification(engine.NotifyFiring)); err != nil {
		t.Fatal(err)
	}
	action := parseTwiML(t, f.only(t).Form.Get("Twiml")).Gathers[0].Action
	u, err := url.Parse(action)
	if err != nil {
		t.Fatal(err)
	}
	form := callForm("1")
	r := newResponder()
	resp, body := serve(t, tw.Handler(r, nil), callback{method: http.MethodPost, uri: u.RequestURI(), form: form, sig: sign(testToken, action, form)})
	if doc := twimlReply(t, resp, body); len(doc.Says) != 1 || doc.Says[0].Text != DefaultAcknowledged {
		t.Errorf("reply %s", body)
	}
	if got := r.seen(); len(got) != 1 || got[0] != (call{Method: "Keypress", ID: 34, Incident: 12, Key: engine.CallAcknowledge,
		Provider: testCallSid, D: time.Hour, Addr: "127.0.0.1"}) {
		t.Errorf("responder saw %+v", got)
	}
}

func TestStatusCallback(t *testing.T) {
	tests := []struct {
		name   string
		form   url.Values
		err    error
		want   []call
		status int
	}{
		// A call's progress.
		{"call ringing", url.Values{"CallSid": {"CA1"}, "CallStatus": {"ringing"}}, nil,
			[]call{{Method: "DeliveryStatus", ID: 34, Provider: "CA1", Status: "ringing"}}, http.StatusNoContent},
		// An unanswered call.
		{"call no-answer", url.Values{"CallSid": {"CA1"}, "CallStatus": {"no-answer"}, "CallDuration": {"0"}}, nil,
			[]call{{Method: "DeliveryStatus", ID: 34, Provider: "CA1", Status: "no-answer"}}, http.StatusNoContent},
		// An undelivered message, with Twilio's error code.
		{"message undelivered", url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30003"}}, nil,
			[]call{{Method: "DeliveryStatus", ID: 34, Provider: "SM1", Status: "undelivered", Detail: "30003"}}, http.StatusNoContent},
		// A delivered message.
		{"message delivered", url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}}, nil,
			[]call{{Method: "DeliveryStatus", ID: 34, Provider: "SM1", Status: "delivered"}}, http.StatusNoContent},
		// A notification the store forgot is acknowledged to Twilio.
		{"unknown notification", url.Values{"CallSid": {"CA1"}, "CallStatus": {"completed"}}, fmt.Errorf("notification 34: %w", engine.ErrNotFound),
			[]call{{Method: "DeliveryStatus", ID: 34, Provider: "CA1", Status: "completed"}}, http.StatusNoContent},
		// A failure to record is a 500.
		{"store failure", url.Values{"CallSid": {"CA1"}, "CallStatus": {"completed"}}, fmt.Errorf("disk full"),
			[]call{{Method: "DeliveryStatus", ID: 34, Provider: "CA1", Status: "completed"}}, http.StatusInternalServerError},
		// Neither status is a bad request.
		{"no status", url.Values{"CallSid": {"CA1"}}, nil, nil, http.StatusBadRequest},
		// Voicemail took the call: it counts as not answered.
		{"answering machine", url.Values{"CallSid": {"CA1"}, "CallStatus": {"completed"}, "AnsweredBy": {"machine_end_beep"}}, nil,
			[]call{{Method: "DeliveryStatus", ID: 34, Provider: "CA1", Status: "no-answer", Detail: "answered by machine_end_beep"}}, http.StatusNoContent},
		// A person did: answered.
		{"human", url.Values{"CallSid": {"CA1"}, "CallStatus": {"in-progress"}, "AnsweredBy": {"human"}}, nil,
			[]call{{Method: "DeliveryStatus", ID: 34, Provider: "CA1", Status: "in-progress"}}, http.StatusNoContent},
		// A late callback of a superseded call is acknowledged to Twilio,
		// not a 500 it would report as an error.
		{"superseded call", url.Values{"CallSid": {"CA0"}, "CallStatus": {"completed"}}, fmt.Errorf("superseded: %w", engine.ErrConflict),
			[]call{{Method: "DeliveryStatus", ID: 34, Provider: "CA0", Status: "completed"}}, http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tw := newTwilio(t, config(""), nil)
			r := newResponder()
			r.err = tt.err
			resp, body := serve(t, tw.Handler(r, nil), signed(statusURI, tt.form))
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if got := r.seen(); !slices.Equal(got, tt.want) {
				t.Errorf("responder saw %+v, want %+v", got, tt.want)
			}
		})
	}
}

func ack(id uint64) call     { return call{Method: "Acknowledge", ID: id, By: "alice", Addr: "127.0.0.1"} }
func resolve(id uint64) call { return call{Method: "Resolve", ID: id, By: "alice", Addr: "127.0.0.1"} }

func TestSMSCallback(t *testing.T) {
	tests := []struct {
		name  string
		from  string
		body  string
		err   error
		want  []call
		reply string // the Message; "" an empty Response
	}{
		// A known person acknowledges, in lower case.
		{"ack lower case", testTo, "ack 12", nil, []call{ack(12)}, "Incident 12 acknowledged."},
		// Resolve, with spaces, a '#' and mixed case.
		{"resolve", testTo, "  Resolve   #12 \n", nil, []call{resolve(12)}, "Incident 12 resolved."},
		// A full stop after the id, as a sentence ends.
		{"full stop", testTo, "ACK 2.", nil, []call{ack(2)}, "Incident 2 acknowledged."},
		// A '#' and no space.
		{"hash", testTo, "ack#2", nil, []call{ack(2)}, "Incident 2 acknowledged."},
		// In Chinese: 确认 acknowledges, 解决 resolves.
		{"chinese ack", testTo, "确认 2", nil, []call{ack(2)}, "Incident 2 acknowledged."},
		{"chinese resolve", testTo, "解决 2", nil, []call{resolve(2)}, "Incident 2 resolved."},
		{"chinese hash", testTo, "确认#2", nil, []call{ack(2)}, "Incident 2 acknowledged."},
		// Full-width forms, as a Chinese keyboard types them: a digit, the
		// ideographic space, letters, '＃', '。'.
		{"full-width digit", testTo, "确认２", nil, []call{ack(2)}, "Incident 2 acknowledged."},
		{"ideographic space", testTo, "ACK\u30002", nil, []call{ack(2)}, "Incident 2 acknowledged."},
		{"full-width letters", testTo, "ＲＥＳＯＬＶＥ　＃１２。", nil, []call{resolve(12)}, "Incident 12 resolved."},
		// Anything else gets the usage.
		{"chatter", testTo, "on my way", nil, nil, SMSUsage},
		// Two ids are ambiguous.
		{"two ids", testTo, "ACK 2 3", nil, nil, SMSUsage},
		{"two ids full-width", testTo, "确认２　３", nil, nil, SMSUsage},
		// So is more than the command.
		{"trailing words", testTo, "ACK 2 please", nil, nil, SMSUsage},
		{"two stops", testTo, "ACK 2..", nil, nil, SMSUsage},
		{"decimal", testTo, "ACK 2.5", nil, nil, SMSUsage},
		{"negative", testTo, "ACK -2", nil, nil, SMSUsage},
		{"both words", testTo, "ACK RESOLVE 2", nil, nil, SMSUsage},
		// An id too large for an incident.
		{"huge id", testTo, "ACK 99999999999999999999999", nil, nil, SMSUsage},
		// An unknown incident is said so.
		{"not found", testTo, "ACK 99", fmt.Errorf("incident 99: %w", engine.ErrNotFound),
			[]call{ack(99)}, "Incident 99 was not found."},
		// So is one already resolved.
		{"already resolved", testTo, "RESOLVE 12", fmt.Errorf("incident 12 is already resolved: %w", engine.ErrConflict),
			[]call{resolve(12)}, "Incident 12 is already resolved."},
		// A replay, or a reply about an incident nobody texted this person
		// about: no answer.
		{"denied", testTo, "ACK 12", fmt.Errorf("replay: %w", engine.ErrDenied), []call{ack(12)}, ""},
		// An internal failure is an apology.
		{"store failure", testTo, "ACK 12", fmt.Errorf("disk full"),
			[]call{ack(12)}, "Sorry, incident 12 could not be acknowledged. Try again or use the console."},
		// An unknown number changes nothing and hears nothing; the refusal
		// is audited with what it asked for and the number masked.
		{"unknown number", "+15550009876", "ACK 12", nil, []call{{Method: "Refused", Action: engine.AuditIncidentAck, Target: "incident 12",
			Addr: "127.0.0.1", Detail: "twilio sms refused: a text from an unknown number ********9876"}}, ""},
		// Chatter from an unknown number is refused as a callback.
		{"unknown number chatter", "+15550009876", "hello?", nil, []call{{Method: "Refused", Action: engine.AuditCallback, Target: PathSMS,
			Addr: "127.0.0.1", Detail: "twilio sms refused: a text from an unknown number ********9876"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			tw := newTwilio(t, config(""), nil)
			r := newResponder()
			r.err = tt.err
			resp, body := serve(t, tw.Handler(r, log), signed(PathSMS, smsForm(tt.from, tt.body)))
			doc := twimlReply(t, resp, body)
			if got := r.seen(); !slices.Equal(got, tt.want) {
				t.Errorf("responder saw %+v, want %+v", got, tt.want)
			}
			switch {
			case tt.reply == "" && (len(doc.Messages) != 0 || len(doc.Says) != 0 || len(doc.Gathers) != 0):
				t.Errorf("reply %s, want an empty Response", body)
			case tt.reply != "" && (len(doc.Messages) != 1 || doc.Messages[0] != tt.reply):
				t.Errorf("reply %s, want %q", body, tt.reply)
			}
			if strings.Contains(logs.String(), tt.from) {
				t.Errorf("the log holds the full number: %s", logs.String())
			}
		})
	}
}

// TestHandlerRefuses: what is not a Twilio callback is refused before
// anything changes.
func TestHandlerRefuses(t *testing.T) {
	big := url.Values{"From": {testTo}, "Body": {strings.Repeat("x", MaxCallback)}}
	tests := []struct {
		name    string
		cb      callback
		want    int
		refused bool // audited as a refused callback
	}{
		// Twilio posts; a GET is refused, signed or not.
		{"get", callback{method: http.MethodGet, uri: voiceURI, sig: sign(testToken, testExternal+voiceURI, nil)}, http.StatusMethodNotAllowed, false},
		// A body over 64 KiB.
		{"too large", signed(PathSMS, big), http.StatusRequestEntityTooLarge, false},
		// A path the handler does not serve.
		{"unknown path", signed("/api/v1/twilio/other", smsForm(testTo, "ACK 12")), http.StatusNotFound, false},
		// A parameter given twice is not what Twilio signs: refused as
		// unsigned, and audited.
		{"repeated parameter", signed(PathSMS, url.Values{"From": {testTo}, "Body": {"ACK 12", "RESOLVE 12"}}), http.StatusForbidden, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tw := newTwilio(t, config(""), nil)
			r := newResponder()
			resp, body := serve(t, tw.Handler(r, nil), tt.cb)
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
			got := r.seen()
			if refused := len(got) == 1 && got[0].Method == "Refused"; refused != tt.refused || !refused && len(got) != 0 {
				t.Errorf("responder saw %+v", got)
			}
		})
	}
}
