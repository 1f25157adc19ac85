package check

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DemoExpand substitutes the variables as Grafana would on the demo's
// Prometheus (1 s scrapes): every template variable selects everything
// (".*" inside regex matchers), $__rate_interval is four scrapes,
// $__interval one, $__range the queried window.
func DemoExpand(expr string, window time.Duration) string {
	secs := int(window.Seconds()) + 1
	return expandVars(expr, varValues{
		rateInterval: "4s", interval: "1s",
		rng: strconv.Itoa(secs) + "s", rangeS: strconv.Itoa(secs), rangeMs: strconv.Itoa(secs * 1000),
	})
}

var quotedVar = regexp.MustCompile(`\$\{?[A-Za-z0-9_]+(?::[A-Za-z0-9_]+)?\}?`)

// varValues are what Grafana's built-in interval variables stand for.
type varValues struct {
	rateInterval, interval, rng string // $__rate_interval, $__interval, $__range
	rangeS, rangeMs             string // $__range_s, $__range_ms
}

// expandVars substitutes a query's variables: every template variable
// inside a quoted matcher becomes ".*" (Grafana's "All" of a regex
// variable), the built-in interval variables the given values.
func expandVars(expr string, vv varValues) string {
	var b strings.Builder
	inQuote := false
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		if c == '"' {
			inQuote = !inQuote
		}
		if c == '$' {
			if loc := quotedVar.FindStringIndex(expr[i:]); loc != nil && loc[0] == 0 {
				v := expr[i : i+loc[1]]
				switch {
				case inQuote:
					b.WriteString(".*")
				case strings.HasSuffix(strings.Trim(v, "${}"), "_ms"):
					b.WriteString(vv.rangeMs)
				case strings.HasSuffix(strings.Trim(v, "${}"), "_s"):
					b.WriteString(vv.rangeS)
				case strings.Contains(v, "__rate_interval"):
					b.WriteString(vv.rateInterval)
				case strings.Contains(v, "__range"):
					b.WriteString(vv.rng)
				case strings.Contains(v, "__interval"):
					b.WriteString(vv.interval)
				default:
					b.WriteString(strings.Trim(v, "${}"))
				}
				i += loc[1] - 1
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}
