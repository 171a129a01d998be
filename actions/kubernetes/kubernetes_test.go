package kubernetes

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/rules"
	"github.com/remediator/remediator/template"
)

const (
	apiPrefix = "/apis/apps/v1/namespaces/"
	testToken = "tok-0123456789abcdef"
)

// object is a Deployment or StatefulSet as the fake API server keeps it.
type object struct {
	replicas    int64
	rv          int // resourceVersion
	restartedAt string
}

// apiCall is what the fake API server received of one request.
type apiCall struct {
	Method, Path, ContentType, Auth string
	Body                            []byte
}

// apiServer is a fake Kubernetes API server on 127.0.0.1. It serves the
// scale subresource and strategic-merge patches of apps/v1 Deployments
// and StatefulSets and checks what the real one checks: the bearer token,
// the path, the verb, the content type, the body, and the
// resourceVersion of an update. Failures are answered with a
// metav1.Status.
type apiServer struct {
	*httptest.Server

	mu      sync.Mutex
	tokens  map[string]bool    // accepted bearer tokens
	objects map[string]*object // by "resource/namespace/name"
	fail    map[string]int     // "METHOD path" answered with this status
	calls   []apiCall
	// afterGet runs after a GET of a scale is answered, under mu: a
	// concurrent writer.
	afterGet func(o *object)
}

func newAPIServer(t *testing.T, tls bool) *apiServer {
	t.Helper()
	s := &apiServer{tokens: map[string]bool{testToken: true}, objects: map[string]*object{}, fail: map[string]int{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // the TLS tests fail handshakes on purpose
	if tls {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

// add creates an object with replicas and resourceVersion 100.
func (s *apiServer) add(resource, ns, name string, replicas int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[resource+"/"+ns+"/"+name] = &object{replicas: replicas, rv: 100}
}

func (s *apiServer) get(resource, ns, name string) object {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.objects[resource+"/"+ns+"/"+name]
}

func (s *apiServer) received() []apiCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// status answers a metav1.Status, as the API server does on failure.
func status(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": msg, "reason": reason, "code": code,
	})
}

func (s *apiServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, apiCall{Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), Auth: r.Header.Get("Authorization"), Body: body})

	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !s.tokens[tok] {
		status(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized")
		return
	}
	if code := s.fail[r.Method+" "+r.URL.Path]; code != 0 {
		status(w, code, strings.ReplaceAll(http.StatusText(code), " ", ""), fmt.Sprintf("injected %d for %s", code, r.URL.Path))
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, apiPrefix), "/")
	if !strings.HasPrefix(r.URL.Path, apiPrefix) || len(parts) < 3 || len(parts) > 4 ||
		(parts[1] != "deployments" && parts[1] != "statefulsets") || (len(parts) == 4 && parts[3] != "scale") {
		status(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource")
		return
	}
	ns, resource, name := parts[0], parts[1], parts[2]
	o := s.objects[resource+"/"+ns+"/"+name]
	if o == nil {
		status(w, http.StatusNotFound, "NotFound", fmt.Sprintf("%s.apps %q not found", resource, name))
		return
	}
	switch {
	case len(parts) == 4 && r.Method == http.MethodGet:
		writeScale(w, ns, name, o)
		if s.afterGet != nil {
			s.afterGet(o)
		}
	case len(parts) == 4 && r.Method == http.MethodPut:
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			status(w, http.StatusUnsupportedMediaType, "UnsupportedMediaType", fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: application/json; got %q", ct))
			return
		}
		var sc struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name, Namespace, ResourceVersion string
			} `json:"metadata"`
			Spec struct {
				Replicas *int64 `json:"replicas"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(body, &sc); err != nil || sc.APIVersion != "autoscaling/v1" || sc.Kind != "Scale" || sc.Metadata.Name != name || sc.Metadata.Namespace != ns || sc.Spec.Replicas == nil {
			status(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("not a Scale of %s/%s: %s", ns, name, body))
			return
		}
		if sc.Metadata.ResourceVersion != strconv.Itoa(o.rv) {
			status(w, http.StatusConflict, "Conflict", fmt.Sprintf("Operation cannot be fulfilled on %s.apps %q: the object has been modified; please apply your changes to the latest version and try again", resource, name))
			return
		}
		if *sc.Spec.Replicas < 0 {
			status(w, http.StatusUnprocessableEntity, "Invalid", "spec.replicas: Invalid value: must be greater than or equal to 0")
			return
		}
		o.replicas, o.rv = *sc.Spec.Replicas, o.rv+1
		writeScale(w, ns, name, o)
	case len(parts) == 3 && r.Method == http.MethodPatch:
		if ct := r.Header.Get("Content-Type"); ct != "application/strategic-merge-patch+json" {
			status(w, http.StatusUnsupportedMediaType, "UnsupportedMediaType", fmt.Sprintf("the body of the request was in an unknown format; got %q", ct))
			return
		}
		var patch struct {
			Spec struct {
				Template struct {
					Metadata struct {
						Annotations map[string]string `json:"annotations"`
					} `json:"metadata"`
				} `json:"template"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(body, &patch); err != nil {
			status(w, http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
		at, ok := patch.Spec.Template.Metadata.Annotations[RestartedAtAnnotation]
		if _, err := time.Parse(time.RFC3339, at); !ok || err != nil {
			status(w, http.StatusUnprocessableEntity, "Invalid", fmt.Sprintf("no RFC 3339 restartedAt annotation in %s", body))
			return
		}
		o.restartedAt, o.rv = at, o.rv+1
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Deployment", "apiVersion": "apps/v1",
			"metadata": map[string]any{"name": name, "namespace": ns, "resourceVersion": strconv.Itoa(o.rv)}})
	default:
		status(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "the server does not allow this method on the requested resource")
	}
}

// writeScale answers an autoscaling/v1 Scale.
func writeScale(w http.ResponseWriter, ns, name string, o *object) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"kind": "Scale", "apiVersion": "autoscaling/v1",
		"metadata": map[string]any{"name": name, "namespace": ns, "uid": "6b1e0c1a-0000-4000-8000-000000000001",
			"resourceVersion": strconv.Itoa(o.rv), "creationTimestamp": "2026-01-01T00:00:00Z"},
		"spec":   map[string]any{"replicas": o.replicas},
		"status": map[string]any{"replicas": o.replicas, "selector": "app=" + name},
	})
}

