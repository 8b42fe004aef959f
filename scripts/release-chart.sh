#!/usr/bin/env bash
# Package the Helm chart for a release, with the released image as its default:
#
#   scripts/release-chart.sh --image ghcr.io/owner/scheduler-api --version 1.2.0 [--out dist] \
#       [--runbook-url https://github.com/owner/repo/blob/v1.2.0/docs/observability.md]
#
# The chart in the repository defaults to `image.repository: scheduler-api`, an image people
# build themselves. A published chart must point at the image published with it, so this
# packages a copy whose values.yaml names --image, with version and appVersion both --version
# (the image tag defaults to appVersion). Run by the release workflow, so a fork publishes a
# chart that points at the fork's own image; the repository's files are never changed.
# --runbook-url likewise becomes metrics.prometheusRule.runbookBaseUrl, so the alerts of a
# published chart link to the runbooks of the version released, in the repository it came from.
# The packaged chart is rendered once to prove the default took; its path is the last line.
# HELM names the helm binary (default: helm on PATH).
set -euo pipefail

usage() {
    echo "usage: $0 --image REPOSITORY --version X.Y.Z [--chart DIR] [--out DIR] [--runbook-url URL]" >&2
    exit 2
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HELM=${HELM:-helm}
chart="$ROOT/charts/scheduler-api"
out="$ROOT/dist"
image=""
version=""
runbooks=""
while [ $# -gt 0 ]; do
    case "$1" in
        --image) image=${2:-}; shift 2 ;;
        --version) version=${2:-}; shift 2 ;;
        --chart) chart=${2:-}; shift 2 ;;
        --out) out=${2:-}; shift 2 ;;
        --runbook-url) runbooks=${2:-}; shift 2 ;;
        *) usage ;;
    esac
done
[ -n "$image" ] && [ -n "$version" ] || usage

# OCI references are lowercase; GitHub owners need not be, so the caller lowercases them.
if ! [[ "$image" =~ ^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)+$ ]]; then
    echo "release-chart: --image must be a lowercase repository without a tag, got '$image'" >&2
    exit 2
fi
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
    echo "release-chart: --version must be semantic (1.2.3 or 1.2.3-rc.1), got '$version'" >&2
    exit 2
fi

if [ -n "$runbooks" ] && ! [[ "$runbooks" =~ ^https?://[^#[:space:]\"]+$ ]]; then
    echo "release-chart: --runbook-url must be an http(s) URL of the page, without #, got '$runbooks'" >&2
    exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
name=$(basename "$chart")
cp -R "$chart" "$work/$name"

# Replace the value of `repository:` inside the top-level `image:` block, and nothing else
# (redis.image has one too), keeping every comment. Exit 3 when there is no such line.
awk -v repo="$image" '
    /^[^[:space:]#]/ { in_image = ($0 ~ /^image:/) }
    in_image && !done && /^  repository:/ { print "  repository: " repo; done = 1; next }
    { print }
    END { if (!done) exit 3 }
' "$chart/values.yaml" >"$work/$name/values.yaml" || {
    echo "release-chart: no image.repository in $chart/values.yaml" >&2
    exit 1
}

if [ -n "$runbooks" ]; then
    # The one runbookBaseUrl line (metrics.prometheusRule); exit 3 when there is none.
    awk -v url="$runbooks" '
        /^    runbookBaseUrl:/ { print "    runbookBaseUrl: \"" url "\""; done = 1; next }
        { print }
        END { if (!done) exit 3 }
    ' "$work/$name/values.yaml" >"$work/values.yaml" || {
        echo "release-chart: no metrics.prometheusRule.runbookBaseUrl in $chart/values.yaml" >&2
        exit 1
    }
    mv "$work/values.yaml" "$work/$name/values.yaml"
fi

mkdir -p "$out"
"$HELM" package "$work/$name" --version "$version" --app-version "$version" \
    --destination "$out" >/dev/null
package="$out/$name-$version.tgz"

expected="image: \"$image:$version\""
if ! "$HELM" template release "$package" | grep -qF "$expected"; then
    echo "release-chart: the packaged chart does not default to $image:$version" >&2
    exit 1
fi
if [ -n "$runbooks" ] && ! "$HELM" template release "$package" --set metrics.prometheusRule.enabled=true |
    grep -qF "runbook_url: $runbooks#"; then
    echo "release-chart: the packaged chart's alerts do not link to $runbooks" >&2
    exit 1
fi
echo "$package"
