// Package kubernetes is the kubernetes remediation action: it scales or
// restarts a Deployment or StatefulSet through the Kubernetes REST API,
// as kubectl scale and kubectl rollout restart do, with a service-account
// token (read at every run, so a rotated token is used) or a configured
// one.
package kubernetes

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/remediator/remediator/actions/internal/webclient"
	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/rules"
	"github.com/remediator/remediator/template"
)

// In-cluster defaults.
const (
	DefaultAPIServer = "https://kubernetes.default.svc"
	DefaultTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	DefaultCAFile    = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
	DefaultTimeout   = 10 * time.Second
)

// Operations.
const (
	OpScale          = "scale"
	OpRolloutRestart = "rollout_restart"
)

// RestartedAtAnnotation is the pod-template annotation kubectl rollout
// restart sets; changing it rolls the pods.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// maxResponse bounds what is read of an API answer; maxOutput what a
// Result shows of it.
const (
	maxResponse = 1 << 20
	maxOutput   = 4096
)

// resources maps a kind to its resource name in apps/v1.
var resources = map[string]string{"Deployment": "deployments", "StatefulSet": "statefulsets"}

// Action is one configured kubernetes action. It is safe for concurrent
// use.
type Action struct {
	server *url.URL
	// token sits behind a pointer: fmt cannot call Secret's methods on
	// an unexported field and would print it, but it prints a nested
	// pointer as an address. nil: read tokenFile.
	token       *rules.Secret
	tokenFile   string
	namespace   *template.Template
	name        *template.Template
	place       template.Placement
	kind        string // Deployment or StatefulSet
	resource    string // deployments or statefulsets
	op          string
	replicas    *int
	scaleBy     int
	maxReplicas int // 0: none
	timeout     time.Duration
	client      *http.Client
	now         func() time.Time
}

var _ engine.Action = (*Action)(nil)

// Option changes how an action is built.
type Option func(*Action)

// WithClock makes the action take the restartedAt time from now instead
// of time.Now.
func WithClock(now func() time.Time) Option { return func(a *Action) { a.now = now } }

// New checks c and builds the action. Every problem is reported, each
// prefixed "kubernetes: " and named by its configuration key, joined.
func New(c *rules.KubernetesConfig, opts ...Option) (*Action, error) {
	if c == nil {
		return nil, errors.New("kubernetes: no configuration")
	}
	a := &Action{
		tokenFile:   c.TokenFile,
		kind:        c.Kind,
		resource:    resources[c.Kind],
		op:          c.Operation,
		replicas:    c.Replicas,
		scaleBy:     c.ScaleBy,
		maxReplicas: c.MaxReplicas,
		timeout:     c.Timeout.D(),
		now:         time.Now,
	}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf("kubernetes: "+format, args...)) }

	server := c.APIServer
	caFile := c.CAFile
	var caData []byte
	insecure := c.InsecureSkipVerify
	if c.Kubeconfig != "" {
		if c.APIServer != "" || c.Token != "" || c.TokenFile != "" || c.CAFile != "" {
			fail("kubeconfig: give kubeconfig or api_server/token/token_file/ca_file, not both")
		}
		kc, err := readKubeconfig(c.Kubeconfig, c.Context)
		if err != nil {
			fail("kubeconfig: %w", err)
		} else {
			server, caFile, caData, insecure = kc.server, kc.caFile, kc.caData, insecure || kc.insecure
			if kc.token != "" {
				tok := rules.Secret(kc.token)
				a.token = &tok
			} else {
				a.tokenFile = kc.tokenFile
			}
		}
	} else if server == "" {
		server = DefaultAPIServer
		if caFile == "" && !c.InsecureSkipVerify {
			caFile = DefaultCAFile
		}
	}
	if u, err := parseServer(server); err != nil {
		fail("api_server: %w", err)
	} else {
		a.server = u
	}
	switch {
	case c.Kubeconfig != "":
	case c.Token != "" && c.TokenFile != "":
		fail("token and token_file: give one, not both")
	case c.Token != "":
		a.token = &c.Token
	case c.TokenFile == "":
		a.tokenFile = DefaultTokenFile
	}

	if a.resource == "" {
		fail("kind %q is not Deployment or StatefulSet", c.Kind)
	}
	switch a.op {
	case OpScale:
		a.checkScale(fail)
	case OpRolloutRestart:
		if c.Replicas != nil || c.ScaleBy != 0 || c.MaxReplicas != 0 {
			fail("operation rollout_restart takes no replicas, scale_by or max_replicas")
		}
	default:
		fail("operation %q is not scale or rollout_restart", c.Operation)
	}

	var refs []string
	for _, f := range []struct {
		key, src string
		dst      **template.Template
	}{{"namespace", c.Namespace, &a.namespace}, {"name", c.Name, &a.name}} {
		if f.src == "" {
			fail("%s is required", f.key)
			continue
		}
		t, err := template.Parse(f.src)
		if err != nil {
			fail("%s: %w", f.key, err)
			continue
		}
		*f.dst = t
		refs = append(refs, t.Refs()...)
	}
	patterns, err := template.CompilePatterns(c.Validate)
	if err != nil {
		fail("%w", err)
	}
	a.place = template.Placement{Patterns: patterns}
	for _, name := range slices.Sorted(maps.Keys(c.Validate)) {
		if !slices.Contains(refs, name) {
			fail("validate.%s: not used by namespace or name", name)
		}
	}

	switch {
	case a.timeout == 0:
		a.timeout = DefaultTimeout
	case a.timeout < 0:
		fail("timeout %s is negative", c.Timeout)
	}

	tlsConfig := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: insecure, //nolint:gosec // the user's explicit choice
	}
	if len(caData) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caData) {
			fail("kubeconfig: certificate-authority-data holds no PEM certificate")
		}
		tlsConfig.RootCAs = pool
	} else if caFile != "" {
		pool, err := webclient.LoadCA(caFile)
		if err != nil {
			fail("ca_file: %w", err)
		}
		tlsConfig.RootCAs = pool
	}
	for _, o := range opts {
		o(a)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	// One request per call: secrets never follow a redirect elsewhere.
	a.client = webclient.Client(tlsConfig)
	return a, nil
}

