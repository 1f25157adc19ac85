package wcsapi

import "testing"

func BenchmarkParseText(b *testing.B) {
	body := mustRead(b, "stat_loaded.txt")
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ParseText(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseJSON(b *testing.B) {
	body := mustRead(b, "stat_loaded.json")
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ParseJSON(body); err != nil {
			b.Fatal(err)
		}
	}
}
