#!/bin/sh
# Browser tests drive Debian's chromium (never a browser that a test tool downloads).
# Installs it with apt when we may (root); otherwise the browser tests say why they skip.
# Also HarfBuzz's subsetter, which WeasyPrint uses for the fonts it embeds: without it WeasyPrint
# falls back to fontTools, which stamps each embedded font with the time, so a locked month's PDF
# would not stay the same bytes (the Dockerfile installs it for production).
[ -x /usr/bin/chromium ] && ldconfig -p 2>/dev/null | grep -q libharfbuzz-subset && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installerer Debians chromium for nettlesertestene …"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core libharfbuzz-subset0) >/dev/null 2>&1 \
    || echo "Kunne ikke installere chromium; nettlesertestene hoppes over."
else
  echo "Mangler /usr/bin/chromium (apt-get install chromium); nettlesertestene hoppes over."
fi
exit 0