func intp(n int) *int { return &n }

// config is a valid configuration for srv.
func config(srv *apiServer, op, kind string) rules.KubernetesConfig {
	return rules.KubernetesConfig{APIServer: srv.URL, Token: testToken, Namespace: "{{ .labels.namespace }}",
		Kind: kind, Name: "{{ .labels.deployment }}", Operation: op}
}

func request(labels map[string]string) *engine.ActionRequest {
	return &engine.ActionRequest{Rule: "scale-up", Target: "shop/web", Incident: 9, Level: "warning",
		Alert: engine.Alert{Fingerprint: "f00d", Labels: labels}}
}

var webLabels = map[string]string{"namespace": "shop", "deployment": "web"}

func mustNew(t *testing.T, c *rules.KubernetesConfig, opts ...Option) *Action {
	t.Helper()
	a, err := New(c, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func run(t *testing.T, a *Action, labels map[string]string) (engine.Invocation, engine.Result) {
	t.Helper()
	inv, err := a.Render(request(labels))
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return inv, inv.Run(context.Background())
}

func TestNewErrors(t *testing.T) {
	valid := func(f func(c *rules.KubernetesConfig)) rules.KubernetesConfig {
		c := rules.KubernetesConfig{APIServer: "https://10.0.0.1:6443", Token: "t", Namespace: "shop", Kind: "Deployment",
			Name: "{{ .labels.deployment }}", Operation: "scale", Replicas: intp(3)}
		f(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  rules.KubernetesConfig
		want []string // the lines of the error, in order
	}{
		// Only the two workload kinds.
		{"kind", valid(func(c *rules.KubernetesConfig) { c.Kind = "Pod" }), []string{`kubernetes: kind "Pod" is not Deployment or StatefulSet`}},
		// Kinds are spelt as Kubernetes spells them.
		{"kind lower case", valid(func(c *rules.KubernetesConfig) { c.Kind = "deployment" }), []string{`kubernetes: kind "deployment" is not Deployment or StatefulSet`}},
		// Only the two operations.
		{"operation", valid(func(c *rules.KubernetesConfig) { c.Operation = "delete" }), []string{`kubernetes: operation "delete" is not scale or rollout_restart`}},
		// scale needs a number.
		{"scale without a number", valid(func(c *rules.KubernetesConfig) { c.Replicas = nil }), []string{"kubernetes: operation scale takes replicas (to N) or scale_by (+N)"}},
		// But only one.
		{"scale with both", valid(func(c *rules.KubernetesConfig) { c.ScaleBy, c.MaxReplicas = 1, 5 }), []string{"kubernetes: operation scale takes replicas or scale_by, not both"}},
		// No negative replicas.
		{"negative replicas", valid(func(c *rules.KubernetesConfig) { c.Replicas = intp(-1) }), []string{"kubernetes: replicas -1 is negative"}},
		// No scaling down by scale_by.
		{"negative scale_by", valid(func(c *rules.KubernetesConfig) { c.Replicas, c.ScaleBy = nil, -1 }), []string{"kubernetes: scale_by -1 is negative"}},
		// No negative bound.
		{"negative max_replicas", valid(func(c *rules.KubernetesConfig) { c.MaxReplicas = -1 }), []string{"kubernetes: max_replicas -1 is negative"}},
		// scale_by is always bounded.
		{"scale_by without max_replicas", valid(func(c *rules.KubernetesConfig) { c.Replicas, c.ScaleBy = nil, 2 }), []string{"kubernetes: scale_by needs max_replicas"}},
		// The target count is within the bound.
		{"replicas above max_replicas", valid(func(c *rules.KubernetesConfig) { c.Replicas, c.MaxReplicas = intp(12), 10 }), []string{"kubernetes: replicas 12 is above max_replicas 10"}},
		// Replica counts are int32 in Kubernetes.
		{"replicas beyond int32", valid(func(c *rules.KubernetesConfig) { c.Replicas = intp(1 << 40) }), []string{"kubernetes: replicas and max_replicas are at most 2147483647"}},
		// A restart takes no numbers.
		{"restart with replicas", valid(func(c *rules.KubernetesConfig) { c.Operation = "rollout_restart" }), []string{"kubernetes: operation rollout_restart takes no replicas"}},
		// Both names are required.
		{"no namespace", valid(func(c *rules.KubernetesConfig) { c.Namespace = "" }), []string{"kubernetes: namespace is required"}},
		// And must parse.
		{"bad name template", valid(func(c *rules.KubernetesConfig) { c.Name = "{{ .labels.x | printf }}" }), []string{"kubernetes: name: template"}},
		// Patterns compile.
		{"bad pattern", valid(func(c *rules.KubernetesConfig) { c.Validate = map[string]string{"deployment": "(("} }), []string{"kubernetes: validate.deployment: error parsing regexp"}},
		// And are used.
		{"unused pattern", valid(func(c *rules.KubernetesConfig) { c.Validate = map[string]string{"deploymnt": "[a-z]+"} }), []string{"kubernetes: validate.deploymnt: not used by namespace or name"}},
		// One source of token.
		{"token and token_file", valid(func(c *rules.KubernetesConfig) { c.TokenFile = "/tmp/t" }), []string{"kubernetes: token and token_file: give one, not both"}},
		// No token in clear text across a network.
		{"remote http", valid(func(c *rules.KubernetesConfig) { c.APIServer = "http://10.0.0.1:8080" }), []string{"kubernetes: api_server: http is allowed only to a loopback address"}},
		// An API server is a URL.
		{"api_server not a URL", valid(func(c *rules.KubernetesConfig) { c.APIServer = "kubernetes.local" }), []string{`kubernetes: api_server: "kubernetes.local" is not an absolute https URL`}},
		// Credentials go in token, not in the URL.
		{"api_server with userinfo", valid(func(c *rules.KubernetesConfig) { c.APIServer = "https://u:p@10.0.0.1" }), []string{"kubernetes: api_server: must not carry userinfo"}},
		// The CA file is read at load.
		{"unreadable CA", valid(func(c *rules.KubernetesConfig) { c.CAFile = "/nonexistent/ca.crt" }), []string{"kubernetes: ca_file: open /nonexistent/ca.crt"}},
		// A negative timeout is a mistake.
		{"negative timeout", valid(func(c *rules.KubernetesConfig) { c.Timeout = rules.Duration(-time.Second) }), []string{"kubernetes: timeout -1s is negative"}},
		// Every problem at once, one per line.
		{"several", rules.KubernetesConfig{APIServer: "https://h", Kind: "Job", Operation: "scale", ScaleBy: 1}, []string{
			`kubernetes: kind "Job" is not Deployment or StatefulSet`,
			"kubernetes: scale_by needs max_replicas",
			"kubernetes: namespace is required",
			"kubernetes: name is required",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(&tt.cfg)
			if err == nil {
				t.Fatalf("New = %v, want an error", a)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("error has %d lines, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, want := range tt.want {
				if !strings.HasPrefix(lines[i], want) {
					t.Errorf("line %d = %q, want it to start with %q", i, lines[i], want)
				}
			}
		})
	}
}

// TestInClusterDefaults: with no api_server the in-cluster server, token
// and CA apply; outside a cluster the missing CA is an error at load.
func TestInClusterDefaults(t *testing.T) {
	if _, err := os.Stat(DefaultCAFile); err == nil {
		t.Skip("running in a cluster")
	}
	_, err := New(&rules.KubernetesConfig{Namespace: "shop", Kind: "Deployment", Name: "web", Operation: "rollout_restart"})
	if err == nil || err.Error() != "kubernetes: ca_file: open "+DefaultCAFile+": no such file or directory" {
		t.Fatalf("New = %v", err)
	}
	a, err := New(&rules.KubernetesConfig{Namespace: "shop", Kind: "Deployment", Name: "web", Operation: "rollout_restart", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if a.server.String() != DefaultAPIServer || a.tokenFile != DefaultTokenFile || a.token != nil || a.Timeout() != DefaultTimeout {
		t.Fatalf("defaults: server %s, token file %q, timeout %s", a.server, a.tokenFile, a.Timeout())
	}
}

// TestScale: the scale subresource is read, the new count computed and
// written back with the resourceVersion read.
func TestScale(t *testing.T) {
	tests := []struct {
		name     string
		kind     string
		replicas *int
		scaleBy  int
		max      int
		start    int64
		want     int64 // replicas afterwards
		write    bool  // whether a PUT is sent
		errWant  string
	}{
		{"to N", "Deployment", intp(5), 0, 10, 3, 5, true, ""},                                // up to a fixed count
		{"to N without a bound", "Deployment", intp(5), 0, 0, 3, 5, true, ""},                 // max_replicas is optional with replicas
		{"down to N", "Deployment", intp(1), 0, 0, 3, 1, true, ""},                            // a fixed count may be lower
		{"to zero", "Deployment", intp(0), 0, 0, 2, 0, true, ""},                              // zero is written, not omitted
		{"already at N", "Deployment", intp(3), 0, 0, 3, 3, false, ""},                        // nothing to write
		{"by +N", "Deployment", nil, 2, 10, 3, 5, true, ""},                                   // up by N
		{"by +N capped", "Deployment", nil, 5, 10, 8, 10, true, ""},                           // never past max_replicas
		{"at the cap", "Deployment", nil, 1, 10, 10, 10, false, "already at max_replicas"},    // a failure, no write
		{"above the cap", "Deployment", nil, 1, 10, 12, 12, false, "already at max_replicas"}, // scaled by hand past it: still no write
		{"statefulset", "StatefulSet", nil, 1, 3, 1, 2, true, ""},                             // the statefulsets resource
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newAPIServer(t, false)
			resource := resources[tt.kind]
			srv.add(resource, "shop", "web", tt.start)
			c := config(srv, "scale", tt.kind)
			c.Replicas, c.ScaleBy, c.MaxReplicas = tt.replicas, tt.scaleBy, tt.max
			_, res := run(t, mustNew(t, &c), webLabels)

			if (tt.errWant == "") != res.OK || !strings.Contains(res.Err, tt.errWant) || res.Status != 200 {
				t.Fatalf("Result = %+v", res)
			}
			if got := srv.get(resource, "shop", "web").replicas; got != tt.want {
				t.Errorf("replicas = %d, want %d", got, tt.want)
			}
			path := apiPrefix + "shop/" + resource + "/web/scale"
			calls := srv.received()
			if len(calls) == 0 || calls[0].Method != http.MethodGet || calls[0].Path != path || calls[0].Auth != "Bearer "+testToken {
				t.Fatalf("first call %+v, want GET %s with the token", calls, path)
			}
			if !tt.write {
				if len(calls) != 1 {
					t.Errorf("%d calls, want the GET only", len(calls))
				}
				return
			}
			if len(calls) != 2 {
				t.Fatalf("%d calls, want GET and PUT", len(calls))
			}
			put := calls[1]
			if put.Method != http.MethodPut || put.Path != path || put.ContentType != "application/json" || put.Auth != "Bearer "+testToken {
				t.Errorf("second call %s %s %q %q", put.Method, put.Path, put.ContentType, put.Auth)
			}
			var body map[string]any
			if err := json.Unmarshal(put.Body, &body); err != nil {
				t.Fatal(err)
			}
			meta, _ := body["metadata"].(map[string]any)
			spec, _ := body["spec"].(map[string]any)
			if body["apiVersion"] != "autoscaling/v1" || body["kind"] != "Scale" || meta["resourceVersion"] != "100" ||
				meta["name"] != "web" || meta["namespace"] != "shop" || spec["replicas"] != float64(tt.want) {
				t.Errorf("PUT body %s", put.Body)
			}
			if want := fmt.Sprintf("scaled %s shop/web from %d to %d replicas", strings.ToLower(tt.kind), tt.start, tt.want); res.Output != want {
				t.Errorf("Output = %q, want %q", res.Output, want)
			}
		})
	}
}

// TestRolloutRestart: the pod template's restartedAt annotation is
// patched with the clock's time, as kubectl rollout restart does.
func TestRolloutRestart(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
	tests := []struct {
		name, kind, resource string
	}{
		{"deployment", "Deployment", "deployments"},    // kubectl rollout restart deployment
		{"statefulset", "StatefulSet", "statefulsets"}, // kubectl rollout restart statefulset
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newAPIServer(t, false)
			srv.add(tt.resource, "shop", "web", 3)
			c := config(srv, "rollout_restart", tt.kind)
			_, res := run(t, mustNew(t, &c, WithClock(func() time.Time { return at })), webLabels)
			if !res.OK || res.Status != 200 || res.Output != "restarted "+tt.name+" shop/web at 2026-03-01T12:30:00Z" {
				t.Fatalf("Result = %+v", res)
			}
			calls := srv.received()
			if len(calls) != 1 {
				t.Fatalf("%d calls, want one PATCH", len(calls))
			}
			p := calls[0]
			if p.Method != http.MethodPatch || p.Path != apiPrefix+"shop/"+tt.resource+"/web" ||
				p.ContentType != "application/strategic-merge-patch+json" || p.Auth != "Bearer "+testToken {
				t.Errorf("call %s %s %q %q", p.Method, p.Path, p.ContentType, p.Auth)
			}
			var got any
			if err := json.Unmarshal(p.Body, &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
				"annotations": map[string]any{"kubectl.kubernetes.io/restartedAt": "2026-03-01T12:30:00Z"}}}}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("patch %s", p.Body)
			}
			if srv.get(tt.resource, "shop", "web").restartedAt != "2026-03-01T12:30:00Z" {
				t.Error("the annotation was not applied")
			}
		})
	}
}

