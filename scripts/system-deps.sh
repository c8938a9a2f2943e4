#!/usr/bin/env bash
# Debian packages the project needs. Installs them when run as root; otherwise names what is
# missing and fails.
set -euo pipefail
# chromium: browser-rendered platforms (scrapy-playwright) and the desk's browser tests; wrk: the
# load tool of the desk benchmark (python -m benchmarks.desk_queue); fonts-wqy-microhei: Chinese
# glyphs in the desk's screenshots (Debian's Chromium brings no CJK font); redis-server: the Celery
# broker of `radar airflow --executor celery`
packages=(postgresql redis-server chromium wrk fonts-wqy-microhei)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${missing[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
else
  echo "missing Debian packages (install as root): sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
