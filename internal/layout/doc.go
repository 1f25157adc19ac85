// Package layout holds no code: its tests keep the repository's package
// structure the way docs/development.md describes it (the agent never
// reaches into a collector, no import of ours needs a second name, no
// program hides under internal/, every package says its one job).
package layout
