#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh into an EMPTY database.
#   scripts/restore.sh DUMP_FILE DATABASE_URL
set -euo pipefail
dump=${1:?dump file}; url=${2:?database URL}
pg_restore --no-owner --exit-on-error --dbname "$url" "$dump"
echo "restored $dump"
