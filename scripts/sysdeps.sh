#!/usr/bin/env bash
# Install the Debian/Ubuntu packages Hyoka needs, or say in one line how to.
#   scripts/sysdeps.sh run   -> WeasyPrint (Pango, HarfBuzz subset), Japanese fonts, Graphviz
#   scripts/sysdeps.sh test  -> the above plus Chromium, poppler-utils (pdftotext), LibreOffice Writer
#                            (the .docx exports are read back with `soffice --headless --convert-to txt`)
#                            and OpenLDAP (slapd, ldap-utils: the directory login tests start a slapd),
#                            and npm when it is missing (the browser tests run axe-core from npm)
set -euo pipefail
want=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fonts-ipaexfont-gothic fonts-ipaexfont-mincho graphviz)
if [ "${1:-run}" = "test" ]; then
  want+=(chromium poppler-utils libreoffice-writer-nogui slapd ldap-utils)
  # npm may come with another vendor's nodejs package (NodeSource ships it inside nodejs)
  command -v npm >/dev/null 2>&1 || want+=(npm)
fi
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Hyoka needs these packages (Debian/Ubuntu names): ${missing[*]} — install them with your package manager." >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing system packages; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
