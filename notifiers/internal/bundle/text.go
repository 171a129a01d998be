package bundle

import (
	"strconv"
	"strings"

	"github.com/remediator/remediator/notifiers/message"
)

// Part is one notification of a bundle as its channel rendered it.
type Part struct {
	Title string
	Body  string
	URL   string // the incident's page
}

// Join writes parts as one markdown text of at most max bytes. One part
// is its body alone (its title goes in the message's title). Several are
// separated by sep, each its body under its title as a "####" heading,
// unless the body opens with a heading of its own (the default markdown
// templates' bodies do). A text longer than max is cut with
// message.Truncate and ends with suffix(url), url being the page of the
// first part that does not fit whole.
func Join(parts []Part, sep string, max int, suffix func(url string) string) string {
	if len(parts) == 0 {
		return ""
	}
	var b strings.Builder
	ends := make([]int, len(parts)) // where each part ends in b
	for i, p := range parts {
		if i > 0 {
			b.WriteString(sep)
		}
		if len(parts) > 1 && !strings.HasPrefix(p.Body, "#") {
			b.WriteString("#### " + p.Title + "\n")
		}
		b.WriteString(p.Body)
		ends[i] = b.Len()
	}
	text := b.String()
	if len(text) <= max {
		return text
	}
	cut := len(parts) - 1
	for i, p := range parts {
		if ends[i] > max-len(suffix(p.URL)) {
			cut = i
			break
		}
	}
	return message.Truncate(text, max, suffix(parts[cut].URL))
}

// Title is the title of a message carrying parts: the first part's, and
// how many more follow.
func Title(parts []Part) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0].Title
	}
	return parts[0].Title + " (+" + strconv.Itoa(len(parts)-1) + " more)"
}