// TestAPIErrors: every failing answer is a failure once, with the API's
// Status message in Err, and no retry.
func TestAPIErrors(t *testing.T) {
	scalePath := apiPrefix + "shop/deployments/web/scale"
	objPath := apiPrefix + "shop/deployments/web"
	tests := []struct {
		name   string
		op     string
		setup  func(s *apiServer)
		labels map[string]string
		code   int
		calls  int // requests sent
		want   string
	}{
		// RBAC forbids reading the scale.
		{"get 403", "scale", func(s *apiServer) { s.fail["GET "+scalePath] = 403 }, webLabels, 403, 1,
			"get deployment shop/web scale: 403 Forbidden: injected 403 for " + scalePath + " (Forbidden)"},
		// The Deployment does not exist.
		{"get 404", "scale", nil, map[string]string{"namespace": "shop", "deployment": "ghost"}, 404, 1,
			`get deployment shop/ghost scale: 404 Not Found: deployments.apps "ghost" not found (NotFound)`},
		// Someone else scaled between our GET and PUT: the resourceVersion no longer matches.
		{"put 409", "scale", func(s *apiServer) { s.afterGet = func(o *object) { o.rv++ } }, webLabels, 409, 2,
			`put deployment shop/web scale: 409 Conflict: Operation cannot be fulfilled on deployments.apps "web": the object has been modified`},
		// RBAC allows get but not update.
		{"put 403", "scale", func(s *apiServer) { s.fail["PUT "+scalePath] = 403 }, webLabels, 403, 2, "put deployment shop/web scale: 403 Forbidden"},
		// The API server fails.
		{"put 500", "scale", func(s *apiServer) { s.fail["PUT "+scalePath] = 500 }, webLabels, 500, 2,
			"put deployment shop/web scale: 500 Internal Server Error: injected 500"},
		// RBAC forbids the patch.
		{"patch 403", "rollout_restart", func(s *apiServer) { s.fail["PATCH "+objPath] = 403 }, webLabels, 403, 1, "patch deployment shop/web: 403 Forbidden: injected 403"},
		// The Deployment to restart does not exist.
		{"patch 404", "rollout_restart", nil, map[string]string{"namespace": "shop", "deployment": "ghost"}, 404, 1,
			`patch deployment shop/ghost: 404 Not Found: deployments.apps "ghost" not found (NotFound)`},
		// A conflict on the patch.
		{"patch 409", "rollout_restart", func(s *apiServer) { s.fail["PATCH "+objPath] = 409 }, webLabels, 409, 1, "patch deployment shop/web: 409 Conflict: injected 409"},
		// A server error on the patch.
		{"patch 503", "rollout_restart", func(s *apiServer) { s.fail["PATCH "+objPath] = 503 }, webLabels, 503, 1, "patch deployment shop/web: 503 Service Unavailable: injected 503"},
		// The token is not accepted.
		{"401", "rollout_restart", func(s *apiServer) { s.tokens = map[string]bool{"other": true} }, webLabels, 401, 1, "patch deployment shop/web: 401 Unauthorized: Unauthorized (Unauthorized)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newAPIServer(t, false)
			srv.add("deployments", "shop", "web", 3)
			if tt.setup != nil {
				tt.setup(srv)
			}
			c := config(srv, tt.op, "Deployment")
			if tt.op == "scale" {
				c.Replicas = intp(5)
			}
			_, res := run(t, mustNew(t, &c), tt.labels)
			if res.OK || res.Status != tt.code || !strings.HasPrefix(res.Err, tt.want) || res.Cancelled {
				t.Fatalf("Result = %+v\nwant Err starting %q", res, tt.want)
			}
			// Only an object that does not exist is "could not start".
			if res.NotStarted != (tt.code == 404) {
				t.Errorf("NotStarted = %v for %d", res.NotStarted, tt.code)
			}
			if !strings.Contains(res.Output, `"kind":"Status"`) {
				t.Errorf("Output = %q, want the Status", res.Output)
			}
			if n := len(srv.received()); n != tt.calls {
				t.Errorf("%d requests, want %d (no retries)", n, tt.calls)
			}
		})
	}
}

