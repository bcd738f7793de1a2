#!/usr/bin/env bash
# The README's test command: build and start the native test peers (HAPI FHIR, FerretDB, Redis),
# then typecheck, lint and run every test against them. The peers stay up afterwards for reruns.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

peers/peers.sh install
peers/peers.sh start all

# The SMART app's browser test drives Debian's Chromium, because test tools cannot download a browser
# here. The listener's TLS tests create their certificates with the openssl command.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v openssl >/dev/null || missing+=(openssl)
if ((${#missing[@]} > 0)); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

npm run typecheck
npm run lint
npm run format:check
# The Go tests of the FerretDB peer, which cover its background checkpoints of the SQLite files.
(cd peers/ferretdb && go test ./...)
npm test