// checkScale checks the numbers of a scale operation.
func (a *Action) checkScale(fail func(string, ...any)) {
	switch {
	case a.replicas == nil && a.scaleBy == 0:
		fail("operation scale takes replicas (to N) or scale_by (+N)")
	case a.replicas != nil && a.scaleBy != 0:
		fail("operation scale takes replicas or scale_by, not both")
	}
	if a.replicas != nil && *a.replicas < 0 {
		fail("replicas %d is negative", *a.replicas)
	}
	if a.scaleBy < 0 {
		fail("scale_by %d is negative", a.scaleBy)
	}
	if a.maxReplicas < 0 {
		fail("max_replicas %d is negative", a.maxReplicas)
	}
	if a.maxReplicas > math.MaxInt32 || (a.replicas != nil && *a.replicas > math.MaxInt32) {
		fail("replicas and max_replicas are at most %d", math.MaxInt32)
	}
	if a.scaleBy > 0 && a.maxReplicas == 0 {
		fail("scale_by needs max_replicas, the bound it never goes past")
	}
	if a.replicas != nil && a.maxReplicas > 0 && *a.replicas > a.maxReplicas {
		fail("replicas %d is above max_replicas %d", *a.replicas, a.maxReplicas)
	}
}

// parseServer checks the API server's URL: https, or http to a loopback
// address only (kubectl proxy), so a token never crosses a network in
// clear text.
func parseServer(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%q is not an absolute https URL", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("must not carry userinfo, a query or a fragment")
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return nil, errors.New("http is allowed only to a loopback address (kubectl proxy); use https")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Timeout is the longest one run may take. Run applies it; the engine may
// use it to bound the context it passes.
func (a *Action) Timeout() time.Duration { return a.timeout }

// Render renders the namespace and the name for req. A value that fails
// its pattern, or a result that is not a valid Kubernetes name, refuses
// the action (template.ErrRefused).
func (a *Action) Render(req *engine.ActionRequest) (engine.Invocation, error) {
	d := template.DataFor(req)
	ns, err := a.namespace.Render(d, a.place)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: namespace: %w", err)
	}
	if !dns1123Label(ns) {
		return nil, fmt.Errorf("kubernetes: namespace %s is not a DNS-1123 label: %w", quote(ns), template.ErrRefused)
	}
	name, err := a.name.Render(d, a.place)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: name: %w", err)
	}
	if !dns1123Subdomain(name) {
		return nil, fmt.Errorf("kubernetes: name %s is not a DNS-1123 subdomain: %w", quote(name), template.ErrRefused)
	}
	return &invocation{a: a, namespace: ns, name: name}, nil
}