// TestNotAStatus: an answer that is not a Status (a proxy's error page)
// is shown in Err quoted and cut at 200 bytes.
func TestNotAStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html><body>bad gateway from the proxy in front of the API server</body></html>"+strings.Repeat(" ", 200))
	}))
	t.Cleanup(srv.Close)
	c := rules.KubernetesConfig{APIServer: srv.URL, Token: testToken, Namespace: "shop", Kind: "Deployment", Name: "web", Operation: "rollout_restart"}
	_, res := run(t, mustNew(t, &c), nil)
	want := `patch deployment shop/web: 502 Bad Gateway: "<html><body>bad gateway from the proxy in front of the API server</body></html>` + strings.Repeat(" ", 121) + `"… (279 bytes)`
	if res.OK || res.Status != 502 || res.Err != want {
		t.Fatalf("Result = %+v\nwant Err %q", res, want)
	}
}

// TestTLS: the API server is verified with the CA file.
func TestTLS(t *testing.T) {
	srv := newAPIServer(t, true)
	srv.add("deployments", "shop", "web", 1)
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		ca      string
		skip    bool
		errWant string
	}{
		{"CA file", ca, false, ""},                                  // the cluster CA verifies the server
		{"no CA", "", false, "x509: certificate signed by unknown"}, // the system roots do not
		{"insecure", "", true, ""},                                  // the user's explicit choice
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config(srv, "rollout_restart", "Deployment")
			c.CAFile, c.InsecureSkipVerify = tt.ca, tt.skip
			_, res := run(t, mustNew(t, &c), webLabels)
			if res.OK != (tt.errWant == "") || !strings.Contains(res.Err, tt.errWant) {
				t.Fatalf("Result = %+v", res)
			}
		})
	}
}

