// Package demo runs lbpilot's whole loop on loopback as real processes:
// it renders the configuration from templates/ and the shipped alerts/,
// has every program that will load a file check it first, starts
// lbpilot-lab, haproxy, one lbpilot agent per WCS node, the exporter, the
// rebalancer, Alertmanager and Prometheus (Start), and plays the overload
// scenario step by step with a deadline on each (Stack.Scenario).
// cmd/lbpilot-demo narrates it for `make demo`; e2e drives the same stack
// in its tests and adds fault drills.
package demo
