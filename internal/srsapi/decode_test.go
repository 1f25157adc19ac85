package srsapi

import (
	"errors"
	"strings"
	"testing"
)

func TestIDForms(t *testing.T) {
	cases := []struct {
		body string
		want ID
		err  bool
	}{
		{`{"code":0,"streams":[{"id":"vid-96e66j5","vhost":"vid-4pl833w"}]}`, "vid-96e66j5", false},
		{`{"code":0,"streams":[{"id":355162,"vhost":355159}]}`, "355162", false},
		{`{"code":0,"streams":[{"id":null}]}`, "", false},
		{`{"code":0,"streams":[{"id":true}]}`, "", true},
		{`{"code":0,"streams":[{"id":{}}]}`, "", true},
	}
	for _, tc := range cases {
		_, s, err := DecodeStreams([]byte(tc.body))
		if tc.err {
			if err == nil {
				t.Errorf("%s: accepted", tc.body)
			}
			continue
		}
		if err != nil || len(s) != 1 || s[0].ID != tc.want {
			t.Errorf("%s: %v %v, want id %q", tc.body, s, err, tc.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name string
		f    func([]byte) error
		body string
		want string
	}{
		{"code only", decStreams, `{"code":2048}`, "SRS error code 2048 (stream not found)"},
		{"unknown code", decStreams, `{"code":1234}`, "SRS error code 1234"},
		{"code with a payload", decSummaries, `{"code":1,"data":{}}`, "SRS error code 1"},
		{"code as a string", decSummaries, `{"code":"0","data":{}}`, "code is a JSON string, want a number"},
		{"null payload", decSummaries, `{"code":0,"data":null}`, `answer has no "data"`},
		{"missing list", decVhosts, `{"code":0,"server":"x"}`, `answer has no "vhosts" (it has code, server)`},
		{"list of the wrong type", decClients, `{"code":0,"clients":{}}`, "holds a JSON object"},
		{"field of the wrong type", decClients, `{"code":0,"clients":[{"publish":"yes"}]}`, `"clients.publish" holds a JSON string, want a bool`},
		{"not JSON", decVersions, `<html>`, "invalid JSON"},
		{"empty", decVersions, ``, "invalid JSON"},
		{"truncated", decSummaries, `{"code":0,"data":{"self":`, "invalid JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	var ae *APIError
	if !errors.As(decStreams([]byte(`{"code":2048}`)), &ae) || ae.Code != 2048 {
		t.Error("code errors are not *APIError")
	}
}

func decStreams(b []byte) error   { _, _, err := DecodeStreams(b); return err }
func decClients(b []byte) error   { _, _, err := DecodeClients(b); return err }
func decVhosts(b []byte) error    { _, _, err := DecodeVhosts(b); return err }
func decSummaries(b []byte) error { _, _, err := DecodeSummaries(b); return err }
func decVersions(b []byte) error  { _, _, err := DecodeVersions(b); return err }