// TestTokenFile: the token file is read at every run, so a rotated token
// is used; a missing or empty file is a failure before any request.
func TestTokenFile(t *testing.T) {
	srv := newAPIServer(t, false)
	srv.add("deployments", "shop", "web", 1)
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	write := func(tok string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := config(srv, "rollout_restart", "Deployment")
	c.Token, c.TokenFile = "", file
	write(testToken)
	a := mustNew(t, &c)
	if _, res := run(t, a, webLabels); !res.OK {
		t.Fatalf("first run: %+v", res)
	}
	// The kubelet rotates the projected token; the server now accepts only the new one.
	srv.mu.Lock()
	srv.tokens = map[string]bool{"tok-rotated-fedcba9876543210": true}
	srv.mu.Unlock()
	write("tok-rotated-fedcba9876543210")
	if _, res := run(t, a, webLabels); !res.OK {
		t.Fatalf("after rotation: %+v", res)
	}
	if calls := srv.received(); calls[1].Auth != "Bearer tok-rotated-fedcba9876543210" {
		t.Errorf("second run sent %q", calls[1].Auth)
	}

	tests := []struct {
		name, content, want string
	}{
		{"missing", "", "kubernetes: token: open " + filepath.Join(dir, "missing") + ": no such file or directory"},        // not there
		{"empty", "  \n", "kubernetes: token file " + filepath.Join(dir, "empty") + " is empty"},                           // whitespace only
		{"two lines", "a\nb\n", "kubernetes: token file " + filepath.Join(dir, "two lines") + " holds more than one line"}, // would inject a header
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(dir, tt.name)
			if tt.content != "" {
				if err := os.WriteFile(f, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c.TokenFile = f
			before := len(srv.received())
			_, res := run(t, mustNew(t, &c), webLabels)
			if res.OK || res.Err != tt.want {
				t.Fatalf("Result = %+v\nwant Err %q", res, tt.want)
			}
			if len(srv.received()) != before {
				t.Error("a request was sent without a token")
			}
		})
	}
}

// TestCancel: the action's timeout and the caller's ctx end a call that
// hangs.
func TestCancel(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select { // say so, without ever blocking on it
		case arrived <- struct{}{}:
		default:
		}
		select { // hang until the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	tests := []struct {
		name    string
		timeout time.Duration
		ctx     func() (context.Context, context.CancelFunc)
		want    string
	}{
		// A resolve cancels the call in flight.
		{"ctx cancelled", 0, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				<-arrived
				cancel()
			}()
			return ctx, cancel
		}, "get deployment shop/web scale: cancelled"},
		// The configured timeout ends it.
		{"action timeout", 50 * time.Millisecond, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, "get deployment shop/web scale: timed out (timeout 50ms)"},
		// So does the engine's deadline.
		{"ctx deadline", 0, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, "get deployment shop/web scale: timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rules.KubernetesConfig{APIServer: srv.URL, Token: testToken, Namespace: "shop", Kind: "Deployment", Name: "web",
				Operation: "scale", Replicas: intp(2), Timeout: rules.Duration(tt.timeout)}
			inv, err := mustNew(t, &c).Render(request(nil))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := tt.ctx()
			defer cancel()
			res := inv.Run(ctx)
			if res.OK || !res.Cancelled || res.Err != tt.want {
				t.Fatalf("Result = %+v\nwant Err %q", res, tt.want)
			}
			select { // drain the arrival of the cases that did not wait for it
			case <-arrived:
			default:
			}
		})
	}
}