var (
	labelRE     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	subdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// dns1123Label is what a namespace must be.
func dns1123Label(s string) bool { return len(s) <= 63 && labelRE.MatchString(s) }

// dns1123Subdomain is what a Deployment's or StatefulSet's name must be.
func dns1123Subdomain(s string) bool { return len(s) <= 253 && subdomainRE.MatchString(s) }

// invocation is one rendered operation on one object.
type invocation struct {
	a               *Action
	namespace, name string
}

// Describe says what would be done, e.g.
// "kubernetes scale deployment ns/name to 5 (max 10)".
func (inv *invocation) Describe() string {
	a := inv.a
	s := fmt.Sprintf("kubernetes %s %s %s/%s", a.op, strings.ToLower(a.kind), inv.namespace, inv.name)
	if a.op != OpScale {
		return s
	}
	if a.replicas != nil {
		s += fmt.Sprintf(" to %d", *a.replicas)
	} else {
		s += fmt.Sprintf(" by +%d", a.scaleBy)
	}
	if a.maxReplicas > 0 {
		s += fmt.Sprintf(" (max %d)", a.maxReplicas)
	}
	return s
}

// path is the object's API path, with suffix ("/scale" or "").
func (inv *invocation) path(suffix string) string {
	return inv.a.server.Path + "/apis/apps/v1/namespaces/" + inv.namespace + "/" + inv.a.resource + "/" + inv.name + suffix
}

// object names the object in messages.
func (inv *invocation) object() string {
	return strings.ToLower(inv.a.kind) + " " + inv.namespace + "/" + inv.name
}

// Run performs the operation within the action's timeout and ctx.
func (inv *invocation) Run(ctx context.Context) (res engine.Result) {
	start := time.Now()
	var token string
	defer func() {
		if r := recover(); r != nil {
			res = engine.Result{Err: fmt.Sprintf("%s: internal error: %v", inv.object(), r)}
		}
		res.Err = scrub(res.Err, token)
		res.Output = scrub(res.Output, token)
		res.Duration = time.Since(start)
	}()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, inv.a.timeout)
	defer cancel()

	token, err := inv.a.readToken()
	if err != nil {
		return engine.Result{Err: "kubernetes: " + err.Error()}
	}
	c := &call{inv: inv, ctx: ctx, parent: parent, token: token}
	if inv.a.op == OpScale {
		return c.scale()
	}
	return c.restart()
}

// readToken returns the configured token, or reads the token file.
func (a *Action) readToken() (string, error) {
	if a.token != nil {
		return a.token.Value(), nil
	}
	b, err := os.ReadFile(a.tokenFile)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	switch {
	case t == "":
		return "", fmt.Errorf("token file %s is empty", a.tokenFile)
	case strings.ContainsAny(t, "\r\n\x00"):
		return "", fmt.Errorf("token file %s holds more than one line", a.tokenFile)
	}
	return t, nil
}

// call is one run's requests.
type call struct {
	inv    *invocation
	ctx    context.Context // with the action's timeout
	parent context.Context // as the caller passed it
	token  string
}

// scaleObject is an autoscaling/v1 Scale. Metadata is kept as received,
// so its resourceVersion goes back with the update.
type scaleObject struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Metadata   json.RawMessage `json:"metadata"`
	Spec       struct {
		Replicas int64 `json:"replicas"`
	} `json:"spec"`
}

