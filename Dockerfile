# syntax=docker/dockerfile:1
# lbpilot: one static binary, three roles (exporter, rebalancer, agent),
# plus lbpilot-lab (the simulated WCS / SRS / EMQX of docker-compose.yml).
#
#   docker build -t lbpilot --build-arg REVISION=$(git rev-parse --short HEAD) --build-arg BRANCH=$(git branch --show-current) .
#   docker run --rm -p 9708:9708 lbpilot exporter --config.file=/etc/lbpilot/lbpilot.yml
#
# The build stage runs `make build`, the same command as a checkout does,
# so the image's binaries are built exactly like bin/lbpilot.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# No .git in the build context (.dockerignore): pass the revision and branch.
ARG REVISION=unknown
ARG BRANCH=unknown
RUN make build REVISION=${REVISION} BRANCH=${BRANCH} \
 && mkdir -p /out/var/lib/lbpilot

# distroless/static: CA certificates, /etc/passwd with nonroot (65532), no
# shell. The binaries are static (CGO_ENABLED=0).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/lbpilot /src/bin/lbpilot-lab /usr/local/bin/
# The rebalancer's state file lives here; a volume mounted on it starts
# owned by the image's user.
COPY --from=build --chown=65532:65532 /out/var/lib/lbpilot /var/lib/lbpilot
USER 65532:65532
# 9707 agent-check, 9708 exporter, 9709 rebalancer, 9710 agent HTTP
EXPOSE 9707 9708 9709 9710
ENTRYPOINT ["/usr/local/bin/lbpilot"]
CMD ["exporter"]