// TestHostileValues: namespace and name values that could climb the path,
// reach a shell or a template, or are not Kubernetes names are refused
// before any request.
func TestHostileValues(t *testing.T) {
	srv := newAPIServer(t, false)
	srv.add("deployments", "shop", "web-1.v2", 1)
	tests := []struct {
		name    string
		field   string // namespace or deployment
		value   string
		pattern string // "" for the default
		refused bool
	}{
		{"shell, default pattern", "deployment", "; rm -rf /", "", true},          // refused by the pattern
		{"shell, any pattern", "deployment", "; rm -rf /", ".*", true},            // refused as a name
		{"command substitution", "deployment", "$(touch /tmp/pwned)", ".*", true}, // not a name
		{"climb in name", "deployment", "../../etc/passwd", ".*", true},           // no path
		{"climb in namespace", "namespace", "../..", ".*", true},                  // no path
		{"dot-dot", "deployment", "..", ".*", true},                               // not a name
		{"template", "deployment", "{{ .labels.x }}", ".*", true},                 // never re-parsed, and not a name
		{"1 MiB", "deployment", strings.Repeat("a", 1<<20), ".*", true},           // longer than 253
		{"64-byte namespace", "namespace", strings.Repeat("a", 64), ".*", true},   // longer than a label
		{"non-UTF-8", "deployment", "web\xff", ".*", true},                        // not a name
		{"quote and backslash", "deployment", `a"b\c`, ".*", true},                // not a name
		{"upper case", "deployment", "Web", ".*", true},                           // names are lower case
		{"dotted namespace", "namespace", "a.b", ".*", true},                      // a namespace is a label
		{"trailing dot", "deployment", "web.", ".*", true},                        // each label ends alphanumeric
		{"newline", "deployment", "web\n", "(?s).*", true},                        // no control bytes
		{"dotted name", "deployment", "web-1.v2", "", false},                      // a subdomain is a valid name
		{"leading dash", "deployment", "-web", ".*", true},                        // never an option, never a name
		{"slash in namespace", "namespace", "kube-system/secrets", ".*", true},    // no other resource
		{"another namespace", "namespace", "kube-system", "shop|default", true},   // the pattern is anchored as a whole
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config(srv, "rollout_restart", "Deployment")
			if tt.pattern != "" {
				c.Validate = map[string]string{tt.field: tt.pattern}
			}
			labels := map[string]string{"namespace": "shop", "deployment": "web-1.v2"}
			labels[tt.field] = tt.value
			before := len(srv.received())
			inv, err := mustNew(t, &c).Render(request(labels))
			if !tt.refused {
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				if res := inv.Run(context.Background()); !res.OK {
					t.Fatalf("Result = %+v", res)
				}
				return
			}
			if !errors.Is(err, template.ErrRefused) {
				t.Fatalf("Render = %v, want refused", err)
			}
			if len(err.Error()) > 300 || strings.Contains(err.Error(), "\n") {
				t.Errorf("refusal %.300q is too long or has a line break", err)
			}
			if len(srv.received()) != before {
				t.Error("a request was sent")
			}
		})
	}
}

