#!/bin/sh
# HAProxy at scale: lbpilot vs promex vs haproxy_exporter (issue: foundation).
set -eu
out=$1; bin=$2
go run ./tools/benchhaproxy -servers 10000 -scrapes 11 -lbpilot "$bin" -out "$out/10-haproxy.md"
