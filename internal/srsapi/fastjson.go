package srsapi

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/lbpilot/lbpilot/internal/upstream"
)

// The client list is what makes an SRS scrape expensive: a node with
// 10,000 clients answers about 3 MB, and encoding/json reads it at well
// under 100 MB/s. The fast path below reads exactly the fields lbpilot
// uses from the clients answers SRS really sends: several times faster
// than encoding/json, and with a fraction of the allocations of
// github.com/goccy/go-json (it interns the strings that repeat and, when
// counting, builds no Client at all). BENCHMARKS.md has the measurements
// that keep it; the stream list, where the library is faster and as
// lean, goes through libDecode instead.
//
// It is deliberately strict: anything unusual (escapes it would have to
// interpret, duplicate keys, keys that differ only in case, a non-zero
// code, a wrong type, a number out of range) makes it give up, and the
// encoding/json path then decodes the body with its exact semantics and
// error messages. FuzzFastPathAgrees checks that whenever the fast path
// succeeds, encoding/json gives the identical result.

// maxDepth mirrors encoding/json's nesting limit.
const maxDepth = 10000

type scanner struct {
	b     []byte
	i     int
	depth int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) consume(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// stringToken returns the raw token of a string (quotes included) and
// whether it is "simple": printable ASCII without escapes.
func (s *scanner) stringToken() (tok []byte, simple, ok bool) {
	if s.peek() != '"' {
		return nil, false, false
	}
	start := s.i
	s.i++
	simple = true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start:s.i], simple, true
		case c == '\\':
			simple = false
			if s.i+1 >= len(s.b) {
				return nil, false, false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return nil, false, false
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !isHex(h) {
						return nil, false, false
					}
				}
				s.i += 6
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		default:
			if c >= 0x80 {
				simple = false
			}
			s.i++
		}
	}
	return nil, false, false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// str reads a string value; escapes and non-ASCII go through
// encoding/json so they are read exactly as it would.
func (s *scanner) str() (string, bool) {
	tok, simple, ok := s.stringToken()
	if !ok {
		return "", false
	}
	if simple {
		return string(tok[1 : len(tok)-1]), true
	}
	var out string
	if json.Unmarshal(tok, &out) != nil {
		return "", false
	}
	return out, true
}

// numberToken reads a number with JSON's grammar.
func (s *scanner) numberToken() ([]byte, bool) {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
		}
	default:
		return nil, false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.i >= len(s.b) || s.b[s.i] < '0' || s.b[s.i] > '9' {
			return nil, false
		}
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.i >= len(s.b) || s.b[s.i] < '0' || s.b[s.i] > '9' {
			return nil, false
		}
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
		}
	}
	return s.b[start:s.i], true
}

// num reads a number into a float64 (false when it is out of range, as
// encoding/json then fails too).
func (s *scanner) num() (float64, bool) {
	tok, ok := s.numberToken()
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(tok), 64)
	return v, err == nil
}

func (s *scanner) literal(word string) bool {
	s.ws()
	if bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		s.i += len(word)
		return true
	}
	return false
}

func (s *scanner) isNull() bool {
	if s.peek() == 'n' {
		return s.literal("null")
	}
	return false
}

func (s *scanner) boolean() (bool, bool) {
	switch s.peek() {
	case 't':
		return true, s.literal("true")
	case 'f':
		return false, s.literal("false")
	}
	return false, false
}

// skip reads and validates any value.
func (s *scanner) skip() bool {
	switch c := s.peek(); {
	case c == '"':
		_, _, ok := s.stringToken()
		return ok
	case c == '{':
		return s.object(func([]byte) bool { return s.skip() })
	case c == '[':
		return s.array(s.skip)
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		_, ok := s.numberToken()
		return ok
	}
}

// object reads {"key": value, ...}, calling field for each key with the
// scanner at its value; field must read the value.
func (s *scanner) object(field func(key []byte) bool) bool {
	if !s.consume('{') {
		return false
	}
	if s.depth++; s.depth > maxDepth {
		return false
	}
	defer func() { s.depth-- }()
	if s.consume('}') {
		return true
	}
	for {
		tok, simple, ok := s.stringToken()
		if !ok || !simple || !s.consume(':') {
			return false // a key with escapes or non-ASCII: leave it to encoding/json
		}
		if !field(tok[1 : len(tok)-1]) {
			return false
		}
		if s.consume(',') {
			continue
		}
		return s.consume('}')
	}
}

