#!/bin/sh
# Browser tests drive Debian's chromium (never a browser that a test tool downloads).
# Installs it with apt when we may (root); otherwise the browser tests say why they skip.
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installerer Debians chromium for nettlesertestene …"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core) >/dev/null 2>&1 \
    || echo "Kunne ikke installere chromium; nettlesertestene hoppes over."
else
  echo "Mangler /usr/bin/chromium (apt-get install chromium); nettlesertestene hoppes over."
fi
exit 0
