// Package yamlconf holds the one way lbpilot reads its YAML files (the
// exporter's, the rebalancer's and the agent's): exactly one document,
// decoded strictly so an unknown key is an error naming the key and line.
package yamlconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// DecodeStrict decodes b into v. Unknown keys fail ("line 4: field tiemout
// not found in type …"); an empty input leaves v as it is; a second
// document fails.
func DecodeStrict(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	var extra any
	if err := dec.Decode(&extra); err == nil {
		return errors.New("more than one YAML document; want exactly one")
	}
	return nil
}

// LoadFile reads path and hands its bytes to parse, naming the file in
// any error.
func LoadFile[T any](path string, parse func([]byte) (T, error)) (T, error) {
	var zero T
	b, err := os.ReadFile(path)
	if err != nil {
		return zero, fmt.Errorf("reading config: %w", err)
	}
	v, err := parse(b)
	if err != nil {
		return zero, fmt.Errorf("config file %s: %w", path, err)
	}
	return v, nil
}