// TestDescribe: one line saying what would be done.
func TestDescribe(t *testing.T) {
	tests := []struct {
		cfg  rules.KubernetesConfig
		want string
	}{
		{rules.KubernetesConfig{Kind: "Deployment", Operation: "scale", Replicas: intp(5), MaxReplicas: 10}, "kubernetes scale deployment shop/web to 5 (max 10)"}, // to N, bounded
		{rules.KubernetesConfig{Kind: "Deployment", Operation: "scale", Replicas: intp(5)}, "kubernetes scale deployment shop/web to 5"},                           // to N
		{rules.KubernetesConfig{Kind: "StatefulSet", Operation: "scale", ScaleBy: 2, MaxReplicas: 6}, "kubernetes scale statefulset shop/web by +2 (max 6)"},       // by +N
		{rules.KubernetesConfig{Kind: "StatefulSet", Operation: "rollout_restart"}, "kubernetes rollout_restart statefulset shop/web"},                             // a restart
	}
	for _, tt := range tests {
		tt.cfg.APIServer, tt.cfg.Token, tt.cfg.Namespace, tt.cfg.Name = "https://10.0.0.1", testToken, "{{ .labels.namespace }}", "{{ .labels.deployment }}"
		inv, err := mustNew(t, &tt.cfg).Render(request(webLabels))
		if err != nil {
			t.Fatal(err)
		}
		if got := inv.Describe(); got != tt.want {
			t.Errorf("Describe = %q, want %q", got, tt.want)
		}
	}
}