func (s *scanner) array(elem func() bool) bool {
	if !s.consume('[') {
		return false
	}
	if s.depth++; s.depth > maxDepth {
		return false
	}
	defer func() { s.depth-- }()
	if s.consume(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if s.consume(',') {
			continue
		}
		return s.consume(']')
	}
}

// fields tracks which keys of one object were seen: a repeated key or one
// that matches a field only without regard to case makes the fast path
// give up (encoding/json's rules for those are subtle).
type fields struct {
	names []string
	seen  uint64
}

// match returns the index of key among names, -1 for an unknown key, or
// false when the fast path must give up.
func (f *fields) match(key []byte) (int, bool) {
	for i, n := range f.names {
		if len(key) != len(n) {
			continue
		}
		if string(key) == n {
			if f.seen&(1<<i) != 0 {
				return 0, false
			}
			f.seen |= 1 << i
			return i, true
		}
		if bytes.EqualFold(key, []byte(n)) {
			return 0, false
		}
	}
	return -1, true
}

// interner shares the strings that repeat over a list (vhost and stream
// ids, types, addresses): one allocation per distinct value instead of
// one per client.
type interner map[string]string

func (in interner) get(b []byte) string {
	if s, ok := in[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	if len(in) < 4096 {
		in[s] = s
	}
	return s
}

func (s *scanner) id() (ID, bool) {
	switch s.peek() {
	case '"':
		v, ok := s.str()
		return ID(upstream.ValidUTF8(v)), ok
	case 'n':
		return "", s.literal("null")
	default:
		tok, ok := s.numberToken()
		if !ok {
			return "", false
		}
		if _, err := strconv.ParseFloat(string(tok), 64); err != nil {
			return "", false // out of range: ID's decoder refuses it
		}
		return ID(tok), true
	}
}

// strFieldIn is strField with simple values interned.
func (s *scanner) strFieldIn(dst *string, in interner) bool {
	if s.isNull() {
		return true
	}
	tok, simple, ok := s.stringToken()
	if !ok {
		return false
	}
	if simple {
		*dst = in.get(tok[1 : len(tok)-1])
		return true
	}
	var out string
	if json.Unmarshal(tok, &out) != nil {
		return false
	}
	*dst = out
	return true
}

// idFieldIn is idField with simple string ids interned.
func (s *scanner) idFieldIn(dst *ID, in interner) bool {
	if s.peek() == '"' {
		tok, simple, ok := s.stringToken()
		if !ok {
			return false
		}
		if simple {
			*dst = ID(in.get(tok[1 : len(tok)-1]))
			return true
		}
		var out string
		if json.Unmarshal(tok, &out) != nil {
			return false
		}
		*dst = ID(upstream.ValidUTF8(out))
		return true
	}
	return s.idField(dst)
}

func (s *scanner) strField(dst *string) bool {
	if s.isNull() {
		return true // null leaves a string as it was
	}
	v, ok := s.str()
	*dst = v
	return ok
}

func (s *scanner) numField(dst *float64) bool {
	if s.isNull() {
		return true
	}
	v, ok := s.num()
	*dst = v
	return ok
}

func (s *scanner) boolField(dst *bool) bool {
	if s.isNull() {
		return true
	}
	v, ok := s.boolean()
	*dst = v
	return ok
}

func (s *scanner) idField(dst *ID) bool {
	v, ok := s.id()
	*dst = v
	return ok
}

// fastList reads {"code":0,"server":...,<key>:[...]} with elem reading one
// item. ok is false when the answer must go through encoding/json.
func fastList(body []byte, key string, elem func(*scanner) bool) (env *Envelope, ok bool) {
	s := &scanner{b: body}
	e := &Envelope{}
	f := fields{names: []string{"code", "server", "service", "pid", "data", "vhosts", "streams", "clients"}}
	listSeen := false
	good := s.object(func(k []byte) bool {
		i, ok := f.match(k)
		if !ok {
			return false
		}
		switch i {
		case 0:
			if s.isNull() {
				return true
			}
			// code is an int for encoding/json: "0.0" would fail there.
			tok, ok := s.numberToken()
			if !ok {
				return false
			}
			code, err := strconv.ParseInt(string(tok), 10, 64)
			return err == nil && code == 0 // errors take the encoding/json path
		case 1:
			return s.idField(&e.Server)
		case 2:
			return s.strField(&e.Service)
		case 3:
			return s.idField(&e.PID)
		case -1:
			return s.skip()
		}
		if f.names[i] != key {
			return false // another payload key: encoding/json would decode (and check) it
		}
		if s.isNull() {
			return false
		}
		listSeen = true
		return s.array(func() bool { return elem(s) })
	})
	if !good || !listSeen {
		return nil, false
	}
	s.ws()
	if s.i != len(s.b) {
		return nil, false
	}
	e.Service = upstream.ValidUTF8(e.Service)
	return e, true
}

var clientFields = []string{"id", "vhost", "stream", "ip", "url", "type", "publish", "alive"}

// fastClients reads a clients answer.
func fastClients(body []byte) (*Envelope, []Client, bool) {
	// About 300 bytes per client: size the list once.
	list := make([]Client, 0, len(body)/300+1)
	in := interner{}
	env, ok := fastList(body, "clients", func(s *scanner) bool {
		var c Client
		f := fields{names: clientFields}
		if !s.object(func(k []byte) bool {
			i, ok := f.match(k)
			if !ok {
				return false
			}
			switch i {
			case 0:
				return s.idField(&c.ID)
			case 1:
				return s.idFieldIn(&c.Vhost, in)
			case 2:
				return s.idFieldIn(&c.Stream, in)
			case 3:
				return s.strFieldIn(&c.IP, in)
			case 4:
				return s.strFieldIn(&c.URL, in)
			case 5:
				return s.strFieldIn(&c.Type, in)
			case 6:
				return s.boolField(&c.Publish)
			case 7:
				return s.numField(&c.Alive)
			}
			return s.skip()
		}) {
			return false
		}
		c.Type = upstream.ValidUTF8(c.Type)
		list = append(list, c)
		return true
	})
	if !ok {
		return nil, nil, false
	}
	return env, list, true
}

// rawID reads an id value without allocating for the usual forms: the
// bytes of a plain string or of a number (nil for null). Escaped strings
// are decoded as ID's decoder would.
func (s *scanner) rawID() ([]byte, bool) {
	switch s.peek() {
	case '"':
		tok, simple, ok := s.stringToken()
		if !ok {
			return nil, false
		}
		if simple {
			return tok[1 : len(tok)-1], true
		}
		var out string
		if json.Unmarshal(tok, &out) != nil {
			return nil, false
		}
		return []byte(upstream.ValidUTF8(out)), true
	case 'n':
		return nil, s.literal("null")
	default:
		tok, ok := s.numberToken()
		if !ok {
			return nil, false
		}
		if _, err := strconv.ParseFloat(string(tok), 64); err != nil {
			return nil, false
		}
		return tok, true
	}
}

// countClientsFast counts one clients page straight into counts, without
// building a Client per entry: the cost of a 10,000-client node is in
// this loop. It honours the page state like filter does. ok is false
// (and counts untouched) when the page must take the encoding/json path.
func countClientsFast(body []byte, p *pageState, counts map[ClientKey]int, alive map[ID]float64, in interner) (int, bool) {
	type entry struct {
		key   ClientKey
		id    []byte
		alive float64
	}
	page := make([]entry, 0, len(body)/300+1)
	_, ok := fastList(body, "clients", func(s *scanner) bool {
		var e entry
		f := fields{names: clientFields}
		var vhost, typ, stream string
		if !s.object(func(k []byte) bool {
			i, ok := f.match(k)
			if !ok {
				return false
			}
			switch i {
			case 0:
				id, ok := s.rawID()
				e.id = id
				return ok
			case 1:
				if s.peek() == '"' {
					return s.strFieldIn(&vhost, in) // ids are validUTF8'd below
				}
				id, ok := s.rawID()
				vhost = in.get(id)
				return ok
			case 2:
				if s.peek() == '"' {
					return s.strFieldIn(&stream, in)
				}
				id, ok := s.rawID()
				stream = in.get(id)
				return ok
			case 3, 4:
				var x string
				return s.strField(&x)
			case 5:
				return s.strFieldIn(&typ, in)
			case 6:
				return s.boolField(&e.key.Publish)
			case 7:
				return s.numField(&e.alive)
			}
			return s.skip()
		}) {
			return false
		}
		e.key.Vhost, e.key.Type, e.key.Stream = ID(upstream.ValidUTF8(vhost)), upstream.ValidUTF8(typ), ID(upstream.ValidUTF8(stream))
		page = append(page, e)
		return true
	})
	if !ok {
		return 0, false
	}
	n := len(page)
	list := filter(p, n, func(i int) ID { return ID(page[i].id) }, page)
	for i := range list {
		counts[list[i].key]++
		if alive != nil {
			alive[ID(upstream.ValidUTF8(string(list[i].id)))] = list[i].alive
		}
	}
	return n, true
}
