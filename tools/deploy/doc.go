// Package deploy checks lbpilot's deployment files without running them:
// docker-compose.yml (loaded with compose-go, the loader of docker compose
// itself, and with Debian's docker-compose when installed), the
// Dockerfile, and the systemd units of examples/systemd (with
// systemd-analyze verify). It is a module of its own so that compose-go's
// dependencies never enter lbpilot's go.mod; `make test` runs it
// (`make deploy`).
package deploy
