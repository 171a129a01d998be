package remediator_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// layers orders the tree from the domain up: a package imports only
// packages of lower layers, and within the adapters' layer only its own
// folder's (an action never imports a notifier or the store). Test files
// may import anything.
var layers = []struct {
	layer    int
	prefixes []string
}{
	{0, []string{"engine"}},
	{1, []string{"template"}},
	{2, []string{"rules"}},
	{3, []string{"oncall"}},
	{4, []string{"actions", "notifiers", "store"}},
	{5, []string{"report"}},
	{6, []string{"api"}},
	{7, []string{"web"}},
	{8, []string{"app"}},
	{9, []string{"cmd"}},
}

const module = "github.com/remediator/remediator/"

// place returns the layer of a package of the module and its top folder.
func place(pkg string) (layer int, top string, ok bool) {
	rel := strings.TrimPrefix(pkg, module)
	top, _, _ = strings.Cut(rel, "/")
	for _, l := range layers {
		for _, p := range l.prefixes {
			if top == p {
				return l.layer, top, true
			}
		}
	}
	return 0, top, false
}

func TestImportDirections(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0]+"/" == module {
			continue
		}
		from, fromTop, ok := place(f[0])
		if !ok {
			t.Errorf("%s is in no layer: add its folder to layers", f[0])
			continue
		}
		for _, imp := range f[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			checked++
			to, toTop, ok := place(imp)
			switch {
			case !ok:
				t.Errorf("%s imports %s, which is in no layer", f[0], imp)
			case to > from:
				t.Errorf("%s (layer %d) imports %s (layer %d): upward", f[0], from, imp, to)
			case to == from && toTop != fromTop:
				t.Errorf("%s imports %s: adapters of another folder", f[0], imp)
			}
		}
	}
	if checked < 50 {
		t.Fatalf("only %d imports checked: go list gave\n%s", checked, out)
	}
}

// TestImportDirectionsSeesAnUpwardImport checks the rule itself.
func TestImportDirectionsSeesAnUpwardImport(t *testing.T) {
	rules, _, _ := place(module + "rules")
	actions, _, _ := place(module + "actions/template")
	if actions <= rules {
		t.Fatalf("actions (%d) is not above rules (%d): the import rules made before it moved would pass", actions, rules)
	}
}