// scale reads the scale subresource, computes the new replica count and
// writes it back with the resourceVersion read, so a concurrent change
// is a 409, not an overwrite.
func (c *call) scale() engine.Result {
	a := c.inv.a
	path := c.inv.path("/scale")
	status, body, res := c.do(http.MethodGet, path, "", nil)
	if !res.OK {
		return res
	}
	var s scaleObject
	if err := json.Unmarshal(body, &s); err != nil || len(s.Metadata) == 0 {
		return engine.Result{Status: status, Err: fmt.Sprintf("get %s scale: the answer is not a Scale object", c.inv.object())}
	}
	current := s.Spec.Replicas
	var want int64
	if a.replicas != nil {
		want = int64(*a.replicas)
	} else {
		if current >= int64(a.maxReplicas) {
			return engine.Result{Status: status, Err: fmt.Sprintf("scale %s: already at max_replicas (%d replicas, max %d)", c.inv.object(), current, a.maxReplicas)}
		}
		want = min(current+int64(a.scaleBy), int64(a.maxReplicas))
	}
	if want == current {
		return engine.Result{OK: true, Status: status, Output: fmt.Sprintf("%s already has %d replicas", c.inv.object(), current)}
	}
	s.APIVersion, s.Kind, s.Spec.Replicas = "autoscaling/v1", "Scale", want
	put, err := json.Marshal(s)
	if err != nil {
		return engine.Result{Status: status, Err: fmt.Sprintf("scale %s: %v", c.inv.object(), err)}
	}
	status, _, res = c.do(http.MethodPut, path, "application/json", put)
	if !res.OK {
		return res
	}
	return engine.Result{OK: true, Status: status, Output: fmt.Sprintf("scaled %s from %d to %d replicas", c.inv.object(), current, want)}
}

// restart patches the pod template's restartedAt annotation, as kubectl
// rollout restart does.
func (c *call) restart() engine.Result {
	at := c.inv.a.now().Format(time.RFC3339)
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{RestartedAtAnnotation: at},
	}}}})
	if err != nil {
		return engine.Result{Err: fmt.Sprintf("restart %s: %v", c.inv.object(), err)}
	}
	status, _, res := c.do(http.MethodPatch, c.inv.path(""), "application/strategic-merge-patch+json", patch)
	if !res.OK {
		return res
	}
	return engine.Result{OK: true, Status: status, Output: fmt.Sprintf("restarted %s at %s", c.inv.object(), at)}
}

// apiStatus is the part of a metav1.Status that explains a failure.
type apiStatus struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
}

// do sends one request. res is OK on a 2xx; otherwise it is the failed
// Result, its Err naming the step and the API's message.
func (c *call) do(method, path, contentType string, body []byte) (status int, out []byte, res engine.Result) {
	step := strings.ToLower(method) + " " + c.inv.object()
	if strings.HasSuffix(path, "/scale") {
		step += " scale"
	}
	u := *c.inv.a.server
	u.Path = path
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(c.ctx, method, u.String(), rd)
	if err != nil {
		return 0, nil, engine.Result{Err: fmt.Sprintf("%s: %v", step, err)}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "remediator")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.inv.a.client.Do(req)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		res := engine.Result{Err: fmt.Sprintf("%s: %v", step, err)}
		if c.ctx.Err() != nil {
			res.Cancelled = true
			res.Err = fmt.Sprintf("%s: %s", step, webclient.Ended(c.parent, c.inv.a.timeout))
		}
		return 0, nil, res
	}
	defer resp.Body.Close()
	out, err = io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		res := engine.Result{Status: resp.StatusCode, Err: fmt.Sprintf("%s: reading the answer: %v", step, err), Cancelled: c.ctx.Err() != nil}
		return resp.StatusCode, nil, res
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return resp.StatusCode, out, engine.Result{OK: true, Status: resp.StatusCode}
	}
	// Scrub before cutting, so no part of the token survives a cut.
	shown := scrub(string(out), c.token)
	msg := fmt.Sprintf("%s: %s", step, resp.Status)
	var st apiStatus
	if json.Unmarshal([]byte(shown), &st) == nil && st.Kind == "Status" && st.Message != "" {
		msg += ": " + st.Message
		if st.Reason != "" {
			msg += " (" + st.Reason + ")"
		}
	} else if len(shown) > 0 {
		msg += ": " + quoteN(shown, 200)
	}
	// No such object (or namespace): nothing was tried, a configuration
	// fault rather than a failed fix.
	return resp.StatusCode, out, engine.Result{Status: resp.StatusCode, Err: msg, Output: truncate(shown, maxOutput), NotStarted: resp.StatusCode == http.StatusNotFound}
}

// scrub replaces the token in s: an API server or a proxy in front of it
// could echo it.
func scrub(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "<redacted>")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// quote shows at most 40 bytes of a value.
func quote(v string) string { return quoteN(v, 40) }

// quoteN shows at most n bytes of s, quoted.
func quoteN(s string, n int) string {
	if len(s) > n {
		return fmt.Sprintf("%q… (%d bytes)", s[:n], len(s))
	}
	return strconv.Quote(s)
}