// TestNoSecretLeaks: the token never reaches Describe, Result.Err,
// Result.Output or an error, even when the server or a proxy echoes it.
func TestNoSecretLeaks(t *testing.T) {
	const secret = "tok-SECRET-k8s-0123456789"
	echoStatus := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status(w, http.StatusForbidden, "Forbidden", "token "+r.Header.Get("Authorization")+" is not allowed")
	}))
	t.Cleanup(echoStatus.Close)
	echoPage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		// The 200-byte quote of the page would cut the token in two.
		_, _ = fmt.Fprintf(w, "%s proxy saw header: %s", strings.Repeat(".", 160), r.Header.Get("Authorization"))
	}))
	t.Cleanup(echoPage.Close)
	ok := newAPIServer(t, false)
	ok.add("deployments", "shop", "web", 1)
	ok.tokens[secret] = true
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name   string
		server string
		good   bool
	}{
		{"success", ok.URL, true},                    // a normal run
		{"token in a Status", echoStatus.URL, false}, // the API echoes it in its message
		{"token in a page", echoPage.URL, false},     // a proxy echoes it, and the quote cuts it
		{"connection refused", closed.URL, false},    // a transport error
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rules.KubernetesConfig{APIServer: tt.server, Token: secret, Namespace: "shop", Kind: "Deployment", Name: "web", Operation: "scale", Replicas: intp(2)}
			a := mustNew(t, &c)
			inv, res := run(t, a, nil)
			if res.OK != tt.good {
				t.Fatalf("Result = %+v", res)
			}
			for what, text := range map[string]string{
				"Describe": inv.Describe(), "Err": res.Err, "Output": res.Output,
				"the action": fmt.Sprintf("%+v %#v", a, a), "the invocation": fmt.Sprintf("%+v %#v", inv, inv),
			} {
				if strings.Contains(text, secret[:10]) {
					t.Errorf("%s shows the token: %s", what, text)
				}
			}
		})
	}
	// Nor does a configuration error.
	_, err := New(&rules.KubernetesConfig{Token: secret, TokenFile: "/x", APIServer: "https://h", Kind: "Deployment", Operation: "rollout_restart", Namespace: "a", Name: "b"})
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("New: %v", err)
	}
}
