// Package demo runs lbpilot's whole loop on loopback as real processes:
// it renders the configuration from templates/ and the shipped alerts/,
// has every program that will load a file check it first, starts
// lbpilot-lab, haproxy, one lbpilot agent per WCS node, the exporter, the
// rebalancer, Alertmanager and Prometheus (Start), and plays the overload
// scenario on real sessions step by step with a deadline on each
// (Stack.Scenario): a flash crowd of WebSocket players through HAProxy
// overloads wcs1, new players go elsewhere once it is drained, and its
// load falls as its own players leave (crowd.go drives the clients).
// cmd/lbpilot-demo narrates it for `make demo`; e2e drives the same stack
// in its tests and adds fault drills.
package demo
