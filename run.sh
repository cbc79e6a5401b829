#!/usr/bin/env bash
# One entry point for a fresh machine (Python 3.11). Every step is idempotent.
#   ./run.sh demo      set up, then stream the d01 demo call through the whole pipeline
#   ./run.sh test      set up (plus Debian's chromium and haproxy for the tests), then run the whole test suite
#   ./run.sh setup     only set up (virtualenv, dependencies, speech model)
#   ./run.sh bench     set up, then run the benchmarks (prints numbers; minutes)
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
VENV=.venv

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
  fi
  # Reinstall only when the dependency list changed (pip itself is idempotent, just slow).
  local stamp="$VENV/.ferryman-deps" want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e '.[dev,base-model]'
    echo "$want" > "$stamp"
  fi
  "$VENV/bin/ferryman" model install
}

# The browser tests drive Debian's Chromium through Playwright (Playwright's own browser
# downloads are not used); the floor tests put Debian's HAProxy in front of two nodes; the
# panels are Chinese, so a CJK font (Noto) where none is installed, or they render as boxes.
# Installed once, with apt, when missing.
apt_install() {
  [ $# -eq 0 ] && return
  echo "installing Debian's $* (apt-get)" >&2
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

missing_cjk_font() {
  command -v fc-list >/dev/null && [ -n "$(fc-list :lang=zh 2>/dev/null | head -1)" ] || echo fonts-noto-cjk
}

system_packages() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
  missing+=($(missing_cjk_font))
  apt_install "${missing[@]}"
}

# The demo's panels open in this machine's browser: a CJK font if none (best effort: a machine
# without apt or sudo still runs the demo, with a warning).
demo_fonts() {
  apt_install $(missing_cjk_font) || echo "warning: no CJK font installed; Chinese may show as boxes" >&2
}

case "${1:-}" in
  setup) setup ;;
  demo)  setup; demo_fonts; shift; exec "$VENV/bin/ferryman" demo "$@" ;;
  test)  setup; system_packages; shift; exec "$VENV/bin/python" -m pytest -q "$@" ;;
  bench) setup; shift; exec "$VENV/bin/python" benchmarks/asr_streaming.py "$@" ;;
  *) echo "usage: $0 demo|test|setup|bench [args...]" >&2; exit 2 ;;
esac
