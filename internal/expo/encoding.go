package expo

import (
	"net/http"
	"strconv"
	"strings"
)

// AcceptsGzip reports whether a response to a request with header h
// should be gzipped, following the Accept-Encoding rules of RFC 9110
// section 12.5.3:
//
//   - coding names and the "q" parameter are case-insensitive, and
//     whitespace around commas, semicolons and "=" is ignored;
//   - a coding's weight is its own q-value, else that of "*", else it is
//     not acceptable; "x-gzip" counts as "gzip";
//   - q=0 means "not acceptable"; an element whose q-value is not one
//     the grammar allows ("0" to "1" with at most three decimals) is
//     ignored;
//   - identity is acceptable unless "identity;q=0" (or "*;q=0" without an
//     identity element) says otherwise.
//
// gzip is chosen when it is acceptable and the client does not weigh
// identity strictly higher ("identity;q=1, gzip;q=0.5" asks for the body
// unencoded). No Accept-Encoding header at all means no gzip, as clients
// that want it say so. Several Accept-Encoding header lines are read as
// one list.
func AcceptsGzip(h http.Header) bool {
	vals := h.Values("Accept-Encoding")
	if len(vals) == 0 {
		return false
	}
	gzipQ, identityQ, starQ := -1.0, -1.0, -1.0 // -1: not listed
	for _, v := range vals {
		for elem := range strings.SplitSeq(v, ",") {
			coding, q, ok := parseCoding(elem)
			if !ok {
				continue
			}
			switch coding {
			case "gzip", "x-gzip":
				gzipQ = max(gzipQ, q)
			case "identity":
				identityQ = max(identityQ, q)
			case "*":
				starQ = max(starQ, q)
			}
		}
	}
	if gzipQ < 0 {
		gzipQ = starQ
	}
	if identityQ < 0 {
		identityQ = starQ
	}
	return gzipQ > 0 && gzipQ >= identityQ
}

// parseCoding splits one Accept-Encoding element, `coding *( OWS ";" OWS
// param )`, into its lower-cased coding and q-value (1 when absent).
func parseCoding(elem string) (coding string, q float64, ok bool) {
	name, params, _ := strings.Cut(elem, ";")
	coding = strings.ToLower(strings.TrimSpace(name))
	if coding == "" {
		return "", 0, false
	}
	q = 1
	for p := range strings.SplitSeq(params, ";") {
		k, v, found := strings.Cut(p, "=")
		if !found || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		if q, ok = parseQValue(strings.TrimSpace(v)); !ok {
			return "", 0, false
		}
	}
	return coding, q, true
}

// parseQValue parses `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "."
// 0*3("0") ] )`.
func parseQValue(s string) (float64, bool) {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	if len(s) > 1 && (s[1] != '.' || len(s) > 5) {
		return 0, false
	}
	for _, c := range s[min(len(s), 2):] {
		if c < '0' || c > '9' || (s[0] == '1' && c != '0') {
			return 0, false
		}
	}
	q, err := strconv.ParseFloat(s, 64)
	return q, err == nil
}
