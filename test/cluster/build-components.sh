#!/usr/bin/env bash
# Builds the test cluster's components (etcd, kube-apiserver, kube-controller-manager) from the
# pinned Go module in components/ into ~/.cache/meshc/cluster/<kubernetes version>/, once per
# version and go.sum. Prints the directory on its last line. --check only says whether they are
# built (exit 3 when not), without building.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/components" && pwd)"
cd "$here"
version="$(awk '$1 == "k8s.io/kubernetes" { print $2 }' go.mod)"
out="${MESHC_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshc/cluster}/$version"
stamp="$(sha256sum go.sum | cut -c1-16)"
binaries=(etcd kube-apiserver kube-controller-manager)

ready=1
for b in "${binaries[@]}"; do [[ -x "$out/$b" ]] || ready=0; done
[[ -f "$out/go.sum.stamp" && "$(cat "$out/go.sum.stamp")" == "$stamp" ]] || ready=0
if (( ready )); then echo "cluster components $version: cached in $out" >&2; echo "$out"; exit 0; fi
if [[ "${1:-}" == "--check" ]]; then echo "cluster components $version: not built yet ($0 builds them)" >&2; exit 3; fi

if ! command -v go >/dev/null; then
  # Without Go the cluster tests skip (and fail under MESHC_REQUIRE_KERNEL=1, as CI runs them).
  echo "build-components: go is not on PATH: the test cluster's components are not built (Go $(awk '$1 == "go" { print $2 }' go.mod) or newer builds them)" >&2
  [[ "${MESHC_REQUIRE_KERNEL:-}" == 1 ]] && exit 1
  exit 0
fi
mkdir -p "$out"
rm -f "$out/go.sum.stamp"
minor="${version#v1.}"; minor="${minor%%.*}"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
start=$SECONDS
echo "cluster components $version: downloading modules" >&2
nice -n 15 go mod download
for i in "${!binaries[@]}"; do
  b="${binaries[$i]}"
  total="$(go list -deps "./$b" | wc -l)"
  echo "cluster components $version: building $b ($((i + 1))/${#binaries[@]}, $total packages)" >&2
  # go build -v names each package it compiles: a line every 100 of them shows progress.
  CGO_ENABLED=0 nice -n 15 go build -v -trimpath -ldflags "$ldflags" -o "$out/$b.partial" "./$b" 2>&1 |
    awk -v total="$total" -v b="$b" '
      /^[a-zA-Z0-9._~\/-]+$/ { n++; if (n % 100 == 0) { printf "  %s: %d/%d packages compiled\n", b, n, total > "/dev/stderr"; fflush("/dev/stderr") } next }
      { print > "/dev/stderr"; fflush("/dev/stderr") }' ||
    { echo "build-components: building $b failed" >&2; exit 1; }
  mv "$out/$b.partial" "$out/$b"
  echo "  $b built, $((SECONDS - start)) s so far" >&2
done
echo "$stamp" > "$out/go.sum.stamp"
echo "cluster components $version: built in $((SECONDS - start)) s into $out" >&2
echo "$out"
