// Package quality measures how well a balancing setup controls real
// traffic: it plays a seeded traffic plan (internal/traffic, with the
// lab's protocol clients) through a running demo stack, samples the WCS
// backend twice a second (each node's live sessions and effective
// capacity from the lab, each server's state and weight from HAProxy,
// the drain alerts from Alertmanager), and turns the samples and the
// sessions' fates into the measures an operator asks about: node-seconds
// over capacity, peak load, seconds with no usable server, sessions
// refused and cut (by cause), state changes per node, drains per
// overload episode, time to relief, and the spread of load at the end of
// each phase.
//
// tools/bench/control runs it for four setups (arms) side by side; e2e
// runs the product's arm on a short plan and asserts the targets that do
// not depend on timing.
package quality
